"""The cost model's bias (lecture 000: active learning asks for the hardest texts, so a cost
model trained on them learns what hard texts cost): the model's uncertainty is fed to it, the
unbiased items (random share, test set) are weighted up, and on a random held-out set the
corrected model's error is lower (bench/bench_cost_bias.py, on a fixed seed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from alapp.al import costmodel
from alapp.al.costmodel import (
    LearnedCost,
    LengthCost,
    holdout_error,
    margin_uncertainty,
    text_stats,
    unbiased_weights,
    with_uncertainty,
)
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.types import ItemId
from alapp.loop import round as round_module
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_cost_bias",
                                                  ROOT / "bench" / "bench_cost_bias.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_margin_uncertainty_by_hand() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.1, 0.3, 0.6]])
    # 1 - (p1 - p2): 1 - 0.5, 1 - 0, 1 - 1, 1 - (0.6 - 0.3)
    assert margin_uncertainty(probs) == pytest.approx([0.5, 1.0, 0.0, 0.7])
    assert margin_uncertainty(np.ones((3, 1))).tolist() == [0.0, 0.0, 0.0]  # one class
    stats = text_stats(["a b", "c"], 2)
    assert stats[:, -1].tolist() == [0.0, 0.0]
    fed = with_uncertainty(stats, np.array([0.25, 0.75]))
    assert fed[:, costmodel.STAT_NAMES.index("uncertainty")].tolist() == [0.25, 0.75]
    assert stats[:, -1].tolist() == [0.0, 0.0]  # a copy


def test_unbiased_weights() -> None:
    # 4 chosen, 1 random: the random one weighs 4 (together as much as the chosen)
    assert unbiased_weights([False] * 4 + [True]).tolist() == [1, 1, 1, 1, 4]
    # 30 chosen, 1 random: capped at 10
    assert unbiased_weights([False] * 30 + [True])[-1] == 10.0
    # more random than chosen: never weighted down
    assert unbiased_weights([False, True, True, True]).tolist() == [1, 1, 1, 1]
    assert unbiased_weights([False, False]).tolist() == [1, 1]
    assert unbiased_weights([]).tolist() == []


def test_weighted_fits_follow_their_weights() -> None:
    tokens = np.array([5.0, 10, 20, 40, 80, 7, 30])
    stats = np.zeros((len(tokens), len(costmodel.STAT_NAMES)))
    stats[:, 1] = np.log(tokens)
    seconds = 3 + 0.8 * tokens
    seconds[-2:] = [100.0, 1.0]  # two outliers, weighted out below
    weights = np.array([1, 1, 1, 1, 1, 0, 0], dtype=float)
    weighted = LengthCost().fit(stats, seconds, weights=weights)
    assert (weighted.a, weighted.b) == pytest.approx((3, 0.8), rel=1e-6)
    # A weight of 2 is a row counted twice (the ridge keeps its strength: weights are rescaled
    # to sum to n, so compare with a model of the same n).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, len(costmodel.STAT_NAMES)))
    x[:, 1] = np.log(rng.integers(3, 60, 40))
    y = np.exp(x[:, 1]) * np.exp(0.3 * x[:, 3] + rng.normal(0, 0.1, 40))
    doubled = LearnedCost(alpha=0.0).fit(np.vstack([x, x[:5]]), np.concatenate([y, y[:5]]))
    w = np.ones(40)
    w[:5] = 2.0
    heavy = LearnedCost(alpha=0.0).fit(x, y, weights=w)
    assert heavy.predict(x[:8]) == pytest.approx(doubled.predict(x[:8]), rel=1e-3)


def test_the_error_is_measured_on_random_items_when_there_are_enough() -> None:
    rng = np.random.default_rng(1)
    stats = text_stats([" ".join(["w"] * k) for k in rng.integers(3, 80, 60)], 3)
    seconds = 4 + 0.5 * np.exp(stats[:, 1]) * rng.lognormal(0, 0.2, 60)
    mask = np.zeros(60, dtype=bool)
    mask[:12] = True
    result = holdout_error("learned", stats, seconds, [], unbiased=mask)
    assert result is not None and result[2] == "random items"
    few = mask.copy()
    few[5:] = False
    assert holdout_error("learned", stats, seconds, [], unbiased=few)[2] == "timed labels"
    est = costmodel.estimate_costs("learned", stats, seconds, [], stats[:3],
                                   measured_unbiased=mask)
    assert est.error_basis == "random items" and est.mae_s is not None


def test_the_corrected_model_errs_less_on_a_random_held_out_set() -> None:
    bench = _bench()
    result = bench.experiment(seed=0, pool=2000, rounds=12, held_out=500)
    before, after = result["uncorrected"], result["corrected"]
    # Active learning bought the slow items: the uncorrected model overestimates the pool.
    assert result["labeled"]["mean_seconds_labeled"] > result["labeled"]["mean_seconds_held_out"]
    assert before["bias_s"] > 2.0
    assert after["mae_s"] < 0.75 * before["mae_s"]
    assert abs(after["bias_s"]) < 0.5 * abs(before["bias_s"])
    assert after["total_error"] < before["total_error"]
    # The length model, weighted, is less biased than unweighted.
    assert abs(result["length, weighted"]["bias_s"]) < abs(result["length, uncorrected"]["bias_s"])


def test_the_round_feeds_uncertainty_and_the_unbiased_items(tmp_path, monkeypatch) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", cost_model="learned", random_share=0.2)
    runner = RoundRunner()
    save_result(project, runner.run(snapshot_of(project)))
    session = LabelingSession.inline(project, "ann")
    for k, entry in enumerate(session.queue()):
        session.label(entry, ("billing", "delivery", "praise")[k % 3], 10_000 + 1000 * k, None)
    first = runner.run(snapshot_of(project))  # the first model: picks remember uncertainty
    session.finish_round(first)
    remembered = dict(runner._uncertainty.at_pick)
    assert {ItemId(p.item_id) for p in first.picks} <= set(remembered)
    pool_ids = [i for i in project.item_ids("pool") if i not in project.current_labels()]
    assert all(0.0 <= remembered[ItemId(p.item_id)] <= 1.0 for p in first.picks)
    assert len({round(v, 6) for v in remembered.values()}) > 1
    for entry in session.queue():
        session.label(entry, "billing", 15_000, None)
    # The first label of an item is its cost; a later change of it is not evidence.
    relabeled = session.history(1)[0].item_id
    session.relabel(relabeled, "delivery", active_ms=2_000)

    seen = {}

    def spy(name, measured_stats, seconds, annotators, pool_stats, annotator=None,
            measured_unbiased=None):
        seen.update(stats=measured_stats, seconds=seconds, pool=pool_stats,
                    unbiased=measured_unbiased)
        return costmodel.estimate_costs(name, measured_stats, seconds, annotators, pool_stats,
                                        annotator, measured_unbiased)

    monkeypatch.setattr(round_module, "estimate_costs", spy)
    snap = snapshot_of(project)
    runner.run(snap)
    column = costmodel.STAT_NAMES.index("uncertainty")
    timed = [i for i, _, ms in snap.measured if ms >= 500]
    assert len(seen["seconds"]) == len(set(timed)) == len(timed) - 1  # the relabel left out
    assert 2.0 not in seen["seconds"].tolist()
    # Each first-round pick's value is the one the model had when it was chosen.
    firsts = list(dict.fromkeys(timed))
    for row, item in enumerate(firsts):
        if item in {ItemId(p.item_id) for p in first.picks}:
            assert seen["stats"][row, column] == pytest.approx(remembered[item])
    assert seen["pool"][:, column].max() > 0  # the pool's, from this round's model
    assert len(seen["pool"]) < len(pool_ids)
    random_share = {i for i in snap.random_share}
    assert random_share  # the batches had a random share
    assert seen["unbiased"] == [i in random_share for i in firsts]
    session.close()
    project.close()
