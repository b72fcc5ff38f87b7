"""What an item will cost to label, in seconds: equal, by length, or learned from measured times.

The learned model is a ridge regression in log space on text statistics (and the annotator),
fitted to the residual of the length model: with few measured times the ridge keeps it close to
the length model (the prior), and it departs from it only as evidence accumulates.

Its bias (lecture 000: active learning asks for the hardest texts, so a cost model trained on
what it asked for learns what hard texts cost): two corrections. The model's uncertainty about
an item (``margin_uncertainty``, when the round picked it) is a feature, so hard and easy items
can cost differently; and the unbiased items among the measured ones (the batches' random
share and the held-out test set: random samples of the data) are weighted up
(``unbiased_weights``), so the fit is not dominated by the region the strategy asks about.
``bench/bench_cost_bias.py`` measures both on a random held-out set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alapp.al.state import Floats

_WORD = re.compile(r"\w+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
STAT_NAMES = ("log_chars", "log_tokens", "avg_word_len", "digit_share", "punct_share",
              "latin_share", "cyrillic_share", "cjk_share", "log_candidate_labels",
              "uncertainty")


def token_count(text: str) -> int:
    """Words, with each CJK character counted as one (Chinese has no spaces)."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    return max(1, words + cjk)


def margin_uncertainty(probs: Floats) -> Floats:
    """1 - (p1 - p2): 0 when the model is sure, 1 when its two likeliest labels tie; the cost
    model's ``uncertainty`` statistic (a stand-in for how hard the text is to decide)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2 or len(p) == 0:
        return np.zeros(len(p))
    top = -np.partition(-p, 1, axis=1)[:, :2]
    out: Floats = 1.0 - (top[:, 0] - top[:, 1])
    return np.clip(out, 0.0, 1.0)


def with_uncertainty(stats: Floats, uncertainty: Floats) -> Floats:
    """A copy of ``stats`` with its ``uncertainty`` column set."""
    out = np.array(stats, dtype=np.float64, copy=True)
    out[:, STAT_NAMES.index("uncertainty")] = uncertainty
    return out


UNBIASED_WEIGHT_CAP = 10.0


def unbiased_weights(unbiased: Sequence[bool], cap: float = UNBIASED_WEIGHT_CAP) -> Floats:
    """Per measured item: 1 for what the strategy chose, w for the unbiased items (random
    share, test set), with w such that the unbiased items together weigh as much as the chosen
    ones (w = chosen / unbiased, between 1 and ``cap``: a few random items must not carry the
    whole fit). All ones when either group is empty."""
    mask = np.asarray(unbiased, dtype=bool)
    n_unbiased, n_chosen = int(mask.sum()), int((~mask).sum())
    weights = np.ones(len(mask))
    if n_unbiased and n_chosen:
        weights[mask] = min(max(n_chosen / n_unbiased, 1.0), cap)
    return weights


def text_stats(texts: Sequence[str], n_labels: int,
               uncertainty: Floats | None = None) -> Floats:
    rows = []
    for text in texts:
        chars = max(1, len(text))
        letters = [ch for ch in text if ch.isalpha()]
        n_letters = max(1, len(letters))
        words = _WORD.findall(text)
        rows.append([
            np.log(chars), np.log(token_count(text)),
            float(np.mean([len(w) for w in words])) if words else 0.0,
            sum(ch.isdigit() for ch in text) / chars, len(_PUNCT.findall(text)) / chars,
            sum(ch.isascii() for ch in letters) / n_letters,
            sum("\u0400" <= ch <= "\u04ff" for ch in letters) / n_letters,
            len(_CJK.findall(text)) / n_letters, np.log(max(n_labels, 1)), 0.0])
    out = np.array(rows, dtype=np.float64).reshape(len(rows), len(STAT_NAMES))
    if uncertainty is not None:
        out[:, -1] = uncertainty
    return out


@dataclass
class CostEstimate:
    seconds: Floats
    model: str
    trust: str  # "prior" (no measurements), "low", "medium", "high"
    n_measured: int
    mae_s: float | None = None  # on held-out measured items
    relative_error: float | None = None  # median |predicted - actual| / actual, held out
    error_basis: str = ""  # what the error was measured on: "random items" or "timed labels"


class EqualCost:
    name = "equal"

    def __init__(self, seconds: float = 20.0) -> None:
        self.seconds = seconds

    def fit(self, stats: Floats, seconds: Floats, annotators: Sequence[str] = (),
            weights: Floats | None = None) -> EqualCost:
        if len(seconds):
            self.seconds = _weighted_median(seconds, weights)
        return self

    def predict(self, stats: Floats, annotators: Sequence[str] | None = None) -> Floats:
        return np.full(len(stats), self.seconds)


class LengthCost:
    """seconds = a + b * tokens, least squares on measured times (defaults until there are)."""

    name = "length"

    def __init__(self, a: float = 5.0, b: float = 0.6) -> None:
        self.a, self.b = a, b

    def fit(self, stats: Floats, seconds: Floats, annotators: Sequence[str] = (),
            weights: Floats | None = None) -> LengthCost:
        if len(seconds) >= 3:
            tokens = np.exp(stats[:, 1])
            design = np.column_stack([np.ones(len(tokens)), tokens])
            root = np.sqrt(np.ones(len(seconds)) if weights is None else weights)
            (a, b), *_ = np.linalg.lstsq(design * root[:, None], seconds * root, rcond=None)
            self.a, self.b = max(float(a), 0.5), max(float(b), 0.0)
        return self

    def predict(self, stats: Floats, annotators: Sequence[str] | None = None) -> Floats:
        out: Floats = self.a + self.b * np.exp(stats[:, 1])
        return out


@dataclass
class LearnedCost:
    """log(seconds) = log(length model) + w . standardised(stats, annotator) + c, ridge."""

    alpha: float = 5.0
    name: str = "learned"
    prior: LengthCost = field(default_factory=LengthCost)
    _w: Floats | None = None
    _mean: Floats | None = None
    _scale: Floats | None = None
    _annotators: list[str] = field(default_factory=list)

    def _design(self, stats: Floats, annotators: Sequence[str] | None) -> Floats:
        assert self._mean is not None and self._scale is not None
        z = (stats - self._mean) / self._scale
        who = np.zeros((len(stats), len(self._annotators)))
        for row, name in enumerate(annotators or []):
            if name in self._annotators:
                who[row, self._annotators.index(name)] = 1.0
        return np.column_stack([np.ones(len(stats)), z, who])

    def fit(self, stats: Floats, seconds: Floats, annotators: Sequence[str] = (),
            weights: Floats | None = None) -> LearnedCost:
        """Weighted ridge (``weights``: per measured item, e.g. ``unbiased_weights``)."""
        self.prior.fit(stats, seconds, weights=weights)
        self._mean = stats.mean(axis=0) if len(stats) else np.zeros(stats.shape[1])
        self._scale = stats.std(axis=0) + 1e-6 if len(stats) else np.ones(stats.shape[1])
        self._annotators = sorted(set(annotators))
        if len(seconds) < 3:
            self._w = None
            return self
        x = self._design(stats, annotators)
        residual = np.log(np.maximum(seconds, 0.2)) - np.log(self.prior.predict(stats))
        penalty = self.alpha * np.eye(x.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        w = np.ones(len(seconds)) if weights is None else np.asarray(weights, dtype=np.float64)
        w = w * len(w) / w.sum()  # the penalty keeps its strength against the data
        xw = x * w[:, None]
        self._w = np.linalg.solve(xw.T @ x + penalty, xw.T @ residual)
        return self

    def predict(self, stats: Floats, annotators: Sequence[str] | None = None) -> Floats:
        base = self.prior.predict(stats)
        if self._w is None:
            return base
        out: Floats = base * np.exp(self._design(stats, annotators) @ self._w)
        return out


CostModel = EqualCost | LengthCost | LearnedCost


def make_cost_model(name: str) -> CostModel:
    if name == "equal":
        return EqualCost()
    if name == "length":
        return LengthCost()
    if name == "learned":
        return LearnedCost()
    raise ValueError(f"unknown cost model {name!r}; choose one of equal, length, learned")


def trust_level(n_measured: int) -> str:
    if n_measured == 0:
        return "prior"
    return "low" if n_measured < 30 else "medium" if n_measured < 150 else "high"


MIN_UNBIASED_HOLDOUT = 8  # unbiased measured items before the error is measured on them


def holdout_error(name: str, stats: Floats, seconds: Floats, annotators: Sequence[str],
                  seed: int = 0, share: float = 0.25,
                  unbiased: Sequence[bool] | None = None) -> tuple[float, float, str] | None:
    """MAE (seconds), median relative error and what they were measured on, on a held-out
    share of the measured items. With ``unbiased`` (random share, test set) and at least
    ``MIN_UNBIASED_HOLDOUT`` of them, the share is held out of those alone: the error on
    the items the strategy chose says little about the pool (they are the hardest), the error
    on a random sample does. The rest is fitted as ``estimate_costs`` fits (weighted)."""
    n = len(seconds)
    if n < 8:
        return None
    rng = np.random.default_rng(seed)
    mask = np.zeros(n, dtype=bool) if unbiased is None else np.asarray(unbiased, dtype=bool)
    if mask.sum() >= MIN_UNBIASED_HOLDOUT:
        candidates, basis = np.flatnonzero(mask), "random items"
    else:
        candidates, basis = np.arange(n), "timed labels"
    order = rng.permutation(candidates)
    cut = max(2, int(len(candidates) * share))
    test = order[:cut]
    train = np.setdiff1d(np.arange(n), test)
    weights = unbiased_weights(mask[train]) if unbiased is not None else None
    model = make_cost_model(name).fit(stats[train], seconds[train],
                                      [annotators[i] for i in train] if annotators else (),
                                      weights=weights)
    pred = model.predict(stats[test], [annotators[i] for i in test] if annotators else None)
    err = np.abs(pred - seconds[test])
    return float(err.mean()), float(np.median(err / np.maximum(seconds[test], 1e-9))), basis


def estimate_costs(name: str, measured_stats: Floats, measured_seconds: Floats,
                   measured_annotators: Sequence[str], pool_stats: Floats,
                   annotator: str | None = None,
                   measured_unbiased: Sequence[bool] | None = None) -> CostEstimate:
    """Fit ``name`` on the measured items and predict the pool's seconds. ``measured_unbiased``
    marks the measured items that are a random sample (random share, test set): they are
    weighted up (``unbiased_weights``) and the held-out error is measured on them."""
    weights = unbiased_weights(measured_unbiased) if measured_unbiased is not None else None
    model = make_cost_model(name).fit(measured_stats, measured_seconds, measured_annotators,
                                      weights=weights)
    predicted = model.predict(pool_stats, [annotator] * len(pool_stats) if annotator else None)
    error = holdout_error(name, measured_stats, measured_seconds, measured_annotators,
                          unbiased=measured_unbiased)
    mae, relative, basis = error or (None, None, "")
    return CostEstimate(np.maximum(predicted, 0.5), name, trust_level(len(measured_seconds)),
                        len(measured_seconds), mae, relative, basis)


def _weighted_median(values: Floats, weights: Floats | None) -> float:
    if weights is None:
        return float(np.median(values))
    order = np.argsort(values)
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64)[order])
    return float(np.asarray(values)[order][np.searchsorted(cumulative, cumulative[-1] / 2)])
