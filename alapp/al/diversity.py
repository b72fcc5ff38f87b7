"""Diversity sampling: clusters, core-set, representative items and model-based outliers."""

from __future__ import annotations

from itertools import cycle

import numpy as np

from alapp.al.clustering import normalize_rows, spherical_kmeans
from alapp.al.state import Floats, Ints

CLUSTER_PICKS = ("centroid", "random", "outlier")


def cluster_sample(x: Floats, batch_size: int, rng: np.random.Generator,
                   picks: tuple[str, ...] = CLUSTER_PICKS,
                   priority: Floats | None = None) -> tuple[Ints, Floats]:
    """Cluster, then take a few items from each cluster in the order of ``picks``.

    "centroid" is the item closest to the cluster centre, "outlier" the farthest, "random" any;
    "top" takes the cluster's item with the highest ``priority`` (for example uncertainty).
    Returns row indices and each pick's cosine similarity to its centroid.
    """
    n = len(x)
    batch_size = min(batch_size, n)
    if batch_size == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    n_clusters = max(1, -(-batch_size // len(picks)))
    centroids, assign = spherical_kmeans(x, n_clusters, rng)
    sim = (normalize_rows(x) * centroids[assign]).sum(axis=1)
    members = [np.flatnonzero(assign == c) for c in range(len(centroids))]
    taken = np.zeros(n, dtype=bool)
    chosen: list[int] = []
    for rule in cycle(picks):  # cycle the rules until the batch is full
        for group in members:
            free = group[~taken[group]]
            if len(free) == 0:
                continue
            pick = _pick(rule, free, sim, priority, rng)
            taken[pick] = True
            chosen.append(pick)
            if len(chosen) == batch_size:
                idx = np.array(chosen, dtype=int)
                return idx, sim[idx]
    raise AssertionError("unreachable: batch_size <= n items are always available")


def _pick(rule: str, free: Ints, sim: Floats, priority: Floats | None,
          rng: np.random.Generator) -> int:
    if rule == "centroid":
        return int(free[np.argmax(sim[free])])
    if rule == "outlier":
        return int(free[np.argmin(sim[free])])
    if rule == "top" and priority is not None:
        return int(free[np.argmax(priority[free])])
    if rule in ("random", "top"):
        return int(rng.choice(free))
    raise ValueError(f"unknown cluster pick {rule!r}; use {', '.join(CLUSTER_PICKS)} or top")


def coreset_greedy(x: Floats, labeled: Floats | None, batch_size: int,
                   rng: np.random.Generator) -> tuple[Ints, Floats]:
    """k-center greedy (Sener & Savarese, 2018): repeatedly take the item farthest (cosine)
    from everything labeled or already chosen. Returns rows and the distance at each pick."""
    x = normalize_rows(x)
    n = len(x)
    batch_size = min(batch_size, n)
    if labeled is not None and len(labeled):
        lab = normalize_rows(labeled)
        dist = np.full(n, np.inf, dtype=np.float32)
        for start in range(0, len(lab), 2048):  # bounded memory for large labeled sets
            dist = np.minimum(dist, 1.0 - (x @ lab[start:start + 2048].T).max(axis=1))
    else:
        dist = np.full(n, np.inf, dtype=np.float32)
        first = int(rng.integers(n))
        dist = np.minimum(dist, 1.0 - x @ x[first])
        dist[first] = -np.inf
    chosen = np.zeros(batch_size, dtype=int)
    gaps = np.zeros(batch_size)
    for i in range(batch_size):
        best = int(np.argmax(dist))
        chosen[i], gaps[i] = best, float(dist[best])
        dist = np.minimum(dist, 1.0 - x @ x[best])
        dist[best] = -np.inf
    return chosen, gaps


def representative_scores(x: Floats, target: Floats, training: Floats | None,
                          rng: np.random.Generator, n_clusters: int = 20) -> Floats:
    """How much closer each item is to the target distribution than to the training data.

    Both sets are summarised by cluster centroids; score = best similarity to a target centroid
    minus best similarity to a training centroid. Positive: under-represented in training.
    """
    x = normalize_rows(x)
    target_c, _ = spherical_kmeans(target, min(n_clusters, len(target)), rng)
    score: Floats = (x @ target_c.T).max(axis=1)
    if training is not None and len(training):
        train_c, _ = spherical_kmeans(training, min(n_clusters, len(training)), rng)
        score = score - (x @ train_c.T).max(axis=1)
    return score


def activation_rank(values: Floats, validation: Floats) -> Floats:
    """How strongly each of ``values`` activates one neuron, from 0 to 1, against the same
    neuron's activations on a validation set (seed 000, "model-based sampling").

    The seed's scale: the lowest validation activation is 0%, the highest 100%, and the i-th
    lowest of v in between is i/v (the share of validation values below it); a value between
    two validation values is interpolated linearly, and values outside the range are clipped.
    Its example: validation [2.52, 1.95, 1.18, 0.22, -0.12] puts -0.12 at 0%, 0.22 at 20% and
    2.52 at 100%, so 0.05 (half-way between -0.12 and 0.22) ranks 10%.
    """
    val = np.sort(np.asarray(validation, dtype=np.float64))
    x = np.asarray(values, dtype=np.float64)
    if len(val) == 0:
        raise ValueError("ranking activations needs at least one validation item")
    knots, first = np.unique(val, return_index=True)  # ties: the share strictly below
    if len(knots) == 1:  # every validation item alike: below it 0%, at or above it 100%
        return np.where(x < knots[0], 0.0, 1.0)
    levels = first / len(val)
    levels[-1] = 1.0  # the highest validation activation is 100%
    out: Floats = np.interp(x, knots, levels)  # clipped to 0 and 1 outside the range
    return out


def model_outlier_scores(activations: Floats, validation: Floats) -> Floats:
    """Model-based outliers: how low an item's activations rank against a validation set.

    For every neuron, the item's activation (before the non-linearity) is ranked among the
    validation items' activations (``activation_rank``, interpolated); the seed's score is
    minus the mean rank over neurons, shown here as 1 - the mean rank so that it lies in
    [0, 1]: an item that barely excites the network compared with known data scores near 1.
    """
    validation = np.asarray(validation)
    ranks = np.empty(activations.shape, dtype=np.float64)
    for j in range(activations.shape[1]):
        ranks[:, j] = activation_rank(activations[:, j], validation[:, j])
    out: Floats = 1.0 - ranks.mean(axis=1)
    return out
