"""Out-of-fold predictions of the project's classifier on its own labeled items (issue 19).

Confident learning (``al/noisy.py``) needs, for every labeled item, probabilities from a model
that did not train on that item: the labeled items are dealt into ``folds`` folds stratified
by label (``al.noisy.fold_ids``, seeded by the project's seed), and each fold is predicted by a
fresh model trained on the other folds. The features and the classifier are the round's
(``loop.round.featurize``, ``ml.factory``), with two exceptions said in ``note``: fine-tuning a
transformer ``folds`` times and label propagation (which reads the whole pool's graph) are
replaced by logistic regression on the same features. Items given as ``extra`` (the review
queue's ties and flagged items without a training label) are predicted by one more model
trained on every labeled item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from alapp.al.noisy import fold_ids
from alapp.core import options
from alapp.core.progress import Progress
from alapp.core.types import ItemId, Split
from alapp.loop.round import Snapshot, featurize
from alapp.ml.base import Classifier
from alapp.ml.factory import KINDS, choose_kind

MIN_LABELS = 10  # fewer labeled items than this: no out-of-fold check yet
# kinds replaced by logistic regression here, and why
_REPLACED = {options.Classifier.FINETUNE: "fine-tuning a transformer once per fold is too slow",
             options.Classifier.PROPAGATION: "label propagation reads the whole pool's graph"}


@dataclass
class OutOfFold:
    """Each labeled item's out-of-fold probabilities (rows of ``probs``, columns
    ``classes``), and ``extra`` items' probabilities from a model trained on all of them.
    ``note`` says why nothing was computed (``probs`` empty) or what was used."""

    ids: list[ItemId]
    given: list[str]
    classes: list[str]
    probs: np.ndarray
    extra: dict[ItemId, np.ndarray] = field(default_factory=dict)
    model_kind: str = ""
    folds: int = 0
    note: str = ""

    @property
    def ready(self) -> bool:
        return len(self.ids) > 0


def _model(snap: Snapshot, classes: list[str], several_inputs: bool) -> tuple[Classifier, str]:
    s = snap.settings
    kind = choose_kind(s, several_inputs)
    replaced = _REPLACED.get(kind)  # type: ignore[call-overload]
    if replaced:
        kind = options.Classifier.LOGREG
    return KINDS[kind].build(classes, s, frozenset()), (
        f"logreg ({replaced})" if replaced else str(kind))


def out_of_fold(snap: Snapshot, folds: int = 5, extra: Sequence[ItemId] = (),
                progress: Progress | None = None) -> OutOfFold:
    progress = progress or Progress()
    s = snap.settings
    empty = np.zeros((0, len(snap.labels)))
    if s.task == options.TaskKind.SPANS:
        return OutOfFold([], [], list(snap.labels), empty,
                         note="a span project: label checks are for classification")
    if s.multi_label:
        return OutOfFold([], [], list(snap.labels), empty,
                         note="a multi-label project: confident learning needs one label "
                              "per item")
    index = {item_id: row for row, item_id in enumerate(snap.ids)}
    train = [(i, label) for i, label in sorted(snap.current.items())
             if i in index and snap.splits[index[i]] != Split.TEST]
    distinct = {label for _, label in train}
    if len(train) < MIN_LABELS or len(distinct) < 2:
        return OutOfFold([], [], list(snap.labels), empty,
                         note=f"not enough labels yet ({len(train)} labeled items, "
                              f"{len(distinct)} labels; {MIN_LABELS} items of 2+ labels needed)")
    progress.report("reading the features", 0.05)
    features = featurize(snap, progress)
    classes = list(snap.labels)
    code = {name: k for k, name in enumerate(classes)}
    ids = [i for i, _ in train]
    given = [label for _, label in train]
    rows = np.array([index[i] for i in ids], dtype=np.int64)
    y = np.array([code[label] for label in given], dtype=np.int64)
    folds = max(2, min(folds, len(train)))
    fold = fold_ids(y, folds, seed=s.seed)
    probs = np.zeros((len(ids), len(classes)))
    kind = ""
    for k in range(folds):
        progress.check()
        progress.report(f"checking the labels: fold {k + 1} of {folds}", 0.1 + 0.8 * k / folds)
        held = fold == k
        model, kind = _model(snap, classes, features.several_inputs)
        x = features.input_for(model)
        model.fit(x[rows[~held]], [given[r] for r in np.flatnonzero(~held)])
        probs[held] = model.predict_proba(x[rows[held]])
    out_extra: dict[ItemId, np.ndarray] = {}
    wanted = [i for i in dict.fromkeys(extra) if i in index]
    if wanted:
        progress.report("predicting the items without a training label", 0.95)
        model, _ = _model(snap, classes, features.several_inputs)
        x = features.input_for(model)
        model.fit(x[rows], given)
        predicted = model.predict_proba(x[np.array([index[i] for i in wanted])])
        out_extra = {i: predicted[r] for r, i in enumerate(wanted)}
    progress.report("done", 1.0)
    return OutOfFold(ids, given, classes, probs, out_extra, kind, folds,
                     note=f"{folds}-fold out-of-fold probabilities of {kind} on "
                          f"{features.name}, {len(ids)} labeled items")
