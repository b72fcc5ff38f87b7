"""Self-training: which unlabeled pool items the round may train on with the model's own guess
(issue 17; HAST 2024: kNN-verified pseudo-labels on top of active learning).

A pool item becomes a pseudo-label when three checks agree:

1. confidence above its predicted class's own threshold: the ``quantile`` of the confidences of
   the pool items predicted as that class, never below ``floor`` (class-wise thresholds, as in
   FlexMatch: a class the model is unsure of everywhere still gets its most confident items,
   a class it is sure of everywhere does not take them all);
2. a kNN vote in embedding space over the human-labeled items agrees (similarity-weighted
   majority of the ``k`` nearest labeled items is the predicted class): the veto;
3. at most ``cap`` times the class's human labels (rounded up), the most confident first, so a
   frequent class cannot swamp a rare one.

Pure numpy; the caller gives unit-length embeddings and never the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alapp.al.state import Floats, Ints


@dataclass(frozen=True)
class SelfTrainParams:
    quantile: float = 0.5  # per-class confidence quantile over the pool's predictions
    floor: float = 0.5  # no threshold below this confidence
    k: int = 7  # labeled neighbours in the kNN vote
    cap: float = 3.0  # pseudo-labels per class at most cap x that class's human labels


@dataclass
class PseudoLabels:
    rows: Ints  # positions into the candidates (the unlabeled pool rows the caller gave)
    codes: Ints  # the class code of each (columns of ``probs``)
    thresholds: Floats  # each class's confidence threshold (inf: no candidate predicted it)
    vetoed: int  # confident enough, but the kNN vote disagreed

    def counts(self, n_classes: int) -> Ints:
        return np.bincount(self.codes, minlength=n_classes)


def class_thresholds(confidence: Floats, predicted: Ints, n_classes: int, quantile: float,
                     floor: float) -> Floats:
    """Each class's threshold: the ``quantile`` of the confidences predicted as it, at least
    ``floor``; infinite for a class nothing is predicted as."""
    out = np.full(n_classes, np.inf)
    for c in range(n_classes):
        mine = confidence[predicted == c]
        if len(mine):
            out[c] = max(floor, float(np.quantile(mine, quantile)))
    return out


def knn_vote(candidates: Floats, labeled: Floats, labeled_codes: Ints, n_classes: int,
             k: int, chunk: int = 4096) -> Ints:
    """The class of the similarity-weighted majority of each candidate's ``k`` nearest labeled
    items (unit-length rows; ties go to the lower code)."""
    k = max(1, min(k, len(labeled)))
    out = np.empty(len(candidates), dtype=np.int64)
    for start in range(0, len(candidates), chunk):
        sims = candidates[start:start + chunk] @ labeled.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(labeled) else \
            np.broadcast_to(np.arange(len(labeled)), (len(sims), len(labeled)))
        weight = np.maximum(np.take_along_axis(sims, near, axis=1), 0.0) + 1e-6
        votes = np.zeros((len(sims), n_classes))
        rows = np.repeat(np.arange(len(sims)), near.shape[1])
        np.add.at(votes, (rows, labeled_codes[near].ravel()), weight.ravel())
        out[start:start + chunk] = votes.argmax(axis=1)
    return out


def select_pseudo_labels(probs: Floats, embeddings: Floats, labeled_embeddings: Floats,
                         labeled_codes: Ints, params: SelfTrainParams) -> PseudoLabels:
    """The pseudo-labels among the candidates (rows of ``probs`` and ``embeddings``), by the
    three checks of the module's description; ordered by class, most confident first."""
    n_classes = probs.shape[1]
    predicted = probs.argmax(axis=1)
    confidence = probs[np.arange(len(probs)), predicted]
    thresholds = class_thresholds(confidence, predicted, n_classes, params.quantile,
                                  params.floor)
    confident = np.flatnonzero(confidence >= thresholds[predicted])
    if not len(confident) or not len(labeled_codes):
        return PseudoLabels(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                            thresholds, 0)
    votes = knn_vote(embeddings[confident], labeled_embeddings, labeled_codes, n_classes,
                     params.k)
    agreed = confident[votes == predicted[confident]]
    human = np.bincount(labeled_codes, minlength=n_classes)
    rows: list[Ints] = []
    for c in range(n_classes):
        mine = agreed[predicted[agreed] == c]
        cap = int(np.ceil(params.cap * human[c]))
        order = np.lexsort((mine, -confidence[mine]))  # most confident first, then by row
        rows.append(mine[order][:cap])
    chosen = np.concatenate(rows).astype(np.int64)
    return PseudoLabels(chosen, predicted[chosen].astype(np.int64), thresholds,
                        int(len(confident) - len(agreed)))
