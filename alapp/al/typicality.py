"""Typicality-based cold start (TypiClust: Hacohen, Dekel & Weinshall, "Active Learning on a
Budget: Opposite Strategies Suit High and Low Budgets", ICML 2022).

With few labels, the items worth asking are the typical ones: dense, representative points of
the regions the labeled set does not cover yet. The pool and the labeled items are clustered
into (labeled + batch) clusters; the batch is taken one item at a time from the cluster with the
fewest labeled or chosen items (the largest first among equals), and from it the item of
highest typicality: the inverse mean distance to its k nearest neighbours within the cluster.
"""

from __future__ import annotations

import numpy as np

from alapp.al.clustering import normalize_rows, spherical_kmeans
from alapp.al.state import Floats, Ints

KNN = 20  # neighbours for typicality (the paper's value); fewer in small clusters
MAX_CLUSTERS = 500  # the paper's cap: beyond it clusters get too small to be dense
MIN_CLUSTER_SIZE = 5  # smaller clusters are outliers' clusters: taken only when nothing else
FIT_SAMPLE = 10_000  # k-means is fitted on at most this many rows, then every row is assigned
TYPICALITY_SAMPLE = 2_000  # a larger cluster's neighbours are looked for in a sample of it


def typicality(x: Floats, knn: int = KNN, among: Floats | None = None) -> Floats:
    """1 / (mean Euclidean distance of each row of ``x`` to its ``knn`` nearest rows of
    ``among``, itself excluded; ``among`` defaults to ``x``). Rows should be unit length; a
    lone row (no neighbours) has typicality 1."""
    ref = x if among is None else among
    n = len(ref)
    k = max(1, min(knn, n - 1)) if n > 1 else 0
    if k == 0:
        return np.ones(len(x))
    sq = (x * x).sum(axis=1)[:, None] + (ref * ref).sum(axis=1)[None, :] - 2.0 * (x @ ref.T)
    dist = np.sqrt(np.maximum(sq, 0.0))
    if among is None:
        np.fill_diagonal(dist, np.inf)  # a row is not its own neighbour
    else:  # the same rows may be in both: a zero distance to itself is not a neighbour
        dist[dist < 1e-7] = np.inf
    k = min(k, int(np.isfinite(dist).sum(axis=1).min())) or 1
    nearest = np.partition(dist, k - 1, axis=1)[:, :k]
    nearest = np.where(np.isfinite(nearest), nearest, 0.0)
    out: Floats = 1.0 / (nearest.mean(axis=1) + 1e-5)
    return out


def cluster_count(n_labeled: int, batch: int, n_rows: int,
                  max_clusters: int = MAX_CLUSTERS) -> int:
    """Labeled + batch clusters, at most ``max_clusters`` and never more than the rows."""
    return max(1, min(n_labeled + batch, max_clusters, n_rows))


def typiclust(pool: Floats, labeled: Floats | None, batch: int, rng: np.random.Generator,
              knn: int = KNN, max_clusters: int = MAX_CLUSTERS,
              min_cluster_size: int = MIN_CLUSTER_SIZE) -> tuple[Ints, Floats]:
    """Choose ``batch`` rows of ``pool`` (TypiClust). ``labeled``: the labeled items' vectors
    (None or empty at the start). Returns the rows, in the order taken, and each one's
    typicality."""
    x = normalize_rows(pool)
    n = len(x)
    batch = min(batch, n)
    if batch <= 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    lab = normalize_rows(labeled) if labeled is not None and len(labeled) else x[:0]
    every = np.concatenate([x, lab]) if len(lab) else x
    k = cluster_count(len(lab), batch, len(every), max_clusters)
    if len(every) > FIT_SAMPLE:  # fit on a sample, assign every row to its nearest centre
        fit_rows = rng.choice(len(every), FIT_SAMPLE, replace=False)
        centroids, _ = spherical_kmeans(every[fit_rows], k, rng)
        assign = np.concatenate([(every[s:s + 4096] @ centroids.T).argmax(axis=1)
                                 for s in range(0, len(every), 4096)])
    else:
        centroids, assign = spherical_kmeans(every, k, rng)
    k = len(centroids)
    size = np.bincount(assign, minlength=k)
    covered = np.bincount(assign[n:], minlength=k)  # labeled items per cluster
    members = [np.flatnonzero(assign == c) for c in range(k)]
    free = np.ones(n, dtype=bool)
    scores: dict[int, Floats] = {}  # cluster -> typicality of its pool members
    chosen: list[int] = []
    values: list[float] = []
    for _ in range(batch):
        open_ = np.array([bool(free[m[m < n]].any()) for m in members])
        candidates = np.flatnonzero(open_ & (size >= min_cluster_size))
        if not len(candidates):
            candidates = np.flatnonzero(open_)
        # fewest labeled or chosen first; among those the largest; then the lowest number
        order = np.lexsort((candidates, -size[candidates], covered[candidates]))
        c = int(candidates[order[0]])
        if c not in scores:
            scores[c] = _cluster_typicality(every, members[c], n, knn, rng)
        rows = members[c][members[c] < n]
        typ = np.where(free[rows], scores[c], -np.inf)
        best = int(np.argmax(typ))
        pick = int(rows[best])
        free[pick] = False
        covered[c] += 1
        chosen.append(pick)
        values.append(float(typ[best]))
    return np.array(chosen, dtype=int), np.array(values)


def _cluster_typicality(every: Floats, rows: Ints, n_pool: int, knn: int,
                        rng: np.random.Generator) -> Floats:
    """Typicality of the cluster's pool rows, among all of the cluster's rows (labeled too);
    a large cluster's neighbours are looked for in a random sample of it."""
    among = rows if len(rows) <= TYPICALITY_SAMPLE else \
        rng.choice(rows, TYPICALITY_SAMPLE, replace=False)
    pool_rows = rows[rows < n_pool]
    if len(among) == len(rows):  # the same set: exclude each row itself by position
        full = typicality(every[rows], knn)
        return full[rows < n_pool]
    return typicality(every[pool_rows], knn, every[among])
