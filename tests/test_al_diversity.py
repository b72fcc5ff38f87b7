from __future__ import annotations

import numpy as np
import pytest

from alapp.al.badge import badge_select
from alapp.al.clustering import spherical_kmeans
from alapp.al.diversity import (
    cluster_sample,
    coreset_greedy,
    model_outlier_scores,
    representative_scores,
)


def _blobs(rng, per=30, dims=8, centres=4):
    centre = np.eye(dims)[:centres] * 5
    x = np.concatenate([c + rng.normal(0, 0.3, (per, dims)) for c in centre])
    return x, np.repeat(np.arange(centres), per)


def test_spherical_kmeans_recovers_clear_clusters() -> None:
    rng = np.random.default_rng(0)
    x, truth = _blobs(rng)
    _, assign = spherical_kmeans(x, 4, rng)
    for c in range(4):  # every true cluster maps onto one found cluster
        assert len(set(assign[truth == c])) == 1
    assert len(set(assign)) == 4


def test_cluster_sample_takes_centroid_random_outlier_from_each_cluster() -> None:
    rng = np.random.default_rng(0)
    x, truth = _blobs(rng)
    idx, sim = cluster_sample(x, 12, rng)
    assert len(set(idx)) == 12
    assert sorted(np.bincount(truth[idx]).tolist()) == [3, 3, 3, 3]
    centroid_sim, outlier_sim = sim[0], sim[8]
    assert centroid_sim > outlier_sim


def test_coreset_picks_the_far_point_first() -> None:
    x = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.7, 0.7]])
    labeled = np.array([[1.0, 0.0]])
    idx, gaps = coreset_greedy(x, labeled, 2, np.random.default_rng(0))
    assert idx.tolist() == [2, 3]
    assert gaps[0] == pytest.approx(1.0)


def test_representative_prefers_target_like_items_unlike_training() -> None:
    rng = np.random.default_rng(0)
    train = np.array([[1.0, 0.0]] * 5) + rng.normal(0, 0.01, (5, 2))
    target = np.array([[0.0, 1.0]] * 5) + rng.normal(0, 0.01, (5, 2))
    pool = np.array([[1.0, 0.05], [0.05, 1.0]])
    scores = representative_scores(pool, target, train, rng, n_clusters=2)
    assert scores[1] > 0 > scores[0]


def test_model_outliers_rank_low_activations_high() -> None:
    validation = np.arange(100, dtype=float).reshape(100, 1).repeat(3, axis=1)
    pool = np.array([[-5.0, -5.0, -5.0], [50.0, 50.0, 50.0], [200.0, 200.0, 200.0]])
    assert model_outlier_scores(pool, validation) == pytest.approx([1.0, 0.5, 0.0])


def test_badge_distances_match_explicit_gradient_embeddings() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=40)
    hidden = rng.normal(size=(40, 5))
    onehot = np.eye(3)[probs.argmax(1)]
    grads = ((probs - onehot)[:, :, None] * hidden[:, None, :]).reshape(40, -1)
    idx, dist = badge_select(probs, hidden, 6, np.random.default_rng(1))
    assert idx[0] == int(np.argmax((grads ** 2).sum(1)))
    for i in range(1, 6):
        expected = ((grads[idx[:i]] - grads[idx[i]]) ** 2).sum(1).min()
        assert dist[i] == pytest.approx(expected, rel=1e-4)
    assert len(set(idx.tolist())) == 6
