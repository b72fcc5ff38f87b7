"""Multi-label active learning, metrics and thresholds: pure numpy on per-label probabilities.

In a multi-label project a model gives one independent probability per label (one-vs-rest),
``probs[i, l]`` = P(item i has label l), already shifted so that 0.5 is the label's tuned
decision threshold (``shift_to_threshold``). A decision is the set of labels at or above 0.5.

Strategies (Higher means "ask this one"):

- per-label uncertainty, aggregated over the labels by mean or max: the binary margin
  ``1 - |2p - 1|`` or the binary entropy ``H(p) / log 2`` (Esuli & Sebastiani 2009 compare such
  aggregations);
- MMC, maximum loss reduction with maximal confidence (Yang et al. 2009): predict the item's
  label cardinality ``m`` with the most confidence, take its ``m`` likeliest labels as the
  predicted set ``y``, and score ``sum_l (1 - y_l f_l) / 2`` with ``f_l = 2 p_l - 1`` (the
  paper's SVM outputs mapped to [-1, 1]). The paper learns ``m`` with a logistic regression on
  the sorted outputs; here ``m`` is the mode of the cardinality distribution the independent
  per-label probabilities imply (a Poisson-binomial), which needs no second model;
- label-cardinality inconsistency (Li & Guo 2013): how far the item's expected number of labels
  is from the mean number of labels per labeled item, times the mean per-label uncertainty
  (so a confidently different item is not preferred over an uncertain one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.state import Floats

_EPS = 1e-12
Bools = NDArray[np.bool_]


# -- sets as indicator rows -----------------------------------------------------------------------

def indicator(sets: Sequence[Sequence[str]], labels: Sequence[str]) -> Bools:
    """(n, L) booleans: row i marks the labels of set i (names outside ``labels`` are dropped)."""
    where = {name: j for j, name in enumerate(labels)}
    out = np.zeros((len(sets), len(labels)), dtype=bool)
    for i, chosen in enumerate(sets):
        for name in chosen:
            j = where.get(name)
            if j is not None:
                out[i, j] = True
    return out


# -- uncertainty --------------------------------------------------------------------------------

def label_margin(probs: Floats) -> Floats:
    """Per-label binary uncertainty ``1 - |2p - 1|``: 1 at the threshold, 0 when certain."""
    return 1.0 - np.abs(2.0 * np.asarray(probs, dtype=float) - 1.0)


def label_entropy(probs: Floats) -> Floats:
    """Per-label binary entropy in bits (0..1)."""
    p = np.clip(np.asarray(probs, dtype=float), _EPS, 1 - _EPS)
    out: Floats = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return out


def aggregated(probs: Floats, per_label: str = "margin", how: str = "mean") -> Floats:
    """Per-label uncertainty (``margin`` or ``entropy``) aggregated per item by ``mean``/``max``."""
    scores = label_margin(probs) if per_label == "margin" else label_entropy(probs)
    if scores.shape[1] == 0:
        return np.zeros(len(scores))
    out: Floats = scores.max(axis=1) if how == "max" else scores.mean(axis=1)
    return out


def cardinality_distribution(probs: Floats) -> Floats:
    """(n, L + 1): P(the item has exactly m labels) when the labels are independent with these
    probabilities (the Poisson-binomial distribution, by dynamic programming)."""
    p = np.asarray(probs, dtype=float)
    n, k = p.shape
    dist = np.zeros((n, k + 1))
    dist[:, 0] = 1.0
    for j in range(k):
        pj = p[:, j:j + 1]
        shifted = np.zeros_like(dist)
        shifted[:, 1:] = dist[:, :-1]
        dist = dist * (1 - pj) + shifted * pj
    return dist


def mmc(probs: Floats) -> Floats:
    """Maximum loss reduction with maximal confidence (Yang et al. 2009), see the module."""
    p = np.asarray(probs, dtype=float)
    n, k = p.shape
    if k == 0:
        return np.zeros(n)
    m = cardinality_distribution(p).argmax(axis=1)  # the most confident cardinality
    rank = np.argsort(np.argsort(-p, axis=1, kind="stable"), axis=1, kind="stable")
    y = np.where(rank < m[:, None], 1.0, -1.0)  # the m likeliest labels are "in"
    f = 2.0 * p - 1.0
    out: Floats = ((1.0 - y * f) / 2.0).sum(axis=1)
    return out


def cardinality_inconsistency(probs: Floats, labeled_cardinality: float | None) -> Floats:
    """|expected labels of the item - mean labels per labeled item| x mean per-label margin.
    Without labeled items the pool's own mean expected cardinality stands in."""
    p = np.asarray(probs, dtype=float)
    expected = p.sum(axis=1)
    target = labeled_cardinality if labeled_cardinality is not None else (
        float(expected.mean()) if len(expected) else 0.0)
    out: Floats = np.abs(expected - target) * aggregated(p, "margin", "mean")
    return out


