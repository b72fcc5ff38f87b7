"""The multi-label model: one logistic regression per label (binary relevance), or a classifier
chain, with per-label decision thresholds tuned by cross-validation on the labeled items.

It reads the same features as the single-label logistic regression (sparse TF-IDF as it is).
Each label is its own yes/no model, so the model predicts sets nobody has chosen yet, and a rare
combination does not starve: each of its labels learns from every item that has it.

Probabilities come out shifted on the logit scale so that each label's tuned threshold is 0.5
(``alapp.al.multilabel.shift_to_threshold``): the task decides "label in the set" at 0.5, and the
uncertainty strategies measure closeness to the threshold actually used.

Thresholds: out-of-fold probabilities from a k-fold split of the labeled items (k = 3, fewer
when there are few items); per label the threshold with the best F1 on them; 0.5 when a label
has no positive yet or there are under ``MIN_TUNE`` labeled items.

Sparse input (TF-IDF) is narrowed to the columns the training rows use: the optimum is the
same (see ``_used_columns``) and a fit takes a fraction of the time.

Chains (Read et al. 2011): label ``j``'s model also reads labels ``0..j-1`` (true ones in
training, predicted probabilities when predicting), in the project's label order, so
co-occurring labels inform each other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al import multilabel
from alapp.al.needs import Need
from alapp.core.types import split_labels
from alapp.ml.base import Outputs, probs_only, save_arrays

MIN_TUNE = 10  # labeled items before thresholds are tuned (fewer: 0.5)
FOLDS = 3


class MultiLabelClassifier:
    """Binary relevance (``chains=False``) or a classifier chain over logistic regressions."""

    provides = frozenset({Need.PROBS})
    takes_texts = False
    needs_dense = False
    several_inputs = False

    def __init__(self, labels: Sequence[str], chains: bool = False, c: float = 4.0,
                 seed: int = 0) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []  # labels with at least one positive in training
        self.chains = chains
        self._c, self._seed = c, seed
        self._models: list[Any] = []  # per label: a fitted model or a constant probability
        self.thresholds: NDArray[np.floating] = np.full(len(self.labels), 0.5)
        self._fitted = False
        self._columns: NDArray[np.int64] | None = None  # sparse input: the columns in use

    # -- training ---------------------------------------------------------------------------

    def fit(self, x: Any, y: Sequence[str]) -> None:
        """``y``: each item's set as stored ("a|b"; "" for none of these)."""
        truth = targets(y, self.labels)
        self._columns = _used_columns(x)
        x = self._narrow(x)
        self._models = self._fit_all(x, truth)
        self.classes = [name for j, name in enumerate(self.labels) if truth[:, j].any()]
        self.thresholds = self._tune(x, truth)
        self._fitted = True

    def _fit_all(self, x: Any, truth: NDArray[np.bool_]) -> list[Any]:
        from sklearn.linear_model import LogisticRegression

        models: list[Any] = []
        for j in range(len(self.labels)):
            target = truth[:, j]
            features = self._chain_input(x, truth[:, :j].astype(float)) if self.chains else x
            positives = int(target.sum())
            if positives == 0 or positives == len(target):
                # One answer so far: a smoothed constant (Laplace), never a certain 0 or 1.
                models.append(float((positives + 1) / (len(target) + 2)))
                continue
            model = LogisticRegression(C=self._c, max_iter=300, random_state=self._seed)
            model.fit(features, target.astype(int))
            models.append(model)
        return models

    def _tune(self, x: Any, truth: NDArray[np.bool_]) -> NDArray[np.floating]:
        def fit_predict(train: NDArray[np.int64], held: NDArray[np.int64]) -> NDArray[Any]:
            return self._raw_proba(self._fit_all(x[train], truth[train]), x[held])

        return out_of_fold_thresholds(truth, fit_predict, self._seed)

    # -- prediction ---------------------------------------------------------------------------

    def _chain_input(self, x: Any, previous: NDArray[np.float64]) -> Any:
        if previous.shape[1] == 0:
            return x
        import scipy.sparse as sp

        if sp.issparse(x):
            return sp.hstack([x, sp.csr_matrix(previous)], format="csr")
        return np.hstack([np.asarray(x), previous])

    def _raw_proba(self, models: list[Any], x: Any) -> NDArray[np.float64]:
        n = x.shape[0]
        out = np.zeros((n, len(models)))
        for j, model in enumerate(models):
            features = self._chain_input(x, out[:, :j]) if self.chains else x
            out[:, j] = model if isinstance(model, float) else model.predict_proba(features)[:, 1]
        return out

    def raw_proba(self, x: Any) -> NDArray[np.float64]:
        """Per-label probabilities as the models give them (before the thresholds)."""
        if not self._fitted:
            raise RuntimeError("fit the classifier before predicting")
        return self._raw_proba(self._models, self._narrow(x))

    def _narrow(self, x: Any) -> Any:
        return x if self._columns is None else x[:, self._columns]

    def predict_proba(self, x: Any) -> NDArray[np.floating]:
        """(n, labels): per-label probabilities, shifted so that 0.5 is each tuned threshold."""
        return multilabel.shift_to_threshold(self.raw_proba(x), self.thresholds)

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return probs_only(self, x)

    def weights(self) -> bytes | None:
        """Per label its coefficients and intercept (zeros for a constant), the constants and
        the thresholds, as safetensors (never a pickle); None before training."""
        if not self._fitted:
            return None
        arrays: dict[str, NDArray[Any]] = {"thresholds": self.thresholds}
        for j, model in enumerate(self._models):
            if isinstance(model, float):
                arrays[f"constant_{j}"] = np.array([model])
            else:
                arrays[f"coef_{j}"] = model.coef_
                arrays[f"intercept_{j}"] = model.intercept_
        if self._columns is not None:
            arrays["columns"] = self._columns  # which input columns the coefficients are for
        return save_arrays(arrays)


