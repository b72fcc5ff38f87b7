"""A committee for vote entropy and consensus KL: bagged copies of a classifier, or several
model families, each trained on a bootstrap sample of the labels."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import Need
from alapp.ml.base import Classifier, Outputs, load_arrays, save_arrays


class Committee:
    provides = frozenset({Need.PROBS, Need.COMMITTEE_PROBS})
    takes_texts = False
    needs_dense = False  # as its members: logistic regression reads sparse input
    several_inputs = False

    def __init__(self, labels: Sequence[str], make_member: Callable[[int], Classifier],
                 size: int = 5, seed: int = 0) -> None:
        self.labels = list(labels)
        self.members = [make_member(i) for i in range(size)]
        self.classes: list[str] = []
        self._seed = seed
        # Members take the input their kind needs (all the same kind, or the strictest).
        self.takes_texts = any(m.takes_texts for m in self.members)
        self.needs_dense = any(m.needs_dense for m in self.members)

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

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        members = self.committee_probs(x)
        out: Outputs = {Need.PROBS: members.mean(axis=0)}
        if Need.COMMITTEE_PROBS in needs:
            out[Need.COMMITTEE_PROBS] = members
        return out

    def weights(self) -> bytes | None:
        """Every member's arrays, prefixed ``member{i}.``; None before training."""
        arrays: dict[str, NDArray[Any]] = {}
        for i, member in enumerate(self.members):
            data = member.weights()
            if data is not None:
                arrays.update({f"member{i}.{k}": v for k, v in load_arrays(data).items()})
        return save_arrays(arrays)
