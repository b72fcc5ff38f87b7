"""What an item will cost to label, in seconds: equal, by length, or learned from measured times.

The learned model is a ridge regression in log space on text statistics (and the annotator),
fitted to the residual of the length model: with few measured times the ridge keeps it close to
the length model (the prior), and it departs from it only as evidence accumulates.
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


class EqualCost:
    name = "equal"

    def __init__(self, seconds: float = 20.0) -> None:
        self.seconds = seconds

    def fit(self, stats: Floats, seconds: Floats, annotators: Sequence[str] = ()) -> EqualCost:
        if len(seconds):
            self.seconds = float(np.median(seconds))
        return self

    def predict(self, stats: Floats, annotators: Sequence[str] | None = None) -> Floats:
        return np.full(len(stats), self.seconds)


class LengthCost:
    """seconds = a + b * tokens, least squares on measured times (defaults until there are)."""

    name = "length"

    def __init__(self, a: float = 5.0, b: float = 0.6) -> None:
        self.a, self.b = a, b

    def fit(self, stats: Floats, seconds: Floats, annotators: Sequence[str] = ()) -> LengthCost:
        if len(seconds) >= 3:
            tokens = np.exp(stats[:, 1])
            design = np.column_stack([np.ones(len(tokens)), tokens])
            (a, b), *_ = np.linalg.lstsq(design, seconds, rcond=None)
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

    def fit(self, stats: Floats, seconds: Floats,
            annotators: Sequence[str] = ()) -> LearnedCost:
        self.prior.fit(stats, seconds)
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
        self._w = np.linalg.solve(x.T @ x + penalty, x.T @ residual)
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


def holdout_error(name: str, stats: Floats, seconds: Floats, annotators: Sequence[str],
                  seed: int = 0, share: float = 0.25) -> tuple[float, float] | None:
    """MAE (seconds) and median relative error on a held-out share of the measured items."""
    n = len(seconds)
    if n < 8:
        return None
    order = np.random.default_rng(seed).permutation(n)
    cut = max(2, int(n * share))
    test, train = order[:cut], order[cut:]
    model = make_cost_model(name).fit(stats[train], seconds[train],
                                      [annotators[i] for i in train] if annotators else ())
    pred = model.predict(stats[test], [annotators[i] for i in test] if annotators else None)
    err = np.abs(pred - seconds[test])
    return float(err.mean()), float(np.median(err / np.maximum(seconds[test], 1e-9)))


def estimate_costs(name: str, measured_stats: Floats, measured_seconds: Floats,
                   measured_annotators: Sequence[str], pool_stats: Floats,
                   annotator: str | None = None) -> CostEstimate:
    model = make_cost_model(name).fit(measured_stats, measured_seconds, measured_annotators)
    predicted = model.predict(pool_stats, [annotator] * len(pool_stats) if annotator else None)
    error = holdout_error(name, measured_stats, measured_seconds, measured_annotators)
    return CostEstimate(np.maximum(predicted, 0.5), name, trust_level(len(measured_seconds)),
                        len(measured_seconds), *(error or (None, None)))
