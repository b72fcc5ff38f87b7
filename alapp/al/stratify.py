"""The random share drawn stratified by a metadata column (seed 003: "good old random, though
it may be stratified ... remember your initial pool may already not be random").

Allocation is *proportional*: each value of the column gets the share of the random items that
it has of the candidates. The random share is there to check the sampler and to keep some
honest data if the sampler fails, so it must stay a picture of the pool; equal allocation
would over-sample rare values (a hospital with 2% of the scans would get a fifth of the random
items with five hospitals) and bias the random-baseline accuracy. What stratifying adds is
that no value is left out or over-drawn by chance.

Batches are small (two random items in a batch of 20), so "proportional" is made exact in
expectation by systematic sampling: the strata are laid end to end, each as long as ``n`` times
its share, and ``n`` points one apart from a random start fall into them. Every stratum gets
the floor or the ceiling of its expected count, and exactly its expected count on average over
rounds (rounding to the largest remainders instead would never give the smallest strata an
item). Within a stratum the items are drawn at random.
"""

from __future__ import annotations

import numpy as np

from alapp.al.state import Ints


def allocate(sizes: Ints, n: int, rng: np.random.Generator) -> Ints:
    """How many of ``n`` items each stratum of ``sizes`` gives: proportional, by systematic
    sampling (floor or ceiling of ``n * size / total``; that on average)."""
    sizes = np.asarray(sizes, dtype=float)
    total = sizes.sum()
    n = int(min(n, total))
    if n <= 0:
        return np.zeros(len(sizes), dtype=int)
    edges = np.concatenate([[0.0], np.cumsum(sizes * n / total)])
    edges[-1] = n  # no float dust past the end
    points = rng.random() + np.arange(n)
    counts: Ints = np.minimum(np.histogram(points, bins=edges)[0], sizes).astype(int)
    return counts


def stratified_choice(rows: Ints, strata: Ints, n: int, rng: np.random.Generator) -> Ints:
    """``n`` of ``rows`` at random, allocated proportionally over their ``strata`` codes
    (``strata[i]`` belongs to ``rows[i]``)."""
    rows = np.asarray(rows)
    strata = np.asarray(strata)
    values, codes = np.unique(strata, return_inverse=True)
    counts = allocate(np.bincount(codes, minlength=len(values)), n, rng)
    chosen = [rng.choice(rows[codes == c], size=k, replace=False)
              for c, k in enumerate(counts) if k]
    return np.concatenate(chosen).astype(rows.dtype) if chosen else rows[:0]


def random_rows(rest: Ints, n: int, rng: np.random.Generator,
                strata: Ints | None = None) -> Ints:
    """The batch's random share from candidate rows ``rest``: plain random (the same draw as
    always) without strata, proportional over the strata of ``rest`` with them (``strata``
    indexed by candidate row)."""
    if strata is None:
        return rng.choice(rest, size=min(n, len(rest)), replace=False)
    rest = np.asarray(rest)
    return stratified_choice(rest, np.asarray(strata)[rest], min(n, len(rest)), rng)


def codes(values: list[str | None]) -> Ints:
    """Stratum codes for metadata values; a missing value is a stratum of its own."""
    names = ["\0missing" if v is None else str(v) for v in values]
    return np.unique(np.array(names, dtype=object), return_inverse=True)[1].astype(np.int64) \
        if names else np.zeros(0, dtype=np.int64)
