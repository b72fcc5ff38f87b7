"""Noisy-label help: confident learning (Northcutt, Jiang & Chuang 2021, "Confident Learning:
Estimating Uncertainty in Dataset Labels", JAIR 70).

Input: each labeled item's given label and the model's *out-of-fold* predicted probabilities
(the item was not in the training data of the model that predicted it; ``fold_ids`` gives the
folds). The method:

1. per-class threshold ``t_j`` = the mean predicted probability of class ``j`` over the items
   labeled ``j`` (the model's average self-confidence on that class);
2. an item is *confidently* of class ``j`` when ``p_j >= t_j``; with several such classes, the
   one with the highest probability among them (the paper's argmax over the confident set);
   with none, the item is not counted;
3. the *confident joint* ``C[i, j]`` counts the items labeled ``i`` that are confidently ``j``;
   calibrated (paper Eq. 2) so each row sums to the number of items labeled ``i``, its
   off-diagonal total estimates how many labels are wrong;
4. the label issues are the items in the off-diagonal cells (the paper's ``C_{y~,y*}``
   method), except those whose given label is also the model's top prediction (as cleanlab
   does: the model does not disagree with those), ranked by a label-quality score, lowest
   first: the self-confidence ``p_given`` or the normalized margin
   ``(p_given - max_{k != given} p_k + 1) / 2``.

The suspected true label of an issue is the class it was confidently counted in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

_TOLERANCE = 1e-6  # p_j within this of t_j counts as reaching it (float noise in the mean)


class RankBy(StrEnum):
    SELF_CONFIDENCE = "self_confidence"
    NORMALIZED_MARGIN = "normalized_margin"


@dataclass(frozen=True)
class LabelIssues:
    """Suspected label errors, most suspicious first, and what they were found from."""

    indices: Ints  # rows of the input, ranked
    suggested: Ints  # the class each was confidently counted in (its suspected true label)
    scores: Floats  # label quality of each: lower = more likely wrong
    thresholds: Floats  # (K,) per-class thresholds t_j
    confident_joint: Ints  # (K, K) rows: given label, columns: confident class
    calibrated_joint: Floats  # (K, K) the same, rows scaled to the given-label counts

    @property
    def estimated_errors(self) -> float:
        """How many given labels are wrong, estimated from the calibrated joint."""
        c = self.calibrated_joint
        return float(c.sum() - np.trace(c))


def _check(labels: Ints, probs: Floats) -> tuple[Ints, Floats]:
    y = np.asarray(labels)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"predicted probabilities must be (items, classes), got {p.ndim}-D")
    if y.shape != (p.shape[0],):
        raise ValueError(f"{y.shape[0] if y.ndim else 0} labels for {p.shape[0]} predictions")
    if not np.issubdtype(y.dtype, np.integer) and len(y):
        raise ValueError("labels must be class indices (integers)")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"a label is outside 0..{p.shape[1] - 1}")
    if not np.isfinite(p).all():
        raise ValueError("predicted probabilities contain NaN or infinity")
    return y.astype(np.int64), p


def thresholds(labels: Ints, probs: Floats) -> Floats:
    """Per-class thresholds: mean ``p_j`` over the items labeled ``j`` (``inf`` for a class
    nobody was given, so nothing is confidently counted in it)."""
    y, p = _check(labels, probs)
    k = p.shape[1]
    sums = np.bincount(y, weights=p[np.arange(len(y)), y], minlength=k)
    counts = np.bincount(y, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Floats = np.where(counts > 0, sums / counts, np.inf)
    return out


def confident_classes(probs: Floats, t: Floats) -> Ints:
    """Each item's confident class (argmax of ``p_j`` over the classes with ``p_j >= t_j``),
    ``-1`` where no class reaches its threshold."""
    p = np.asarray(probs, dtype=np.float64)
    above = p >= t[None, :] - _TOLERANCE
    masked = np.where(above, p, -np.inf)
    out: Ints = np.where(above.any(axis=1), masked.argmax(axis=1), -1).astype(np.int64)
    return out


def confident_joint(labels: Ints, probs: Floats) -> tuple[Ints, Floats]:
    """The confident joint (given label x confident class, counts) and its calibration."""
    y, p = _check(labels, probs)
    k = p.shape[1]
    joint = _joint(y, confident_classes(p, thresholds(y, p)), k)
    return joint, _calibrate(joint, np.bincount(y, minlength=k))


def _joint(y: Ints, guess: Ints, k: int) -> Ints:
    counted = guess >= 0
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (y[counted], guess[counted]), 1)
    return joint


def _calibrate(joint: Ints, given: Ints) -> Floats:
    rows = joint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Floats = np.where(rows > 0, joint / rows * given[:, None], 0.0)
    return out


def label_quality(labels: Ints, probs: Floats,
                  rank_by: RankBy | str = RankBy.SELF_CONFIDENCE) -> Floats:
    """Per item, how much the model believes its given label (0..1, lower = worse)."""
    y, p = _check(labels, probs)
    own = p[np.arange(len(y)), y]
    if RankBy(rank_by) is RankBy.SELF_CONFIDENCE:
        return own
    others = p.copy()
    others[np.arange(len(y)), y] = -np.inf
    best_other = others.max(axis=1) if p.shape[1] > 1 else np.zeros(len(y))
    out: Floats = (own - best_other + 1.0) / 2.0
    return out


def find_label_issues(labels: Ints, probs: Floats,
                      rank_by: RankBy | str = RankBy.SELF_CONFIDENCE) -> LabelIssues:
    """The items confident learning suspects of a wrong label, most suspicious first.

    ``labels[i]`` is item ``i``'s given class index, ``probs[i]`` its out-of-fold predicted
    probabilities. Ties in the score keep the input order (a stable sort)."""
    y, p = _check(labels, probs)
    k = p.shape[1]
    t = thresholds(y, p)
    guess = confident_classes(p, t)
    joint = _joint(y, guess, k)
    off = (guess >= 0) & (guess != y) & (p.argmax(axis=1) != y)
    rows = np.flatnonzero(off)
    scores = label_quality(y, p, rank_by)[rows]
    order = np.argsort(scores, kind="stable")
    return LabelIssues(indices=rows[order].astype(np.int64),
                       suggested=guess[rows[order]].astype(np.int64),
                       scores=scores[order], thresholds=t, confident_joint=joint,
                       calibrated_joint=_calibrate(joint, np.bincount(y, minlength=k)))


def fold_ids(labels: Ints, folds: int, seed: int = 0) -> Ints:
    """A fold number (0..folds-1) for each item, stratified by label (each class dealt round
    the folds in a seeded random order), for computing out-of-fold probabilities."""
    if folds < 2:
        raise ValueError(f"out-of-fold predictions need at least 2 folds, got {folds}")
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty(len(y), dtype=np.int64)
    start = 0
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        out[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds  # the next class fills the folds left short
    return out