def mean_cardinality(values: Sequence[str]) -> float:
    """Mean number of labels per stored set ("a|b" has two, "" none)."""
    if not values:
        return 0.0
    return float(np.mean([len(v.split("|")) if v else 0 for v in values]))


def binary_view(probs: Floats) -> Floats:
    """(n * L, 2): every (item, label) decision as a two-class distribution [p, 1 - p], so the
    single-label stopping signals (mean entropy, least confidence) read the label decisions."""
    p = np.asarray(probs, dtype=float).reshape(-1)
    return np.stack([p, 1 - p], axis=1)


# -- decisions and thresholds -------------------------------------------------------------------

def shift_to_threshold(probs: Floats, thresholds: Floats) -> Floats:
    """Probabilities moved on the logit scale so that each label's tuned threshold becomes 0.5:
    ``sigmoid(logit(p) - logit(t))``. Order per label is kept; at p = t the result is 0.5."""
    p = np.clip(np.asarray(probs, dtype=float), 1e-9, 1 - 1e-9)
    t = np.clip(np.asarray(thresholds, dtype=float), 1e-6, 1 - 1e-6)
    z = np.log(p / (1 - p)) - np.log(t / (1 - t))
    out: Floats = 1.0 / (1.0 + np.exp(-z))
    return out


def tune_thresholds(probs: Floats, truth: Bools, default: float = 0.5,
                    grid: Floats | None = None) -> Floats:
    """Per label, the threshold that maximises F1 on out-of-fold probabilities ``probs`` with
    the known sets ``truth``; ``default`` for a label without a positive (F1 undefined there).
    Ties go to the threshold closest to ``default``."""
    p = np.asarray(probs, dtype=float)
    t = np.asarray(truth, dtype=bool)
    candidates = np.asarray(grid if grid is not None else np.linspace(0.05, 0.95, 19))
    order = np.argsort(np.abs(candidates - default), kind="stable")
    candidates = candidates[order]
    out = np.full(p.shape[1], default)
    for j in range(p.shape[1]):
        if not t[:, j].any():
            continue
        predicted = p[:, j][:, None] >= candidates[None, :]
        tp = (predicted & t[:, j][:, None]).sum(axis=0)
        fp = (predicted & ~t[:, j][:, None]).sum(axis=0)
        fn = (~predicted & t[:, j][:, None]).sum(axis=0)
        f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
        out[j] = candidates[int(np.argmax(f1))]
    return out


def decide(probs: Floats) -> Bools:
    """The predicted sets: every label at or above 0.5 (thresholds are already applied)."""
    return np.asarray(probs) >= 0.5


def set_confidence(probs: Floats) -> Floats:
    """The probability of the predicted set as a whole, labels taken as independent:
    ``prod_l max(p_l, 1 - p_l)``."""
    p = np.asarray(probs, dtype=float)
    return np.prod(np.maximum(p, 1 - p), axis=1) if p.shape[1] else np.ones(len(p))


# -- metrics ------------------------------------------------------------------------------------

def metrics(labels: Sequence[str], truth: Bools, guess: Bools) -> dict[str, Any]:
    """Multi-label quality: subset accuracy (the exact set; reported as ``accuracy`` too, as
    scikit-learn's accuracy_score does), micro- and macro-F1 (macro over the labels present in
    the truth or the guesses), Hamming loss, and per label the counts (support, true and false
    positives, false negatives) with precision, recall and F1."""
    t = np.asarray(truth, dtype=bool)
    g = np.asarray(guess, dtype=bool)
    n = len(t)
    tp = (t & g).sum(axis=0)
    fp = (~t & g).sum(axis=0)
    fn = (t & ~g).sum(axis=0)
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / np.maximum(tp + fn, 1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    present = (tp + fp + fn) > 0
    micro = float(2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1))
    subset = float((t == g).all(axis=1).mean()) if n else 0.0
    return {
        "accuracy": subset,
        "subset_accuracy": subset,
        "micro_f1": micro,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "hamming_loss": float((t != g).mean()) if t.size else 0.0,
        "test_items": float(n),
        "per_label": {"labels": list(labels), "support": t.sum(axis=0).tolist(),
                      "tp": tp.tolist(), "fp": fp.tolist(), "fn": fn.tolist(),
                      "precision": precision.tolist(), "recall": recall.tolist(),
                      "f1": f1.tolist()},
    }
