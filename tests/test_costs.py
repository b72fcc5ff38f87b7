"""Cost models: the learned one beats the length model where time depends on more than length;
budget numbers reconcile with the stored events; costs reach the batch."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.costmodel import (
    LearnedCost,
    LengthCost,
    estimate_costs,
    holdout_error,
    text_stats,
    token_count,
    trust_level,
)
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project


def _synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    words = "order parcel refund заказ посылка 订单 快递 发票 12345 987 !!".split()
    texts = [" ".join(rng.choice(words, rng.integers(3, 40))) for _ in range(n)]
    stats = text_stats(texts, 5)
    annotators = ["fast" if i % 2 else "slow" for i in range(n)]
    # time grows with length, but also with the share of digits and for one annotator
    seconds = ((4 + 0.5 * np.exp(stats[:, 1])) * np.exp(3 * stats[:, 3])
               * np.where(np.array(annotators) == "slow", 1.8, 1.0)
               * np.exp(rng.normal(0, 0.2, n)))
    return texts, stats, seconds, annotators


def test_token_count_handles_chinese() -> None:
    assert token_count("hello big world") == 3
    assert token_count("你好世界") == 4
    assert token_count("заказ 12 шт") == 3


def test_learned_model_beats_length_when_time_depends_on_more() -> None:
    _, stats, seconds, annotators = _synthetic()
    learned = holdout_error("learned", stats, seconds, annotators)
    length = holdout_error("length", stats, seconds, annotators)
    assert learned is not None and length is not None
    assert learned[0] < 0.7 * length[0]
    assert learned[1] < length[1]


def test_learned_model_falls_back_to_the_length_prior_with_little_data() -> None:
    _, stats, seconds, annotators = _synthetic()
    few = LearnedCost().fit(stats[:2], seconds[:2], annotators[:2])
    assert np.allclose(few.predict(stats[:5]), LengthCost().predict(stats[:5]))
    assert trust_level(0) == "prior" and trust_level(10) == "low"
    assert trust_level(100) == "medium" and trust_level(500) == "high"


def test_length_model_recovers_its_line() -> None:
    _, stats, _, _ = _synthetic()
    seconds = 3 + 0.8 * np.exp(stats[:, 1])
    model = LengthCost().fit(stats, seconds)
    assert (model.a, model.b) == pytest.approx((3, 0.8), rel=1e-6)


def test_estimate_reports_error_and_trust() -> None:
    _, stats, seconds, annotators = _synthetic(200)
    est = estimate_costs("learned", stats[:150], seconds[:150], annotators[:150], stats[150:],
                         "slow")
    assert est.seconds.shape == (50,) and (est.seconds > 0).all()
    assert est.trust == "high" and est.mae_s is not None and est.relative_error is not None


def test_costs_reach_the_batch_and_price_cap_holds(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", cost_model="length", price_cap_s=12.0)
    result = RoundRunner().run(snapshot_of(project))
    assert result.cost is not None and result.cost.trust == "prior"
    assert all(p.predicted_cost is not None and p.predicted_cost <= 12.0 for p in result.picks)
    project.close()


def test_budget_and_forecast_reconcile_with_events(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", budget_unit="money", budget_amount=10.0,
                            hourly_rate=60.0)
    save_result(project, RoundRunner().run(snapshot_of(project)))
    session = LabelingSession.inline(project, "ann")
    times = [30_000, 45_000, 15_000]
    for ms in times:
        entry = session.current()
        assert entry is not None
        session.label(entry, "billing", ms, None)
    money = sum(times) / 3_600_000 * 60.0
    numbers = session.budget()
    assert numbers["spent"] == pytest.approx(money)
    assert numbers["remaining"] == pytest.approx(10.0 - money)
    forecast = session.forecast()
    assert forecast["pace_s_per_label"] == pytest.approx(30.0)
    assert forecast["labels_left_in_budget"] == pytest.approx((10.0 - money) / (30 / 3600 * 60))
    assert forecast["next_batch_s"] == pytest.approx(
        sum(e.predicted_cost or 0 for e in session.queue()))
    project.close()


def test_forecast_to_stable_predictions_uses_stored_signal_values(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf")
    session = LabelingSession.inline(project, "ann")
    runner = RoundRunner()
    session.finish_round(runner.run(snapshot_of(project)))
    for _ in range(3):  # label a batch, retrain: each round adds a kappa on the stop set
        for entry in session.queue()[:10]:
            session.label(entry, "billing" if entry.item_id % 2 else "delivery", 20_000, None)
        session.finish_round(runner.run(snapshot_of(project)))
    kappas = [m.get("signal_stabilizing") for _, m in session.model_history()]
    assert sum(k is not None for k in kappas) >= 2  # stored with every version after the first
    forecast = session.forecast()
    assert "labels_to_stable" in forecast and "hours_to_stable" in forecast
    if forecast["labels_to_stable"] is not None and forecast["hours_to_stable"] is not None:
        done = session.model_history()[-1][0]
        assert forecast["hours_to_stable"] == pytest.approx(
            max(0.0, forecast["labels_to_stable"] - done) * 20 / 3600)
    project.close()
