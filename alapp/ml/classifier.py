"""Classifiers behind one small interface: fit on labeled rows, predict probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray


class Classifier(Protocol):
    classes: list[str]

    def fit(self, x: Any, y: Sequence[str]) -> None: ...

    def predict_proba(self, x: Any) -> NDArray[np.float64]: ...


class LogisticClassifier:
    """Logistic regression, warm-started from the previous round's weights when the label set
    is unchanged (later rounds converge in a few iterations)."""

    def __init__(self, labels: Sequence[str], c: float = 4.0, seed: int = 0) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self._c, self._seed = c, seed
        self._model: Any = None

    def fit(self, x: Any, y: Sequence[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        present = sorted(set(y), key=self.labels.index)
        if self._model is None or present != self.classes:
            self._model = LogisticRegression(C=self._c, max_iter=300, warm_start=True,
                                             random_state=self._seed)
        self.classes = present
        if len(present) == 1:  # one class so far: nothing to separate yet
            return
        self._model.fit(x, [present.index(label) for label in y])

    def weights(self) -> dict[str, NDArray[np.float64]]:
        """Plain arrays (saved as safetensors, never pickled)."""
        if self._model is None or len(self.classes) < 2:
            return {}
        return {"coef": np.ascontiguousarray(self._model.coef_),
                "intercept": np.ascontiguousarray(self._model.intercept_)}

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        """Columns follow ``self.labels``; labels not seen in training get probability 0."""
        n = x.shape[0]
        out = np.zeros((n, len(self.labels)))
        if not self.classes:
            raise RuntimeError("fit the classifier before predicting")
        if len(self.classes) == 1:
            out[:, self.labels.index(self.classes[0])] = 1.0
            return out
        probs = self._model.predict_proba(x)
        for column, label in enumerate(self.classes):
            out[:, self.labels.index(label)] = probs[:, column]
        return out
