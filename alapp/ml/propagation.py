"""Label spreading over the embeddings' kNN graph as a classifier, alone
(``classifier=propagation``) or blended into another classifier's probabilities
(``propagation_weight``), issue 17. The arithmetic is ``alapp.al.propagation``.

Both read row numbers (``reads_rows``): the round hands them the graph of the project's items
once (``use_graph``) and then fits and predicts by row, so a pool of 100k items is searched for
neighbours once, not every round. Only human labels seed the spreading.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al import propagation
from alapp.al.needs import Need
from alapp.ml.base import Classifier, Outputs, save_arrays


class PropagationClassifier:
    """Predicts an item's label from the labels spread to its nearest pool items."""

    provides = frozenset({Need.PROBS})
    takes_texts = False
    needs_dense = True
    several_inputs = False
    reads_rows = True  # x: row numbers of the items of the graph given to ``use_graph``

    def __init__(self, labels: Sequence[str], alpha: float = 0.9) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self._alpha = alpha
        self._graph: propagation.KnnGraph | None = None
        self._embeddings: NDArray[Any] | None = None
        self._node_probs: NDArray[Any] | None = None

    def use_graph(self, graph: propagation.KnnGraph, embeddings: NDArray[Any]) -> None:
        """The graph of the items that ``fit`` and ``predict_proba`` address by row, and their
        unit-length embeddings (kept for the exported weights)."""
        self._graph, self._embeddings = graph, embeddings

    def _graph_or_fail(self) -> propagation.KnnGraph:
        if self._graph is None:
            raise RuntimeError("hand the propagation classifier its graph (use_graph) first")
        return self._graph

    def fit(self, rows: NDArray[Any], y: Sequence[str]) -> None:
        graph = self._graph_or_fail()
        rows = np.asarray(rows, dtype=np.int64).ravel()
        positions = np.searchsorted(graph.nodes, rows)
        inside = positions < len(graph.nodes)
        if not inside.all() or (graph.nodes[positions] != rows).any():
            raise RuntimeError("propagation trains on pool items only (a test item was given)")
        self.classes = sorted(set(y), key=self.labels.index)
        codes = np.array([self.labels.index(label) for label in y], dtype=np.int64)
        self._node_probs = propagation.spread(graph, positions, codes, len(self.labels),
                                              self._alpha)

    def predict_proba(self, rows: NDArray[Any]) -> NDArray[Any]:
        if self._node_probs is None:
            raise RuntimeError("fit the classifier before predicting")
        out: NDArray[Any] = propagation.predict(
            self._graph_or_fail(), self._node_probs, np.asarray(rows, dtype=np.int64).ravel())
        return out

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return {Need.PROBS: self.predict_proba(x)}

    def weights(self) -> bytes | None:
        """The nodes' unit-length embeddings (float16) and spread label distributions: a new
        item's prediction is the similarity-cubed-weighted mean of its k nearest nodes'."""
        if self._node_probs is None or self._graph is None or self._embeddings is None:
            return None
        return save_arrays({
            "node_embeddings": self._embeddings[self._graph.nodes].astype(np.float16),
            "node_probs": self._node_probs.astype(np.float32),
            "k": np.array([self._graph.k], dtype=np.int64)})


class GraphBlend:
    """Another classifier's probabilities blended with label spreading's:
    (1 - weight) x the classifier's + weight x the spread ones. Every output the round reads
    (the pool's scores, the test metrics) goes through the blend, so what is measured is what
    is used; the classifier alone is kept and exported (the spread labels need the pool)."""

    reads_rows = True
    takes_texts = False
    needs_dense = True
    several_inputs = False

    def __init__(self, base: Classifier, base_input: Any, graph: propagation.KnnGraph,
                 embeddings: NDArray[Any], weight: float, alpha: float = 0.9,
                 fade: float = 0.0) -> None:
        self.base, self._x, self.weight = base, base_input, weight
        # the weight as set; ``weight`` is what ``fit`` makes of it (faded with the labels per
        # class) and what the blend uses and exports
        self.set_weight, self._fade = weight, fade
        self.labels = list(base.labels)
        self.provides = base.provides
        self.spread = PropagationClassifier(self.labels, alpha)
        self.spread.use_graph(graph, embeddings)
        # self-training may refit the classifier with pseudo-labels when it takes weights
        self.takes_weights = bool(getattr(base, "takes_weights", False))

        self.classes: list[str] = list(base.classes)

    @property
    def notes(self) -> list[str]:
        return list(getattr(self.base, "notes", []))

    def fit(self, rows: NDArray[Any], y: Sequence[str]) -> None:
        self.base.fit(self._x[rows], y)
        self.spread.fit(rows, y)
        self.classes = list(self.base.classes)
        # the human labels set the weight (self-training's refit keeps it)
        self.weight = propagation.faded_weight(self.set_weight, len(y), len(self.labels),
                                               self._fade)

    def fit_weighted(self, rows: NDArray[Any], y: Sequence[str],
                     sample_weight: NDArray[Any]) -> None:
        """Refit the classifier alone: the spreading keeps the human labels as its seeds."""
        self.base.fit_weighted(self._x[rows], y, sample_weight)  # type: ignore[attr-defined]
        self.classes = list(self.base.classes)

    def _blend(self, probs: NDArray[Any], rows: NDArray[Any]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = ((1 - self.weight) * np.asarray(probs)
                                    + self.weight * self.spread.predict_proba(rows))
        return out

    def predict_proba(self, rows: NDArray[Any]) -> NDArray[np.float64]:
        return self._blend(self.base.predict_proba(self._x[rows]), rows)

    def outputs(self, rows: NDArray[Any], needs: Collection[Need], mc_samples: int) -> Outputs:
        out = self.base.outputs(self._x[rows], needs, mc_samples)
        out[Need.PROBS] = self._blend(out[Need.PROBS], rows)
        return out

    def weights(self) -> bytes | None:
        """The blend whole, as the round measured it: the classifier's arrays under "base.",
        the spread labels' under "spread." and the weight, so that an exported model is the
        model the learning curve measured (issue 17's honesty rule)."""
        from alapp.ml.base import load_arrays

        base, spread = self.base.weights(), self.spread.weights()
        if base is None or spread is None:
            return base
        arrays = {f"base.{k}": v for k, v in load_arrays(base).items()}
        arrays.update({f"spread.{k}": v for k, v in load_arrays(spread).items()})
        arrays["blend_weight"] = np.array([self.weight], dtype=np.float64)
        arrays["base_columns"] = np.array([self.labels.index(c) for c in self.base.classes],
                                          dtype=np.int64)
        return save_arrays(arrays)

    @property
    def kind(self) -> str:
        """The stored model kind: "GraphBlend(<the classifier's kind>)"."""
        return f"GraphBlend({type(self.base).__name__})"
