"""Label spreading over a kNN graph of the embeddings (issue 17; Zhou et al. 2004, with the
sparse kNN graph of Iscen et al. 2019).

The graph's nodes are the non-test items (labeled and unlabeled pool); every item, a test item
too, has its ``k`` nearest nodes (never itself), found by chunked dot products, so memory is
(items x k), never (items x items). Spreading: F <- alpha S F + (1 - alpha) Y over the
symmetrised graph S = D^-1/2 W D^-1/2, where W holds the kNN similarities cubed (negative ones
dropped) and Y the human labels. An item's prediction is the similarity-weighted mean of the
spread label distributions of its nearest nodes: inductive, the same rule for a pool item, a
test item and an item never seen, so the test set measures what a new item would get.

Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alapp.al.state import Floats, Ints

POWER = 3  # edge weight: similarity ** 3 (sharpens the graph toward the closest neighbours)


@dataclass
class KnnGraph:
    """Every item's ``k`` nearest nodes: ``near[i]`` are positions into ``nodes``."""

    nodes: Ints  # the items (rows of the embeddings) that are nodes
    near: Ints  # (n_items, k) positions into ``nodes``
    sims: Floats  # (n_items, k) their cosine similarities

    @property
    def k(self) -> int:
        return int(self.near.shape[1])


def nearest(queries: Floats, nodes: Floats, k: int, self_node: Ints | None = None,
            chunk: int = 2048) -> tuple[Ints, Floats]:
    """The ``k`` most similar rows of ``nodes`` for each query (unit-length rows), most similar
    first; ``self_node[i]`` (the query's own node position, -1 for none) is never its own
    neighbour."""
    k = max(1, min(k, len(nodes) - (1 if self_node is not None and (self_node >= 0).any()
                                    else 0)))
    near = np.empty((len(queries), k), dtype=np.int64)
    sims = np.empty((len(queries), k), dtype=np.float32)
    nodes = np.asarray(nodes, dtype=np.float32)
    for start in range(0, len(queries), chunk):
        block = np.asarray(queries[start:start + chunk], dtype=np.float32) @ nodes.T
        if self_node is not None:
            own = self_node[start:start + chunk]
            has = np.flatnonzero(own >= 0)
            block[has, own[has]] = -np.inf
        found = _top_by_threshold(block, k)
        if found is None:
            part = np.argpartition(-block, k - 1, axis=1)[:, :k] if k < block.shape[1] else \
                np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
            part_sims = np.take_along_axis(block, part, axis=1)
            order = np.argsort(-part_sims, axis=1, kind="stable")
            found = (np.take_along_axis(part, order, axis=1),
                     np.take_along_axis(part_sims, order, axis=1))
        near[start:start + chunk], sims[start:start + chunk] = found
    return near, sims


def _top_by_threshold(block: Floats, k: int, probe: int = 512) -> tuple[Ints, Floats] | None:
    """Each row's ``k`` largest entries, most similar first (ties: lower column first), or
    None where the shortcut does not apply. The k-th largest of the first ``probe`` columns
    bounds the row's k-th largest from below, so only the few entries at or above it need
    sorting: half the time of a full ``argpartition`` at 16,000 nodes (bench_loop's first
    round). Rows with fewer than ``k`` such entries (NaN) or a bound that lets through too
    many (duplicates) fall back to the full partition."""
    m, n = block.shape
    if n < 4 * probe or k > probe // 4:
        return None
    bound = np.partition(block[:, :probe], probe - k, axis=1)[:, probe - k]
    above = block >= bound[:, None]
    counts = above.sum(axis=1)
    if counts.min() < k or counts.sum() > m * max(8 * k, n // 16):
        return None
    rows, cols = np.nonzero(above)
    values = block[rows, cols]
    order = np.lexsort((cols, -values, rows))
    cols, values = cols[order], values[order]
    take = (np.cumsum(counts) - counts)[:, None] + np.arange(k)
    return cols[take].astype(np.int64), values[take]


def build_graph(embeddings: Floats, is_node: np.ndarray, k: int) -> KnnGraph:
    """The kNN graph over the rows where ``is_node`` holds, with every row's nearest nodes."""
    nodes = np.flatnonzero(is_node)
    position = np.full(len(embeddings), -1, dtype=np.int64)
    position[nodes] = np.arange(len(nodes))
    near, sims = nearest(embeddings, embeddings[nodes], k, position)
    return KnnGraph(nodes, near, sims)


def _edge_weights(sims: Floats) -> Floats:
    out: Floats = np.maximum(sims, 0.0).astype(np.float64) ** POWER
    return out


def spread(graph: KnnGraph, seed_nodes: Ints, seed_codes: Ints, n_classes: int,
           alpha: float = 0.9, iterations: int = 20) -> Floats:
    """Label spreading from the seeds (positions into ``graph.nodes`` and their class codes):
    each node's label distribution, rows summing to 1 (uniform for a node no seed reaches)."""
    n = len(graph.nodes)
    src = np.repeat(np.arange(n), graph.k)
    dst = graph.near[graph.nodes].ravel()
    w = _edge_weights(graph.sims[graph.nodes]).ravel()
    degree = np.bincount(src, w, n) + np.bincount(dst, w, n)  # of W + W^T
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    w_norm = w * scale[src] * scale[dst]
    y = np.zeros((n, n_classes))
    y[seed_nodes, seed_codes] = 1.0
    f = y.copy()
    for _ in range(iterations):
        moved = np.empty_like(f)
        for c in range(n_classes):
            moved[:, c] = (np.bincount(src, w_norm * f[dst, c], n)
                           + np.bincount(dst, w_norm * f[src, c], n))
        f = alpha * moved + (1 - alpha) * y
    return _rows_to_probs(f)


def _rows_to_probs(f: Floats) -> Floats:
    total = f.sum(axis=1, keepdims=True)
    out: Floats = np.where(total > 1e-12, f / np.maximum(total, 1e-12), 1.0 / f.shape[1])
    return out


def predict(graph: KnnGraph, node_probs: Floats, rows: Ints) -> Floats:
    """Each item's (rows of the graph's items) similarity-weighted mean of its nearest nodes'
    distributions."""
    w = _edge_weights(graph.sims[rows]) + 1e-9
    mixed = np.einsum("nk,nkc->nc", w, node_probs[graph.near[rows]])
    return _rows_to_probs(mixed)


def faded_weight(weight: float, n_labeled: int, n_classes: int, fade: float) -> float:
    """The blend weight once ``n_labeled`` human labels are in: ``weight x fade / (fade +
    labels per class)``, so it halves at ``fade`` labels per class (0: never fades). The graph
    helps most while the classes are thinly seeded; the classifier catches up as they fill."""
    if fade <= 0 or n_classes < 1:
        return weight
    return weight * fade / (fade + n_labeled / n_classes)
