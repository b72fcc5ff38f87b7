"""A committee for vote entropy and consensus KL: bagged copies of a classifier, or several
model families, each trained on a bootstrap sample of the labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.ml.classifier import Classifier


class Committee:
    def __init__(self, labels: Sequence[str], make_member: Callable[[int], Classifier],
                 size: int = 5, seed: int = 0) -> None:
        self.labels = list(labels)
        self.members = [make_member(i) for i in range(size)]
        self.classes: list[str] = []
        self._seed = seed

    def fit(self, x: Any, y: Sequence[str]) -> None:
        rng = np.random.default_rng(self._seed)
        y = list(y)
        self.classes = sorted(set(y), key=self.labels.index)
        for member in self.members:
            rows = rng.integers(0, len(y), len(y))  # bootstrap sample
            if len({y[r] for r in rows}) < len(self.classes):  # keep every class present
                rows = np.concatenate([rows, [y.index(c) for c in self.classes]])
            member.fit(x[rows], [y[r] for r in rows])

    def committee_probs(self, x: Any) -> NDArray[np.float64]:
        return np.stack([m.predict_proba(x) for m in self.members])

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.committee_probs(x).mean(axis=0)
        return out
