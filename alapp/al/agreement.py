"""Inter-annotator agreement on categorical labels: Cohen's kappa, Fleiss' kappa and
Krippendorff's alpha, overall and per label (one-vs-rest), with confidence intervals.

The input is a :class:`Ratings` matrix, annotators x items, of label codes with ``-1`` for "this
annotator did not label this item" (``ratings_from_triples`` builds one from
``(item, annotator, label)`` triples). Each statistic is computed from a small table summed over
items (Cohen: each annotator's label counts and the agreements per label; Fleiss: per-label
counts and squared counts; Krippendorff: value counts, self-coincidences and the observed
disagreement, or the whole coincidence matrix at the ordinal level), so a bootstrap over items
only has to redraw how many times each distinct item *pattern* occurs: a resample of ``n``
items with replacement has multinomial pattern counts. The intervals are percentile intervals
of that bootstrap (seeded, so a figure reproduces; resamples where the figure is undefined are
left out); Cohen's kappa also has the analytic large-sample standard error of
Fleiss, Cohen & Everitt (1969), and Fleiss' kappa the standard error under "no agreement beyond
chance" of Fleiss, Nee & Landis (1979). Formulas, the published examples the tests check and
how to read the intervals: ``docs/agreement.md``.

A statistic that is undefined on the data (every rating the same label, so chance agreement is
already perfect; a label nobody used; no item rated twice) is ``nan``, never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import NormalDist

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Codes = NDArray[np.int64]
ItemKey = int | str

MISSING = -1
DEFAULT_BOOT = 1000
DEFAULT_LEVEL = 0.95
_CHUNK = 4_000_000  # bootstrap replicates drawn at a time: about this many numbers in memory


class Level(StrEnum):
    """Krippendorff's levels of measurement: how different two labels are."""

    NOMINAL = "nominal"  # any two different labels are equally different
    ORDINAL = "ordinal"  # labels ranked in the order of the label list
    INTERVAL = "interval"  # labels are numbers (their values, by default 0, 1, 2, ...)
    RATIO = "ratio"  # numbers with a true zero: differences relative to their sum


@dataclass(frozen=True, eq=False)  # arrays inside: compare ``codes`` with numpy
class Ratings:
    """Who gave which label to which item: ``codes[a, i]`` is the index in ``labels`` of the
    label annotator ``a`` gave item ``i``, ``-1`` (``MISSING``) where they gave none."""

    codes: Codes  # (annotators, items)
    labels: tuple[str, ...]
    annotators: tuple[str, ...]
    items: tuple[ItemKey, ...]

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)
        if codes.ndim != 2:
            raise ValueError(f"ratings must be a 2-D annotators x items array, got {codes.ndim}-D")
        if codes.shape != (len(self.annotators), len(self.items)):
            raise ValueError(f"ratings are {codes.shape[0]} x {codes.shape[1]} but name "
                             f"{len(self.annotators)} annotators and {len(self.items)} items")
        if codes.size and (codes.min() < MISSING or codes.max() >= len(self.labels)):
            raise ValueError(f"a rating code is outside -1..{len(self.labels) - 1} "
                             f"({len(self.labels)} labels)")
        object.__setattr__(self, "codes", codes.astype(np.int64))

    @classmethod
    def from_codes(cls, codes: Sequence[Sequence[int]] | Codes,
                   labels: Sequence[str]) -> Ratings:
        """A matrix with annotators and items named by their position (for tests and tables)."""
        array = np.asarray(codes, dtype=np.int64)
        if array.ndim != 2:
            raise ValueError("ratings must be a 2-D annotators x items array")
        return cls(array, tuple(labels), tuple(str(a) for a in range(array.shape[0])),
                   tuple(range(array.shape[1])))

    def counts(self) -> Codes:
        """(items, labels): how many annotators gave item ``i`` label ``j``."""
        k = len(self.labels)
        out = np.zeros((self.codes.shape[1], k), dtype=np.int64)
        annotator, item = np.nonzero(self.codes >= 0)
        np.add.at(out, (item, self.codes[annotator, item]), 1)
        return out


def _item_order(item: ItemKey) -> tuple[int, int, str]:
    return (0, item, "") if isinstance(item, int) else (1, 0, item)


