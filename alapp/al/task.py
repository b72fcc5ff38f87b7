"""What kind of labeling a project does, behind one interface.

A task says which stored label values are valid, what classes a model predicts from the labels
so far, how a model's output becomes a predicted label with a confidence, and how predictions
are scored against the held-out test set. The store checks labels through it, the round trains,
predicts and measures through it, the window picks its labeling view by its kind. A second kind
(spans) is a new class here and a new view, not edits across the layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.al import multilabel
from alapp.al.entities import entity_metrics
from alapp.core.options import TaskKind
from alapp.core.settings import ProjectSettings
from alapp.core.spans import check_no_overlap, decode_spans
from alapp.core.types import join_labels, split_labels


class Task(Protocol):
    @property
    def kind(self) -> TaskKind: ...

    def check_label(self, value: str, labels: Sequence[str]) -> list[str]:
        """The project labels a stored value holds; ``ValueError`` saying why it is invalid."""
        ...

    def classes(self, labels: Sequence[str], train_labels: Sequence[str]) -> list[str]:
        """What a model predicts, given the project's labels and the training labels."""
        ...

    def decode(self, classes: Sequence[str],
               probs: NDArray[np.floating]) -> tuple[list[str], NDArray[np.floating]]:
        """Each row's predicted label value and the confidence in it."""
        ...

    def metrics(self, classes: Sequence[str], truth: Sequence[str],
                guesses: Sequence[str]) -> dict[str, Any]:
        """Quality on the held-out test items (what the learning curve and stopping use)."""
        ...


@dataclass(frozen=True)
class Classification:
    """One label per item (a multi-label project is ``MultiLabelClassification``)."""

    kind: TaskKind = TaskKind.CLASSIFICATION
    multi_label: bool = False

    def check_label(self, value: str, labels: Sequence[str]) -> list[str]:
        if value not in labels:
            raise ValueError(f"unknown label {value!r}; the project has: {', '.join(labels)}")
        return [value]

    def classes(self, labels: Sequence[str], train_labels: Sequence[str]) -> list[str]:
        return list(labels)

    def decode(self, classes: Sequence[str],
               probs: NDArray[np.floating]) -> tuple[list[str], NDArray[np.floating]]:
        best = probs.argmax(axis=1)
        names = np.array(classes, dtype=object)  # one take, not a Python step per row
        return names[best].tolist(), probs[np.arange(len(best)), best]

    def metrics(self, classes: Sequence[str], truth: Sequence[str],
                guesses: Sequence[str]) -> dict[str, Any]:
        """Accuracy, macro-F1 over the classes present in the
        truth or the guesses, and the confusion matrix over every class the model knows (a
        label with no test item and no guess is a row and a column of zeros, not missing)."""
        present = set(truth) | set(guesses)
        every = [*classes, *sorted(present - set(classes))]  # a test label never trained on
        where = {c: i for i, c in enumerate(every)}
        confusion = np.zeros((len(every), len(every)), dtype=int)
        for t, g in zip(truth, guesses, strict=True):
            confusion[where[t], where[g]] += 1
        hits = np.diag(confusion).astype(float)
        precision = hits / np.maximum(confusion.sum(axis=0), 1)
        recall = hits / np.maximum(confusion.sum(axis=1), 1)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
        shown = np.array([c in present for c in every], dtype=bool)
        return {"accuracy": float(hits.sum() / max(len(truth), 1)),
                "macro_f1": float(f1[shown].mean()) if shown.any() else 0.0,
                "test_items": float(len(truth)),
                "confusion": {"labels": every, "matrix": confusion.tolist()}}


