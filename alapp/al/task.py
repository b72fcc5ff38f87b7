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

from alapp.core.options import TaskKind
from alapp.core.settings import ProjectSettings
from alapp.core.types import split_labels


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
    """One label per item, or (multi-label) a set of labels stored as one value and modelled
    as its own class (the label powerset)."""

    multi_label: bool = False
    kind: TaskKind = TaskKind.CLASSIFICATION

    def check_label(self, value: str, labels: Sequence[str]) -> list[str]:
        parts = split_labels(value) if self.multi_label else [value]
        unknown = [p for p in parts if p not in labels]
        if unknown or len(set(parts)) != len(parts):
            raise ValueError(f"unknown label {value!r}; the project has: {', '.join(labels)}")
        return parts

    def classes(self, labels: Sequence[str], train_labels: Sequence[str]) -> list[str]:
        if not self.multi_label:
            return list(labels)
        return [*labels, *sorted(set(train_labels) - set(labels))]

    def decode(self, classes: Sequence[str],
               probs: NDArray[np.floating]) -> tuple[list[str], NDArray[np.floating]]:
        best = probs.argmax(axis=1)
        return [classes[int(k)] for k in best], probs[np.arange(len(best)), best]

    def metrics(self, classes: Sequence[str], truth: Sequence[str],
                guesses: Sequence[str]) -> dict[str, Any]:
        """Accuracy (exact match for multi-label), macro-F1 over the classes present in the
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


def task_for(settings: ProjectSettings) -> Task:
    """The project's task. One kind today; the span-labeling issue adds the second."""
    if settings.task == TaskKind.CLASSIFICATION:
        return Classification(settings.multi_label)
    raise ValueError(f"unknown task {settings.task!r}")