def ratings_from_triples(triples: Iterable[tuple[ItemKey, str, str]],
                         labels: Sequence[str] | None = None) -> Ratings:
    """A ratings matrix from ``(item, annotator, label)`` triples, one per annotator and item
    (each annotator's current label). Items and annotators are sorted, so the matrix does not
    depend on the order the triples came in. ``labels`` fixes the label list (its order is the
    order used by the ordinal level); by default it is the sorted labels seen.
    ``ValueError`` for a label outside ``labels`` or two different labels from one annotator
    for one item."""
    given: dict[tuple[ItemKey, str], str] = {}
    for item, annotator, label in triples:
        before = given.setdefault((item, annotator), label)
        if before != label:
            raise ValueError(f"annotator {annotator!r} gave item {item!r} two labels, "
                             f"{before!r} and {label!r}; pass each annotator's current label")
    names = tuple(labels) if labels is not None else tuple(sorted(set(given.values())))
    if len(set(names)) != len(names):
        raise ValueError("the label list names a label twice")
    where = {name: j for j, name in enumerate(names)}
    annotators = tuple(sorted({a for _, a in given}))
    items = tuple(sorted({i for i, _ in given}, key=_item_order))
    row = {a: r for r, a in enumerate(annotators)}
    col = {i: c for c, i in enumerate(items)}
    codes = np.full((len(annotators), len(items)), MISSING, dtype=np.int64)
    for (item, annotator), label in given.items():
        if label not in where:
            raise ValueError(f"item {item!r}: label {label!r} is not one of the labels "
                             f"({', '.join(names)})")
        codes[row[annotator], col[item]] = where[label]
    return Ratings(codes, names, annotators, items)


# -- results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """One figure with its bootstrap percentile interval (``low``..``high``), the number of
    items it rests on and, where there is one, its analytic standard error: ``se`` around the
    estimate (for an interval) and ``se0`` under "agreement is only chance" (for a test)."""

    value: float
    low: float
    high: float
    n_items: int
    se: float | None = None
    se0: float | None = None

    @property
    def defined(self) -> bool:
        return not math.isnan(self.value)

    def analytic_interval(self, level: float = DEFAULT_LEVEL) -> tuple[float, float] | None:
        """``value -+ z * se`` (the large-sample normal interval), where ``se`` is known."""
        if self.se is None or not self.defined:
            return None
        z = NormalDist().inv_cdf(0.5 + level / 2)
        return self.value - z * self.se, self.value + z * self.se


@dataclass(frozen=True)
class Agreement:
    """A statistic overall and per label (that label against all others)."""

    statistic: str
    overall: Estimate
    per_label: dict[str, Estimate]
    level: float = DEFAULT_LEVEL
    boot: int = DEFAULT_BOOT
    annotators: tuple[str, ...] = field(default=())


# -- the bootstrap over item patterns -----------------------------------------------------------

Statistic = Callable[[Floats], Floats]  # (..., d) summed contributions -> (..., 1 + labels)


def _estimates(contrib: Floats, freq: Codes, stat: Statistic, boot: int, seed: int,
               level: float) -> tuple[Floats, Floats, Floats]:
    """Point values and percentile bounds of ``stat`` (columns: overall, then each label).

    ``contrib[p]`` is what one item of pattern ``p`` adds to the summed table and ``freq[p]``
    how many items have that pattern. Resampling the ``n`` items with replacement draws the
    pattern counts from a multinomial, which is what is drawn here (``boot`` times)."""
    freq = np.asarray(freq, dtype=np.int64)
    n = int(freq.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        value = stat(freq.astype(np.float64) @ contrib)
    low = np.full(value.shape, np.nan)
    high = np.full(value.shape, np.nan)
    if n == 0 or boot <= 0:
        return value, low, high
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK // max(len(freq), contrib.shape[1], 1))
    parts = []
    for start in range(0, boot, chunk):
        draws = rng.multinomial(n, freq / n, size=min(chunk, boot - start)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(stat(draws @ contrib))
    samples = np.concatenate(parts)
    tail = (1.0 - level) / 2.0 * 100.0
    for column in range(samples.shape[1]):
        finite = samples[:, column][np.isfinite(samples[:, column])]
        if len(finite):
            low[column], high[column] = np.percentile(finite, [tail, 100.0 - tail])
    return value, low, high


def _patterns(rows: Codes) -> tuple[Codes, Codes]:
    """The distinct rows and how often each occurs (sorted, so independent of item order)."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return unique.astype(np.int64), counts.astype(np.int64)