@dataclass(frozen=True)
class MultiLabelClassification:
    """A set of labels per item (issue 21): each label is its own yes/no decision. A stored
    value is the set's names joined by "|" in the project's label order; "" is an explicit
    "none of these". The model gives one probability per label (one-vs-rest, 0.5 being the
    label's tuned threshold), so it can predict a set nobody has chosen yet."""

    kind: TaskKind = TaskKind.CLASSIFICATION
    multi_label: bool = True

    def check_label(self, value: str, labels: Sequence[str]) -> list[str]:
        parts = split_labels(value)
        for part in parts:
            if not part:
                raise ValueError(f"an empty label in {value!r}")
            if part not in labels:
                raise ValueError(f"unknown label {part!r}; the project has: {', '.join(labels)}")
        twice = sorted({p for p in parts if parts.count(p) > 1})
        if twice:
            raise ValueError(f"label {twice[0]!r} twice in {value!r}")
        return parts

    def classes(self, labels: Sequence[str], train_labels: Sequence[str]) -> list[str]:
        return list(labels)  # one probability per label, never per combination

    def decode(self, classes: Sequence[str],
               probs: NDArray[np.floating]) -> tuple[list[str], NDArray[np.floating]]:
        """The labels at or above 0.5 (possibly none), and the probability of that set."""
        chosen = multilabel.decide(probs)
        names = [join_labels([classes[int(j)] for j in np.flatnonzero(row)], list(classes))
                 for row in chosen]
        return names, multilabel.set_confidence(probs)

    def metrics(self, classes: Sequence[str], truth: Sequence[str],
                guesses: Sequence[str]) -> dict[str, Any]:
        """See ``alapp.al.multilabel.metrics``: subset accuracy as ``accuracy``, micro- and
        macro-F1, Hamming loss and a per-label table (``per_label``) instead of a confusion."""
        return multilabel.metrics(
            classes, multilabel.indicator([split_labels(v) for v in truth], classes),
            multilabel.indicator([split_labels(v) for v in guesses], classes))


@dataclass(frozen=True)
class Spans:
    """Entities as character spans over an item's tokens (issue 18). A stored value is a span
    set as ``core.spans.encode_spans`` text (``"[]"``: accepted with no entities); the project's
    labels are the entity types. A token model predicts one BIO tag per token: ``classes`` are
    those tags and ``decode`` reads one text's token rows. ``metrics`` are entity-level, exact
    match (``al/entities.py``); the entity micro-F1 is reported as ``accuracy`` too, the key the
    learning curve, the target stop and the forecast read, as a multi-label project reports
    its subset accuracy there (the curve, seeing ``micro_f1``, labels its axis micro-F1)."""

    kind: TaskKind = TaskKind.SPANS
    multi_label: bool = False
    scheme: str = "bio"

    def check_label(self, value: str, labels: Sequence[str]) -> list[str]:
        """The entity types the decision uses, in the project's order; ``ValueError`` for a
        value that is no span list, an unknown type or two overlapping spans. Whether the
        spans fit the item's text and tokens is checked by the store, which has them."""
        found = decode_spans(value)
        known = set(labels)
        for span in found:
            if span.label not in known:
                raise ValueError(f"span ({span.start}, {span.end}, {span.label!r}): unknown "
                                 f"label {span.label!r}; the project has: {', '.join(labels)}")
        check_no_overlap(found)
        used = {s.label for s in found}
        return [name for name in labels if name in used]

    def classes(self, labels: Sequence[str], train_labels: Sequence[str]) -> list[str]:
        """The tags a token model predicts: "O", then B- and I- of each type in label order."""
        return ["O", *(f"{p}-{name}" for name in labels for p in "BI")]

    def decode(self, classes: Sequence[str],
               probs: NDArray[np.floating]) -> tuple[list[str], NDArray[np.floating]]:
        """Rows are the tokens of one text: each token's likeliest tag and its probability
        (``core.spans.tags_to_spans(tokens, tags, strict=False)`` makes them spans)."""
        best = probs.argmax(axis=1)
        names = np.array(classes, dtype=object)  # one take, not a Python step per row
        return names[best].tolist(), probs[np.arange(len(best)), best]

    def metrics(self, classes: Sequence[str], truth: Sequence[str],
                guesses: Sequence[str]) -> dict[str, Any]:
        """Entity precision, recall and F1 (micro, macro, per type) over the test texts'
        stored span sets; ``accuracy`` is the micro-F1 (see the class)."""
        types = list(dict.fromkeys(c.partition("-")[2] if c[:2] in _TAG_PREFIXES else c
                                   for c in classes if c != "O"))
        out = entity_metrics(types, [decode_spans(v) for v in truth],
                             [decode_spans(v) for v in guesses])
        out["accuracy"] = out["micro_f1"]
        return out


_TAG_PREFIXES = ("B-", "I-", "E-", "S-")


def task_for(settings: ProjectSettings) -> Task:
    """The project's task: classification (one label or a set) or spans."""
    if settings.task == TaskKind.SPANS:
        return Spans()
    if settings.task == TaskKind.CLASSIFICATION:
        if settings.multi_label:
            return MultiLabelClassification()
        return Classification()
    raise ValueError(f"unknown task {settings.task!r}")