def targets(y: Sequence[str], labels: Sequence[str]) -> NDArray[np.bool_]:
    """(n, labels) booleans from the stored sets ("a|b"; "" for none of these)."""
    return multilabel.indicator([split_labels(v) for v in y], labels)


def out_of_fold_thresholds(truth: NDArray[np.bool_],
                           fit_predict: Callable[[NDArray[np.int64], NDArray[np.int64]],
                                                 NDArray[Any]],
                           seed: int, folds: int = FOLDS) -> NDArray[np.floating]:
    """Per-label thresholds tuned for F1 on out-of-fold probabilities: ``fit_predict(train,
    held)`` trains a fresh model on the rows ``train`` and returns its raw per-label
    probabilities for the rows ``held``. 0.5 for every label under ``MIN_TUNE`` items (and,
    in ``tune_thresholds``, for a label without a positive). Shared by every multi-label head
    (logistic regressions here, the sigmoid heads of ``mlp`` and ``fusion``)."""
    n = len(truth)
    if n < MIN_TUNE:
        return np.full(truth.shape[1], 0.5)
    fold_of = np.random.default_rng(seed).permutation(n) % min(folds, n)
    out_of_fold = np.zeros(truth.shape)
    for k in np.unique(fold_of):
        train, held = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        out_of_fold[held] = fit_predict(train, held)
    return multilabel.tune_thresholds(out_of_fold, truth)


def held_out_thresholds(truth: NDArray[np.bool_], held_probs: NDArray[Any]
                        ) -> NDArray[np.floating]:
    """Per-label thresholds tuned for F1 on held-out rows' raw probabilities (0.5 under
    ``MIN_TUNE`` held-out rows)."""
    if len(truth) < MIN_TUNE:
        return np.full(truth.shape[1], 0.5)
    return multilabel.tune_thresholds(held_probs, truth)


def _used_columns(x: Any) -> NDArray[np.int64] | None:
    """For a sparse matrix, the columns with any non-zero value in these rows. A column that
    is zero in every training row gets no gradient from the data, so L2 keeps its weight at
    exactly 0: dropping it changes nothing but the time (TF-IDF has ~10^5 columns, a few
    hundred labeled texts use a few thousand)."""
    import scipy.sparse as sp

    if not sp.issparse(x):
        return None
    return np.unique(sp.csr_matrix(x).indices).astype(np.int64)