def _check_level(level: float, boot: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    if boot < 0:
        raise ValueError(f"bootstrap replicates must be >= 0, got {boot}")


def _agreement(statistic: str, labels: Sequence[str], value: Floats, low: Floats, high: Floats,
               n_items: int, level: float, boot: int, annotators: tuple[str, ...],
               se: Sequence[float | None] | None = None,
               se0: Sequence[float | None] | None = None) -> Agreement:
    def one(c: int) -> Estimate:
        return Estimate(float(value[c]), float(low[c]), float(high[c]), n_items,
                        se[c] if se is not None else None, se0[c] if se0 is not None else None)
    return Agreement(statistic, one(0), {name: one(j + 1) for j, name in enumerate(labels)},
                     level, boot, annotators)


def _kappa(agree: Floats, rows: Floats, cols: Floats, n: Floats) -> Floats:
    """Cohen's kappa ``(p_o - p_e) / (1 - p_e)`` from the agreeing count, the two annotators'
    label counts (..., K) and the number of items."""
    p_o = agree / n
    p_e = (rows * cols).sum(axis=-1) / n**2
    out: Floats = np.where(np.isclose(p_e, 1.0), np.nan, (p_o - p_e) / (1.0 - p_e))
    return out


def _cohen_stat(k: int) -> Statistic:
    """Cohen's kappa, overall and per label, from summed ``[first's label one-hot (K),
    second's (K), agreed label one-hot (K), 1]``. Label ``j`` against the rest agrees on the
    items both put in ``j`` and the items neither did."""

    def stat(sums: Floats) -> Floats:
        rows, cols = sums[..., :k], sums[..., k:2 * k]
        diag, n = sums[..., 2 * k:3 * k], sums[..., 3 * k]
        overall = _kappa(diag.sum(axis=-1), rows, cols, n)
        n_l = n[..., None]
        agree = n_l - rows - cols + 2.0 * diag
        per_label = _kappa(agree, np.stack([rows, n_l - rows], axis=-1),
                           np.stack([cols, n_l - cols], axis=-1), n_l)
        out: Floats = np.concatenate([overall[..., None], per_label], axis=-1)
        return out

    return stat


def _one_vs_rest(table: Floats, j: int) -> Floats:
    """The 2 x 2 table of label ``j`` (row/column 0) against all other labels (1)."""
    a = table[j, j]
    b = table[j].sum() - a
    c = table[:, j].sum() - a
    return np.array([[a, b], [c, table.sum() - a - b - c]])


def cohen_standard_errors(table: Floats) -> tuple[float, float]:
    """The large-sample standard errors of Cohen's kappa for one K x K count table: around the
    estimate (Fleiss, Cohen & Everitt 1969) and under kappa = 0. ``nan`` where undefined."""
    t = np.asarray(table, dtype=np.float64)
    n = t.sum()
    if n == 0:
        return math.nan, math.nan
    p = t / n
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    p_o, p_e = float(np.trace(p)), float(rows @ cols)
    if math.isclose(p_e, 1.0):
        return math.nan, math.nan
    kappa = (p_o - p_e) / (1.0 - p_e)
    diag = np.diagonal(p)
    a = float((diag * (1.0 - (rows + cols) * (1.0 - kappa)) ** 2).sum())
    weight = (cols[:, None] + rows[None, :]) ** 2  # (p_.i + p_j.)^2 for cell (i, j)
    off = p * weight
    b = (1.0 - kappa) ** 2 * float(off.sum() - np.trace(off))
    c = (kappa - p_e * (1.0 - kappa)) ** 2
    var = (a + b - c) / (n * (1.0 - p_e) ** 2)
    var0 = (p_e + p_e**2 - float((rows * cols * (rows + cols)).sum())) / (n * (1.0 - p_e) ** 2)
    return math.sqrt(max(var, 0.0)), math.sqrt(max(var0, 0.0))


def cohen_kappa(ratings: Ratings, first: int = 0, second: int = 1, *, boot: int = DEFAULT_BOOT,
                seed: int = 0, level: float = DEFAULT_LEVEL) -> Agreement:
    """Cohen's kappa between annotators ``first`` and ``second`` (rows of ``ratings``) on the
    items both labeled, overall and per label, with analytic and bootstrap intervals."""
    _check_level(level, boot)
    if first == second:
        raise ValueError("Cohen's kappa compares two different annotators")
    k = len(ratings.labels)
    a, b = ratings.codes[first], ratings.codes[second]
    both = (a >= 0) & (b >= 0)
    cells = (a[both] * k + b[both]).astype(np.int64)
    unique, freq = np.unique(cells, return_counts=True)
    first_of, second_of = np.divmod(unique, k)
    contrib = np.zeros((len(unique), 3 * k + 1))
    rows = np.arange(len(unique))
    contrib[rows, first_of] = 1.0
    contrib[rows, k + second_of] = 1.0
    same = first_of == second_of
    contrib[rows[same], 2 * k + first_of[same]] = 1.0
    contrib[:, 3 * k] = 1.0
    table = np.bincount(cells, minlength=k * k).reshape(k, k).astype(np.float64)
    value, low, high = _estimates(contrib, freq, _cohen_stat(k), boot, seed, level)
    errors = [cohen_standard_errors(table)] + [
        cohen_standard_errors(_one_vs_rest(table, j)) for j in range(k)]
    return _agreement("cohen_kappa", ratings.labels, value, low, high, int(both.sum()), level,
                      boot, (ratings.annotators[first], ratings.annotators[second]),
                      se=[e[0] for e in errors], se0=[e[1] for e in errors])


def cohen_kappa_table(table: Sequence[Sequence[float]] | Floats, labels: Sequence[str], *,
                      boot: int = DEFAULT_BOOT, seed: int = 0,
                      level: float = DEFAULT_LEVEL) -> Agreement:
    """Cohen's kappa from a K x K table of counts (rows: the first annotator's label, columns:
    the second's), as printed in textbooks."""
    t = np.asarray(table, dtype=np.int64)
    if t.shape != (len(labels), len(labels)) or (t < 0).any():
        raise ValueError(f"need a {len(labels)} x {len(labels)} table of counts >= 0")
    first, second = np.divmod(np.repeat(np.arange(t.size), t.ravel()), len(labels))
    return cohen_kappa(Ratings.from_codes(np.stack([first, second]), labels),
                       boot=boot, seed=seed, level=level)


def pairwise_cohen(ratings: Ratings, *, min_items: int = 1, boot: int = DEFAULT_BOOT,
                   seed: int = 0, level: float = DEFAULT_LEVEL
                   ) -> dict[tuple[str, str], Agreement]:
    """Cohen's kappa for every pair of annotators who labeled at least ``min_items`` items in
    common, keyed by the pair of annotator names."""
    out: dict[tuple[str, str], Agreement] = {}
    rated = ratings.codes >= 0
    for a in range(len(ratings.annotators)):
        for b in range(a + 1, len(ratings.annotators)):
            if int((rated[a] & rated[b]).sum()) >= max(min_items, 1):
                out[ratings.annotators[a], ratings.annotators[b]] = cohen_kappa(
                    ratings, a, b, boot=boot, seed=seed, level=level)
    return out


# -- Fleiss' kappa --------------------------------------------------------------------------------

def _fleiss_stat(k: int, m: int) -> Statistic:
    """Fleiss' kappa from summed ``[n_ij (K), n_ij^2 (K), 1]`` over items (m ratings each)."""

    def stat(sums: Floats) -> Floats:
        s1, s2, n = sums[..., :k], sums[..., k:2 * k], sums[..., 2 * k]
        p = s1 / (n * m)[..., None]
        p_bar = (s2.sum(axis=-1) - n * m) / (n * m * (m - 1))
        p_e = (p**2).sum(axis=-1)
        overall = np.where(np.isclose(p_e, 1.0), np.nan, (p_bar - p_e) / (1.0 - p_e))
        disagree = m * s1 - s2  # sum_i n_ij (m - n_ij)
        spread = (n * m * (m - 1))[..., None] * p * (1.0 - p)
        per_label = np.where(np.isclose(spread, 0.0), np.nan, 1.0 - disagree / spread)
        out: Floats = np.concatenate([overall[..., None], per_label], axis=-1)
        return out

    return stat


def fleiss_standard_errors(counts: Codes) -> list[float]:
    """Standard errors of Fleiss' kappa under "only chance agreement" (Fleiss, Nee & Landis
    1979), overall then per label, for an (items, K) table with ``m`` ratings per item."""
    c = np.asarray(counts, dtype=np.float64)
    n, m = c.shape[0], float(c[0].sum()) if len(c) else 0.0
    if n == 0 or m < 2:
        return [math.nan] * (c.shape[1] + 1)
    p = c.sum(axis=0) / (n * m)
    pq = p * (1.0 - p)
    scale = math.sqrt(2.0 / (n * m * (m - 1.0)))
    total = float(pq.sum())
    inner = total**2 - float((pq * (1.0 - 2.0 * p)).sum())
    overall = scale * math.sqrt(max(inner, 0.0)) / total if total > 0 else math.nan
    return [overall] + [scale if x > 0 else math.nan for x in pq]


def fleiss_kappa_counts(counts: Sequence[Sequence[int]] | Codes, labels: Sequence[str], *,
                        boot: int = DEFAULT_BOOT, seed: int = 0,
                        level: float = DEFAULT_LEVEL) -> Agreement:
    """Fleiss' kappa from an (items, labels) table: ``counts[i, j]`` raters put item ``i`` in
    label ``j``, the same number of raters for every item (the raters need not be the same
    people: Fleiss 1971's setting)."""
    _check_level(level, boot)
    c = np.asarray(counts, dtype=np.int64)
    if c.ndim != 2 or c.shape[1] != len(labels) or (c < 0).any():
        raise ValueError(f"need an items x {len(labels)} table of counts >= 0")
    per_item = c.sum(axis=1)
    if len(c) and (per_item != per_item[0]).any():
        raise ValueError("Fleiss' kappa needs the same number of ratings for every item; "
                         "use Krippendorff's alpha where ratings are missing")
    m = int(per_item[0]) if len(c) else 0
    if len(c) and m < 2:
        raise ValueError("Fleiss' kappa needs at least 2 ratings per item")
    k = len(labels)
    unique, freq = _patterns(c)
    contrib = np.concatenate([unique, unique**2, np.ones((len(unique), 1))], axis=1)
    value, low, high = _estimates(contrib.astype(np.float64), freq, _fleiss_stat(k, max(m, 2)),
                                  boot, seed, level)
    return _agreement("fleiss_kappa", labels, value, low, high, len(c), level, boot, (),
                      se0=fleiss_standard_errors(c))


def fleiss_kappa(ratings: Ratings, *, ratings_per_item: int | None = None,
                 boot: int = DEFAULT_BOOT, seed: int = 0,
                 level: float = DEFAULT_LEVEL) -> Agreement:
    """Fleiss' kappa on the items that have exactly ``ratings_per_item`` ratings (by default
    the most any item has, i.e. the items every annotator labeled when the team overlaps
    completely); the other items are left out (``n_items`` says how many were used)."""
    counts = ratings.counts()
    per_item = counts.sum(axis=1)
    m = ratings_per_item if ratings_per_item is not None else int(per_item.max(initial=0))
    if m < 2:
        raise ValueError("Fleiss' kappa needs items with at least 2 ratings")
    agreement = fleiss_kappa_counts(counts[per_item == m], ratings.labels, boot=boot,
                                    seed=seed, level=level)
    return Agreement(agreement.statistic, agreement.overall, agreement.per_label,
                     agreement.level, agreement.boot, ratings.annotators)


# -- Krippendorff's alpha -------------------------------------------------------------------------

def _coincidences(counts: Codes) -> Floats:
    """(units, K, K): each pairable unit's coincidences ``n_c n_k / (m_u - 1)`` (``c != k``)
    and ``n_c (n_c - 1) / (m_u - 1)`` (``c == k``)."""
    c = counts.astype(np.float64)
    m = c.sum(axis=1)
    pairs = c[:, :, None] * c[:, None, :]
    idx = np.arange(c.shape[1])
    pairs[:, idx, idx] -= c
    out: Floats = pairs / (m - 1.0)[:, None, None]
    return out


def _fixed_delta2(level: Level, values: Floats) -> Floats:
    """Squared differences between labels at the levels where they do not depend on the data."""
    k = values.shape[0]
    if level is Level.NOMINAL:
        return 1.0 - np.eye(k)
    if level is Level.INTERVAL:
        out: Floats = (values[:, None] - values[None, :]) ** 2
        return out
    total = values[:, None] + values[None, :]  # ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total == 0, 0.0, (values[:, None] - values[None, :]) / total)
    return ratio**2


def _ordinal_delta2(n_c: Floats) -> Floats:
    """(..., K, K) ordinal squared differences: the number of values ranked from ``c`` to
    ``k`` minus half of the two ends, squared (they depend on the value counts ``n_c``)."""
    k = n_c.shape[-1]
    cum = np.cumsum(n_c, axis=-1)
    lo = np.minimum(np.arange(k)[:, None], np.arange(k)[None, :])
    hi = np.maximum(np.arange(k)[:, None], np.arange(k)[None, :])
    between = cum[..., hi] - cum[..., lo] + n_c[..., lo]
    out: Floats = (between - (n_c[..., :, None] + n_c[..., None, :]) / 2.0) ** 2
    return out


def _alpha(n_c: Floats, diag: Floats, observed: Floats, expected_pairs: Floats) -> Floats:
    """Overall alpha ``1 - D_o / D_e`` and nominal one-vs-rest alpha per label, from the value
    counts ``n_c``, the coincidences of each value with itself, ``sum o_ck delta_ck`` and
    ``sum n_c n_k delta_ck``."""
    n = n_c.sum(axis=-1)
    expected = expected_pairs / (n - 1.0)
    overall = np.where(np.isclose(expected, 0.0), np.nan, 1.0 - observed / expected)
    spread = n_c * (n[..., None] - n_c)
    per_label = np.where(np.isclose(spread, 0.0), np.nan,
                         1.0 - (n[..., None] - 1.0) * (n_c - diag) / spread)
    out: Floats = np.concatenate([overall[..., None], per_label], axis=-1)
    return out


def _alpha_stat(k: int, level: Level, values: Floats) -> Statistic:
    """Alpha from summed per-unit contributions: the whole coincidence matrix (K * K) at the
    ordinal level, else ``[n_c (K), o_cc (K), sum o_ck delta_ck]``."""
    if level is Level.ORDINAL:
        def ordinal(sums: Floats) -> Floats:
            o = sums.reshape(*sums.shape[:-1], k, k)
            n_c = o.sum(axis=-1)
            delta = _ordinal_delta2(n_c)
            return _alpha(n_c, np.diagonal(o, axis1=-2, axis2=-1), (o * delta).sum(axis=(-2, -1)),
                          (n_c[..., :, None] * n_c[..., None, :] * delta).sum(axis=(-2, -1)))
        return ordinal
    delta = _fixed_delta2(level, values)

    def fixed(sums: Floats) -> Floats:
        n_c = sums[..., :k]
        return _alpha(n_c, sums[..., k:2 * k], sums[..., 2 * k],
                      ((n_c @ delta) * n_c).sum(axis=-1))
    return fixed


def _alpha_contributions(counts: Codes, level: Level, values: Floats) -> Floats:
    k = counts.shape[1]
    if len(counts) == 0:
        return np.zeros((0, k * k if level is Level.ORDINAL else 2 * k + 1))
    if level is Level.ORDINAL:
        return _coincidences(counts).reshape(len(counts), k * k)
    # without the K x K matrix per unit: a unit's row of coincidences sums to its count n_c,
    # its diagonal is n_c (n_c - 1) / (m - 1), and as delta_cc = 0 its observed disagreement
    # is n^T delta n / (m - 1)
    c = counts.astype(np.float64)
    m1 = c.sum(axis=1, keepdims=True) - 1.0
    observed = ((c @ _fixed_delta2(level, values)) * c).sum(axis=1, keepdims=True)
    return np.concatenate([c, c * (c - 1.0) / m1, observed / m1], axis=1)


def krippendorff_alpha(ratings: Ratings, *, level: Level | str = Level.NOMINAL,
                       values: Sequence[float] | None = None, boot: int = DEFAULT_BOOT,
                       seed: int = 0, confidence: float = DEFAULT_LEVEL) -> Agreement:
    """Krippendorff's alpha over any number of annotators with missing ratings, on the items
    (units) with at least two ratings. ``level`` is the level of measurement; the ordinal level
    ranks labels in the label-list order, the interval and ratio levels use ``values`` (by
    default 0, 1, 2, ... in label order). Per-label figures are one-vs-rest (nominal; with two
    values every level gives the same alpha). The bootstrap resamples items."""
    _check_level(confidence, boot)
    level = Level(level)
    k = len(ratings.labels)
    vals = np.arange(k, dtype=np.float64) if values is None else np.asarray(values, float)
    if vals.shape != (k,):
        raise ValueError(f"need one value per label ({k}), got {vals.shape[0]}")
    counts = ratings.counts()
    pairable = counts[counts.sum(axis=1) >= 2]
    unique, freq = _patterns(pairable)
    contrib = _alpha_contributions(unique, level, vals)
    value, low, high = _estimates(contrib, freq, _alpha_stat(k, level, vals), boot, seed,
                                  confidence)
    return _agreement(f"krippendorff_alpha_{level.value}", ratings.labels, value, low, high,
                      len(pairable), confidence, boot, ratings.annotators)
