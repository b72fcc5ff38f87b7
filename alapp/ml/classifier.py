"""Logistic regression: the fast default classifier (see ``alapp.ml.base`` for the interface)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import Need
from alapp.ml.base import Outputs, probs_only, save_arrays


class LogisticClassifier:
    """Logistic regression, warm-started from the previous round's weights when the label set
    is unchanged (later rounds converge in a few iterations)."""

    provides = frozenset({Need.PROBS})
    takes_texts = False
    needs_dense = False  # reads sparse TF-IDF as it is
    several_inputs = False
    takes_weights = True  # fit_weighted: self-training's pseudo-labels count less (issue 17)

    def __init__(self, labels: Sequence[str], c: float = 4.0, seed: int = 0) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self._c, self._seed = c, seed
        self._model: Any = None

    def fit(self, x: Any, y: Sequence[str]) -> None:
        self._fit(x, y, None)

    def fit_weighted(self, x: Any, y: Sequence[str], sample_weight: NDArray[Any]) -> None:
        """``fit`` with a weight per item (self-training, issue 17: pseudo-labels count less
        than human labels); warm-started from the last fit like ``fit``."""
        self._fit(x, y, np.asarray(sample_weight, dtype=np.float64))

    def _fit(self, x: Any, y: Sequence[str], sample_weight: NDArray[Any] | None) -> None:
        from sklearn.linear_model import LogisticRegression

        present = sorted(set(y), key=self.labels.index)
        if self._model is None or present != self.classes:
            self._model = LogisticRegression(C=self._c, max_iter=300, warm_start=True,
                                             random_state=self._seed)
        self.classes = present
        if len(present) == 1:  # one class so far: nothing to separate yet
            return
        self._model.fit(x, [present.index(label) for label in y], sample_weight=sample_weight)

    def weights(self) -> bytes | None:
        """``coef`` and ``intercept`` as safetensors (never pickled); None before two classes."""
        if self._model is None or len(self.classes) < 2:
            return None
        return save_arrays({"coef": self._model.coef_, "intercept": self._model.intercept_})

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return probs_only(self, x)

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
