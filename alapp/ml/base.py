"""What a classifier can do, in one interface.

Every classifier says what it ``provides`` (the pool arrays strategies may need, ``Need``) and
how it takes its input; the factory chooses one by these declarations alone, and the round
feeds it and reads ``outputs`` without knowing its type.

Input: a classifier gets the texts (``takes_texts``), or the features: the featurizer's matrix
(sparse for TF-IDF), the dense embeddings (``needs_dense``, when the matrix is sparse), or one
matrix per featurizer (``several_inputs``; a classifier without it gets the joined embeddings).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import Need

Outputs = dict[Need, NDArray[Any]]


class Classifier(Protocol):
    labels: list[str]  # the columns of every probability array, in this order
    classes: list[str]  # the labels seen in training so far
    provides: frozenset[Need]  # what ``outputs`` can return (probs always)
    takes_texts: bool  # fit and predict on the raw texts
    needs_dense: bool  # cannot read a sparse matrix
    several_inputs: bool  # reads one matrix per featurizer (late fusion)

    def fit(self, x: Any, y: Sequence[str]) -> None: ...

    def predict_proba(self, x: Any) -> NDArray[Any]: ...

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        """``Need.PROBS`` and whichever of ``needs`` this classifier provides."""
        ...

    def weights(self) -> bytes | None:
        """The weights as safetensors bytes (never a pickle); None before training."""
        ...


def probs_only(model: Classifier, x: Any) -> Outputs:
    """``outputs`` for a classifier that provides probabilities alone."""
    return {Need.PROBS: np.asarray(model.predict_proba(x))}


def save_arrays(arrays: dict[str, NDArray[Any]]) -> bytes | None:
    """Plain arrays as safetensors bytes; None when there are none."""
    if not arrays:
        return None
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in arrays.items()})


def load_arrays(data: bytes) -> dict[str, NDArray[Any]]:
    from safetensors.numpy import load

    return load(data)
