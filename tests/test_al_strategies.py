"""The contract every strategy keeps, whatever its method."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.batch import BatchRequest, compose_batch, random_share_count
from alapp.al.needs import Need
from alapp.al.registry import STRATEGIES, StrategyParams, StrategySpec
from alapp.al.state import PoolState


def make_state(n: int, k: int = 3, seed: int = 0, ties: bool = False,
               n_labeled: int = 10) -> PoolState:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k), size=n) if not ties else np.full((n, k), 1.0 / k)
    mc = np.stack([probs] * 4) if ties else rng.dirichlet(np.ones(k), size=(4, n))
    emb = rng.normal(size=(n, 6)) if not ties else np.ones((n, 6))
    return PoolState(
        ids=np.arange(1000, 1000 + n), probs=probs, mc_probs=mc, committee_probs=mc[:3],
        embeddings=emb, hidden=emb, activations=emb,
        validation_activations=rng.normal(size=(20, 6)),
        labeled_embeddings=rng.normal(size=(5, 6)), target_embeddings=rng.normal(size=(8, 6)),
        wrong_prob=probs[:, 0], predicted_loss=probs[:, -1], costs=1 + rng.random(n),
        n_labeled=n_labeled, round_index=2, predicted_loss_layers=probs[:, 1 % k],
        true_loss=-np.log(probs[:, 0]))


ALL = list(STRATEGIES)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("n,batch", [(200, 20), (5, 20), (1, 3), (20, 20)])
def test_size_uniqueness_and_membership(name, n, batch) -> None:
    state = make_state(n)
    picks = compose_batch(state, BatchRequest(name, batch, random_share=0.1, seed=3))
    ids = [p.item_id for p in picks]
    assert len(ids) == min(n, batch)
    assert len(set(ids)) == len(ids)
    assert set(ids) <= set(state.ids.tolist())


@pytest.mark.parametrize("name", ALL)
def test_empty_pool_gives_an_empty_batch(name) -> None:
    assert compose_batch(make_state(0), BatchRequest(name, 10)) == []


@pytest.mark.parametrize("name", ALL)
def test_one_class_only(name) -> None:
    picks = compose_batch(make_state(30, k=1), BatchRequest(name, 5))
    assert len({p.item_id for p in picks}) == 5


@pytest.mark.parametrize("name", ALL)
def test_ties_still_give_a_full_distinct_batch(name) -> None:
    picks = compose_batch(make_state(50, ties=True), BatchRequest(name, 10))
    assert len({p.item_id for p in picks}) == 10


@pytest.mark.parametrize("name", ALL)
def test_reproducible_for_a_seed_and_round(name) -> None:
    state = make_state(120)

    def run(seed, round_index):
        req = BatchRequest(name, 10, seed=seed, round_index=round_index)
        return [(p.item_id, p.is_random) for p in compose_batch(state, req)]

    assert run(7, 1) == run(7, 1)
    if name not in ("margin", "least-confidence", "ratio", "entropy", "vote-entropy",
                    "consensus-kl", "bald", "active-transfer", "learning-loss",
                    "model-outliers", "representative", "badge", "batchbald", "coreset",
                    "learning-loss-multi", "learning-loss-inverse", "learning-loss-ideal",
                    "learning-loss-ideal-inverse"):
        # Randomised strategies differ between rounds (the random share always does).
        assert run(7, 1) != run(7, 2)


@pytest.mark.parametrize("name", ALL)
def test_every_pick_says_why(name) -> None:
    for pick in compose_batch(make_state(60), BatchRequest(name, 10, random_share=0.2)):
        assert pick.strategy
        assert pick.is_random == (pick.strategy == "random share")
        assert pick.predicted_cost is not None


def test_random_share_is_marked_and_sized() -> None:
    picks = compose_batch(make_state(100), BatchRequest("margin", 20, random_share=0.1))
    assert sum(p.is_random for p in picks) == 2
    assert random_share_count(10, 0.1) == 1
    assert random_share_count(5, 0.1) == 1  # "every batch" has one
    assert random_share_count(1, 0.5) == 0
    assert random_share_count(10, 0.0) == 0


def test_score_strategies_take_the_highest_scores() -> None:
    state = make_state(100)
    picks = compose_batch(state, BatchRequest("margin", 5, random_share=0))
    p = np.sort(state.probs, axis=1)
    margin = 1 - (p[:, -1] - p[:, -2])
    assert [pk.item_id for pk in picks] == (state.ids[np.argsort(-margin)[:5]]).tolist()
    assert [pk.score for pk in picks] == pytest.approx(np.sort(margin)[::-1][:5])


def test_cold_start_uses_typical_items_or_cluster_centres_without_labels() -> None:
    picks = compose_batch(make_state(80, n_labeled=0), BatchRequest("margin", 8))
    assert {p.strategy for p in picks} == {"cold-start", "random share"}
    picks = compose_batch(make_state(80, n_labeled=0), BatchRequest(
        "margin", 8, params=StrategyParams(cold_start="typiclust")))  # issue 17
    assert {p.strategy for p in picks} == {"typiclust", "random share"}


def test_price_cap_and_roi() -> None:
    state = make_state(100)
    state.costs = np.linspace(1, 100, 100)
    picks = compose_batch(state, BatchRequest("margin", 10, price_cap=30.0, random_share=0.2))
    assert all(p.predicted_cost is not None and p.predicted_cost <= 30 for p in picks)
    cheap = compose_batch(state, BatchRequest("margin", 10, cost_aware=True, random_share=0))
    plain = compose_batch(state, BatchRequest("margin", 10, random_share=0))
    assert np.mean([p.predicted_cost for p in cheap]) < np.mean([p.predicted_cost for p in plain])
    assert cheap[0].strategy == "margin / cost"


def test_missing_inputs_are_a_clear_error() -> None:
    state = make_state(30)
    state.target_embeddings = None
    with pytest.raises(ValueError, match="target_embeddings"):
        compose_batch(state, BatchRequest("representative", 5))
    with pytest.raises(ValueError, match="unknown strategy"):
        compose_batch(state, BatchRequest("psychic", 5))


def test_schedule_moves_from_diversity_to_uncertainty() -> None:
    state = make_state(200)
    params = StrategyParams(schedule_ramp=100)
    margin = compose_batch(state, BatchRequest("margin", 10, random_share=0))
    state.n_labeled = 100
    late = compose_batch(state, BatchRequest("schedule", 10, random_share=0, params=params))
    assert {p.item_id for p in late} == {p.item_id for p in margin}
    state.n_labeled = 1
    early = compose_batch(state, BatchRequest("schedule", 10, random_share=0, params=params))
    assert len({p.item_id for p in early} & {p.item_id for p in margin}) < 5


def test_strategy_needs_are_needs_and_the_pool_state_takes_only_needs() -> None:
    from dataclasses import fields

    for spec in STRATEGIES.values():
        assert all(isinstance(n, Need) for n in (*spec.needs, *spec.optional))
    names = {f.name for f in fields(PoolState)}
    assert {n.value for n in Need} <= names  # every need has its field
    state = PoolState(ids=np.arange(3))
    state.put(Need.HIDDEN, np.ones((3, 2)))
    assert state.hidden is not None and state.get("hidden") is state.hidden
    with pytest.raises(ValueError, match="'ids' is not a need"):
        state.put("ids", np.zeros(3))
    with pytest.raises(ValueError, match="not a need"):
        state.put("hiden", np.zeros(3))
    with pytest.raises(ValueError):  # a typo in a strategy's needs is refused at once
        StrategySpec("typo", "", ("hiden",), STRATEGIES["random"].select)  # type: ignore[arg-type]
