"""The kNN graph's neighbour search (issue 17): the threshold shortcut that large pools take
finds exactly the neighbours a full sort finds, and falls back where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.propagation import _top_by_threshold, build_graph, nearest


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(queries: np.ndarray, nodes: np.ndarray, k: int, own: np.ndarray):
    sims = queries @ nodes.T
    sims[np.arange(len(queries))[own >= 0], own[own >= 0]] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_the_shortcut_finds_what_a_full_sort_finds(kind) -> None:
    rng = np.random.default_rng(3)
    if kind == "random":
        x = _unit(rng.normal(size=(3000, 32)))
    else:  # tight clusters: many near-equal similarities
        centres = rng.normal(size=(6, 32)) * 4
        x = _unit(centres[rng.integers(0, 6, 3000)] + rng.normal(size=(3000, 32)))
    own = np.arange(3000)
    assert _top_by_threshold(x[:10] @ x.T, 10) is not None  # the shortcut does apply here
    near, sims = nearest(x, x, 10, own, chunk=700)
    want_near, want_sims = _brute(x, x, 10, own)
    assert np.allclose(sims, want_sims, atol=1e-6)
    assert (near != own[:, None]).all()  # never itself
    assert (near == want_near).mean() > 0.999  # only exact ties may come in another order
    assert (np.diff(sims, axis=1) <= 0).all()  # most similar first


def test_duplicates_and_nan_take_the_full_partition() -> None:
    rng = np.random.default_rng(4)
    same = np.ones((2500, 8), dtype=np.float32) / np.sqrt(8)  # every similarity equal
    assert _top_by_threshold(same[:5] @ same.T, 5) is None
    near, sims = nearest(same, same, 5, np.arange(2500))
    assert np.allclose(sims, 1.0, atol=1e-6) and (near != np.arange(2500)[:, None]).all()
    block = _unit(rng.normal(size=(4, 16))) @ _unit(rng.normal(size=(2500, 16))).T
    block[1, :] = np.nan
    assert _top_by_threshold(block, 5) is None


def test_the_graph_of_a_large_pool_matches_brute_force() -> None:
    rng = np.random.default_rng(5)
    x = _unit(rng.normal(size=(2600, 24)))
    is_node = rng.random(2600) > 0.1  # a tenth are test items: never nodes
    graph = build_graph(x, is_node, 7)
    nodes = np.flatnonzero(is_node)
    own = np.full(2600, -1)
    own[nodes] = np.arange(len(nodes))
    want_near, want_sims = _brute(x, x[nodes], 7, own)
    assert np.allclose(graph.sims, want_sims, atol=1e-6)
    assert (graph.near == want_near).mean() > 0.999
