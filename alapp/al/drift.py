"""Refreshed validation samples and a drift signal (seed 003: "validation sets must be
refreshed, several of them ... (c) sampled at random from the unlabeled data").

Every ``drift_every`` labels a fresh random sample of unlabeled pool items is drawn (seeded by
the project seed and the number of labels, so it is the same after a restart). Nobody labels
it and nothing trains on it: it is only predicted. The current model's predictions on it are
compared with

- the previous sample (both predicted by the same, current model, so a difference is in the
  data, not in the model);
- the original pool: the unlabeled items of the first import;
- and, once a later import exists, the newest import against the earlier pool.

Each comparison measures the predicted-class distribution (total-variation distance, TVD) and
the confidence (largest probability: its mean, and the population stability index PSI over ten
bins). A difference counts as drift when it is larger than sampling noise (a permutation test,
p < ``ALPHA``) *and* large enough to matter (TVD >= ``MIN_TVD`` or PSI >= ``MIN_PSI``; PSI
above 0.1 is the usual "moderate shift"). Small samples alone therefore never cry drift.

Pure numpy: the round hands over the probabilities it already computed for the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alapp.al.state import Floats, Ints
from alapp.al.stopping import Signal

ALPHA = 0.01
MIN_TVD = 0.1
MIN_PSI = 0.1
BINS = 10
PERMUTATIONS = 500  # the smallest p-value is 2 / 501 (two statistics): well under ALPHA
MIN_ITEMS = 20  # fewer items on either side: no comparison


def tvd(p: Floats, q: Floats) -> float:
    """Total-variation distance of two distributions: half the L1 distance, 0 to 1."""
    return float(0.5 * np.abs(np.asarray(p, float) - np.asarray(q, float)).sum())


def psi(expected: Floats, actual: Floats, eps: float = 1e-4) -> float:
    """Population stability index between two bin-share vectors: sum (a - e) ln(a / e), with
    empty bins floored at ``eps`` so an empty bin does not make it infinite."""
    e = np.maximum(np.asarray(expected, float), eps)
    a = np.maximum(np.asarray(actual, float), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def confidence_bins(confidence: Floats, bins: int = BINS) -> tuple[Ints, int]:
    """Each confidence's bin among ``bins`` quantile bins of these values (ties share a bin)."""
    edges = np.unique(np.quantile(confidence, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.searchsorted(edges, confidence, side="right"), len(edges) + 1


@dataclass(frozen=True)
class Comparison:
    """One sample against a reference, as the current model sees both."""

    name: str  # "previous sample", "original pool", "newest import"
    n_reference: int
    n_sample: int
    tvd: float  # predicted-class distributions
    psi: float  # confidence distributions, over quantile bins of both together
    confidence_reference: float  # mean largest probability
    confidence_sample: float
    p_value: float  # permutation test of the larger standardised difference

    @property
    def drift(self) -> bool:
        return self.p_value < ALPHA and (self.tvd >= MIN_TVD or self.psi >= MIN_PSI)

    @property
    def detail(self) -> str:
        p = "< 0.005" if self.p_value < 0.005 else f"= {self.p_value:.2f}"
        return (f"{self.name}: predicted classes differ by {self.tvd:.2f} (TVD), confidence "
                f"{self.confidence_reference:.2f} -> {self.confidence_sample:.2f} "
                f"(PSI {self.psi:.2f}, p {p}; {self.n_sample} vs {self.n_reference} items)")


def compare(name: str, reference: Floats, sample: Floats, rng: np.random.Generator,
            permutations: int = PERMUTATIONS) -> Comparison:
    """Compare the predictions (n, k probabilities) on ``sample`` with those on ``reference``.

    The p-value comes from a permutation test: the two groups are shuffled ``permutations``
    times and each statistic (TVD and PSI) recomputed; the p-value is the share of shuffles
    at least as extreme, for the statistic whose own p-value is smaller, times two (both were
    tried: Bonferroni)."""
    ref = np.asarray(reference, float)
    new = np.asarray(sample, float)
    both = np.concatenate([ref, new])
    k = both.shape[1]
    classes = np.eye(k)[both.argmax(axis=1)]  # (n, k) one-hot predicted class
    bins, n_bins = confidence_bins(both.max(axis=1))
    binned = np.eye(n_bins)[bins]
    n_ref = len(ref)

    def stats(in_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # in_ref: (b, n) bool. Shares of each group, then TVD and PSI per row.
        w_ref = in_ref / in_ref.sum(axis=1, keepdims=True)
        w_new = ~in_ref / (~in_ref).sum(axis=1, keepdims=True)
        t = 0.5 * np.abs(w_new @ classes - w_ref @ classes).sum(axis=1)
        e = np.maximum(w_ref @ binned, 1e-4)
        a = np.maximum(w_new @ binned, 1e-4)
        return t, np.sum((a - e) * np.log(a / e), axis=1)

    observed = np.zeros((1, len(both)), dtype=bool)
    observed[0, :n_ref] = True
    t_obs, p_obs = stats(observed)
    order = np.argsort(rng.random((permutations, len(both))), axis=1)
    shuffled = order < n_ref
    t_null, p_null = stats(shuffled)
    p_tvd = (1 + np.sum(t_null >= t_obs[0] - 1e-12)) / (permutations + 1)
    p_psi = (1 + np.sum(p_null >= p_obs[0] - 1e-12)) / (permutations + 1)
    return Comparison(name, n_ref, len(new), float(t_obs[0]), float(p_obs[0]),
                      float(ref.max(axis=1).mean()), float(new.max(axis=1).mean()),
                      float(min(1.0, 2 * min(p_tvd, p_psi))))


def draw(candidates: Ints, size: int, seed: int, epoch: int, purpose: int = 0) -> Ints:
    """A random sample of ``size`` of ``candidates`` (sorted), the same for the same seed,
    epoch and purpose: the validation sample of that stretch of labels (purpose 0), or the
    reference samples (1 the original pool, 2 the newest import, 3 the earlier pool)."""
    rng = np.random.default_rng([seed, 16_003, purpose, epoch])
    candidates = np.asarray(candidates)
    return np.sort(rng.permutation(candidates)[:size])


def drift_signal(comparisons: list[Comparison], every: int) -> Signal:
    """The comparisons as one signal: ``reached`` when any shows drift; its value is the
    largest TVD. Not a reason to stop labeling: a reason to distrust the other signals (they
    were measured on the old data) and to look at the new items."""
    if not comparisons:
        return Signal("drift", None, MIN_TVD, False,
                      f"a random unlabeled sample is checked every {every} labels; "
                      "nothing to compare it with yet")
    drifted = [c for c in comparisons if c.drift]
    worst = max(drifted or comparisons, key=lambda c: (c.tvd, c.psi))
    value = max(c.tvd for c in comparisons)
    if drifted:
        return Signal("drift", value, MIN_TVD, True,
                      f"the data has shifted; {worst.detail}. Check the new items: the test "
                      "set and the other signals may not speak for them")
    return Signal("drift", value, MIN_TVD, False, f"no shift beyond noise; {worst.detail}")


@dataclass
class ValidationSets:
    """The refreshed validation samples of one project (kept between rounds in memory: after a
    restart the first round compares with the original pool only)."""

    epoch: int = -1
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    previous: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def check(self, ids: Ints, probs: Floats, imports: Ints, n_labeled: int, every: int,
              size: int, seed: int) -> Signal | None:
        """``ids``, ``probs``, ``imports``: the unlabeled pool items, the current model's
        probabilities and the import each came with. None when the check is off."""
        if every <= 0 or not len(ids):
            return None
        ids = np.asarray(ids, dtype=np.int64)
        epoch = n_labeled // every
        if epoch != self.epoch:
            if self.epoch >= 0:
                self.previous = self.sample
            self.epoch, self.sample = epoch, draw(ids, size, seed, epoch)
        order = np.argsort(ids, kind="stable")
        rng = np.random.default_rng([seed, 16_003, epoch, n_labeled])

        def rows_of(items: np.ndarray) -> np.ndarray:
            """Rows of ``ids`` holding ``items``; items no longer unlabeled drop out."""
            at = np.searchsorted(ids, items, sorter=order)
            at = np.minimum(at, len(ids) - 1)
            found = ids[order[at]] == items
            return np.asarray(order[at[found]], dtype=int)

        out: list[Comparison] = []
        sample = rows_of(self.sample)
        previous = rows_of(self.previous)
        if len(previous) >= MIN_ITEMS and len(sample) >= MIN_ITEMS:
            out.append(compare("previous sample", probs[previous], probs[sample], rng))
        imports = np.asarray(imports)
        first = imports == imports.min()
        if not first.all():  # a later import exists
            original = draw(np.flatnonzero(first), size, seed, epoch, 1)
            if len(original) >= MIN_ITEMS and len(sample) >= MIN_ITEMS:
                out.append(compare("this sample vs the original pool", probs[original],
                                   probs[sample], rng))
            newest = imports == imports.max()
            new_rows = draw(np.flatnonzero(newest), size, seed, epoch, 2)
            old_rows = draw(np.flatnonzero(~newest), size, seed, epoch, 3)
            if len(new_rows) >= MIN_ITEMS and len(old_rows) >= MIN_ITEMS:
                out.append(compare("newest import vs the earlier pool", probs[old_rows],
                                   probs[new_rows], rng))
        return drift_signal(out, every)
