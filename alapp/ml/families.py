"""Committee members of other model families than logistic regression (seed 000: "train models
of different families"), for a committee whose members disagree for different reasons.

Each is a small scikit-learn model behind the classifier interface (``alapp.ml.base``); weights
are saved as plain arrays, never pickled.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import Need
from alapp.ml.base import Outputs, probs_only, save_arrays


class _Member:
    """What the families share: the label columns, the one-class case, probabilities."""

    provides = frozenset({Need.PROBS})
    takes_texts = False
    needs_dense = False  # both read sparse TF-IDF as it is
    several_inputs = False
    family = ""
    warm = False  # keeps training the previous round's model while the labels' classes stay

    def __init__(self, labels: Sequence[str], seed: int = 0) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self._seed = seed
        self._model: Any = None

    def _make(self, x: Any) -> Any:
        raise NotImplementedError

    def _arrays(self) -> dict[str, NDArray[Any]]:
        raise NotImplementedError

    def weights(self) -> bytes | None:
        """The fitted model's arrays as safetensors (never pickled); None before two classes."""
        return None if self._model is None else save_arrays(self._arrays())

    def fit(self, x: Any, y: Sequence[str]) -> None:
        present = sorted(set(y), key=self.labels.index)
        if len(present) == 1:  # one class so far: nothing to separate yet
            self.classes, self._model = present, None
            return
        if self._model is None or present != self.classes or not self.warm:
            self._model = self._make(x)
        self.classes = present
        with warnings.catch_warnings():  # few labels: not converging is expected, not news
            warnings.simplefilter("ignore")
            self._model.fit(x, [self.classes.index(label) for label in y])

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return probs_only(self, x)

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        """Columns follow ``self.labels``; labels not seen in training get probability 0."""
        if not self.classes:
            raise RuntimeError("fit the classifier before predicting")
        out = np.zeros((x.shape[0], len(self.labels)))
        if self._model is None:
            out[:, self.labels.index(self.classes[0])] = 1.0
            return out
        probs = self._model.predict_proba(x)
        for column, label in enumerate(self.classes):
            out[:, self.labels.index(label)] = probs[:, column]
        return out


class SmallMLP(_Member):
    """A one-hidden-layer network (scikit-learn, L2-regularised, Adam)."""

    family = "neural network"
    warm = True

    def __init__(self, labels: Sequence[str], seed: int = 0, hidden: int = 64) -> None:
        super().__init__(labels, seed)
        self._hidden = hidden

    def _make(self, x: Any) -> Any:
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(hidden_layer_sizes=(self._hidden,), alpha=1e-3, max_iter=200,
                             warm_start=True, random_state=self._seed)

    def _arrays(self) -> dict[str, NDArray[Any]]:
        arrays = {f"layer{i}.weight": w for i, w in enumerate(self._model.coefs_)}
        arrays.update({f"layer{i}.bias": b for i, b in enumerate(self._model.intercepts_)})
        return arrays


class NaiveBayes(_Member):
    """Naive Bayes: complement NB on non-negative counts or TF-IDF (sparse), Gaussian NB on
    dense embeddings (which have negative values)."""

    family = "naive Bayes"

    def _make(self, x: Any) -> Any:
        from scipy import sparse
        from sklearn.naive_bayes import ComplementNB, GaussianNB

        values = x.data if sparse.issparse(x) else np.asarray(x)
        if sparse.issparse(x) and (values.size == 0 or values.min() >= 0):
            return ComplementNB(alpha=0.1)
        if sparse.issparse(x):
            raise ValueError("naive Bayes on sparse features needs non-negative values")
        return GaussianNB()

    def fit(self, x: Any, y: Sequence[str]) -> None:
        from scipy import sparse

        if not sparse.issparse(x):
            x = np.asarray(x, dtype=np.float64)
        super().fit(x, y)

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        from scipy import sparse

        return super().predict_proba(x if sparse.issparse(x) else np.asarray(x, np.float64))

    def _arrays(self) -> dict[str, NDArray[Any]]:
        m = self._model
        if hasattr(m, "theta_"):  # Gaussian
            return {"mean": m.theta_, "var": m.var_, "prior": m.class_prior_}
        return {"feature_log_prob": m.feature_log_prob_, "class_log_prior": m.class_log_prior_}


def family_of(model: Any) -> str:
    """The model family a committee member belongs to, in words."""
    from alapp.ml.classifier import LogisticClassifier

    if isinstance(model, LogisticClassifier):
        return "linear model"
    return str(getattr(model, "family", type(model).__name__))


def mixed_member(labels: Sequence[str], index: int, seed: int) -> Any:
    """Member ``index`` of a mixed committee: logistic regression, a small neural network and
    naive Bayes in turn, each seeded differently."""
    from alapp.ml.classifier import LogisticClassifier

    kind = index % 3
    if kind == 0:
        return LogisticClassifier(labels, seed=seed + index)
    if kind == 1:
        return SmallMLP(labels, seed=seed + index)
    return NaiveBayes(labels, seed=seed + index)
