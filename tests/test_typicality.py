"""Typicality-based cold start (TypiClust, issue 17) on a constructed pool with known picks."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.batch import BatchRequest, compose_batch
from alapp.al.registry import SOURCES, STRATEGIES, strategy_params
from alapp.al.state import PoolState
from alapp.al.typicality import cluster_count, typicality, typiclust
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings, check_setting


def on_circle(degrees: list[float]) -> np.ndarray:
    a = np.radians(degrees)
    return np.c_[np.cos(a), np.sin(a)]


# Two dense regions, 90 degrees apart. Region A (rows 0-5) is the larger; with two neighbours
# the most typical of A is 0 degrees (row 2: neighbours at 3 and 4 degrees, mean 3.5), of B
# 90 degrees (row 7: neighbours at 3 and 4 degrees, mean 3.5; 93 degrees has 3 and 6: 4.5).
A = [-10, -4, 0, 3, 9, 25]
B = [86, 90, 93, 99, 104]
POOL = on_circle(A + B)


def test_typicality_is_the_inverse_mean_distance_to_the_nearest_neighbours() -> None:
    x = on_circle([0, 3, 7])
    chord = lambda deg: 2 * np.sin(np.radians(deg) / 2)  # noqa: E731
    expected = [1 / (chord(3) + 1e-5), 1 / (chord(3) + 1e-5), 1 / (chord(4) + 1e-5)]
    assert typicality(x, knn=1) == pytest.approx(expected, rel=1e-5)
    two = 1 / ((chord(3) + chord(7)) / 2 + 1e-5)
    assert typicality(x, knn=2)[0] == pytest.approx(two, rel=1e-5)
    assert typicality(x[:1], knn=5).tolist() == [1.0]  # a lone point has no neighbours


@pytest.mark.parametrize("seed", range(5))
def test_the_largest_region_first_then_the_next_each_at_its_most_typical_item(seed) -> None:
    rows, typ = typiclust(POOL, None, 2, np.random.default_rng(seed), knn=2)
    assert rows.tolist() == [2, 7]
    assert typ[0] == pytest.approx(1 / (2 * np.sin(np.radians(3.5) / 2) + 1e-5), rel=1e-2)


@pytest.mark.parametrize("seed", range(5))
def test_a_region_already_labeled_is_skipped(seed) -> None:
    labeled = on_circle([1.0])  # one label in region A: three clusters, A covered
    rows, _ = typiclust(POOL, labeled, 1, np.random.default_rng(seed), knn=2)
    assert rows.tolist() == [7]


def test_clusters_are_labeled_plus_batch_capped() -> None:
    assert cluster_count(10, 20, 1000) == 30
    assert cluster_count(900, 20, 5000) == 500  # the paper's cap
    assert cluster_count(0, 20, 7) == 7


def test_a_batch_larger_than_the_regions_is_still_unique() -> None:
    rows, _ = typiclust(POOL, None, 11, np.random.default_rng(0))
    assert sorted(rows.tolist()) == list(range(11))


def test_registered_with_its_source() -> None:
    assert "typiclust" in STRATEGIES
    assert "Hacohen" in SOURCES["typiclust"]


def state(n_labeled: int) -> PoolState:
    probs = np.tile([0.6, 0.4], (len(POOL), 1))
    return PoolState(ids=np.arange(100, 100 + len(POOL)), probs=probs, embeddings=POOL,
                     labeled_embeddings=on_circle([1.0])[:n_labeled], n_labeled=n_labeled)


def test_the_first_round_takes_typical_items_when_cold_start_is_typiclust() -> None:
    settings = ProjectSettings(cold_start="typiclust")
    request = BatchRequest(settings.strategy, 2, 0.0, params=strategy_params(settings))
    picks = compose_batch(state(0), request)
    assert [(p.item_id, p.strategy) for p in picks] == [(102, "typiclust"), (108, "typiclust")]
    assert ProjectSettings().cold_start == "centroids"  # the default, by measurement
    request.params = strategy_params(ProjectSettings())
    assert {p.strategy for p in compose_batch(state(0), request)} == {"cold-start"}


def test_cold_start_labels_keeps_the_cold_start_while_labels_are_few() -> None:
    params = strategy_params(ProjectSettings(cold_start="typiclust", cold_start_labels=2))
    picks = compose_batch(state(1), BatchRequest("margin", 1, 0.0, params=params))
    # A is covered by the label; with the default 20 neighbours (all 4 others in B) the most
    # typical of B is 93 degrees (row 8: mean distance to the rest 6.75 degrees, 90's: 7.5)
    assert [(p.item_id, p.strategy) for p in picks] == [(108, "typiclust")]
    params = strategy_params(ProjectSettings(cold_start="typiclust",
                                             cold_start_labels=1))  # reached: margin again
    picks = compose_batch(state(1), BatchRequest("margin", 1, 0.0, params=params))
    assert picks[0].strategy == "margin"


def test_the_settings_are_checked() -> None:
    assert check_setting("cold_start", "centroids", ()) is None
    assert "typiclust or centroids" in (check_setting("cold_start", "kmeans", ()) or "")
    assert check_setting("cold_start_labels", -1, ()) is not None
    with pytest.raises(AlappError):
        ProjectSettings(cold_start="nope").validate(strategies=STRATEGIES)
