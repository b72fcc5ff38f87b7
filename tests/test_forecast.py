"""Forecasts of when a stopping signal fires: shown only when credible, as a range, saying
what they rest on (hand-made curves)."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.stopping import Forecast, labels_to_reach, labels_to_stabilize


def _log_curve(labels: list[float], a: float, b: float, noise: float = 0.0,
               seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [a + b * np.log(n) + noise * rng.normal() for n in labels]


def test_a_clean_rising_curve_gives_a_range_around_the_truth() -> None:
    labels = [10, 20, 30, 40, 50, 60]
    accuracy = _log_curve(labels, 0.30, 0.10, noise=0.01)
    truth = float(np.exp((0.80 - 0.30) / 0.10))  # about 148 labels
    f = labels_to_reach(labels, accuracy, 0.80)
    assert f.credible and not f.reached
    assert f.low is not None and f.high is not None
    assert 60 <= f.low <= truth <= f.high <= 180
    assert f.high - f.low > 1  # a range, not a point
    assert f.basis == "from 6 test-set scores"


def test_noisier_curves_give_wider_ranges() -> None:
    labels = [10, 20, 30, 40, 50, 60, 70, 80]
    clean = labels_to_reach(labels, _log_curve(labels, 0.3, 0.1, 0.002), 0.78)
    noisy = labels_to_reach(labels, _log_curve(labels, 0.3, 0.1, 0.02), 0.78)
    assert clean.credible and noisy.credible
    assert (noisy.high - noisy.low) > (clean.high - clean.low)  # type: ignore[operator]


def test_too_few_model_versions_is_not_enough_data() -> None:
    f = labels_to_reach([10, 20, 30], [0.3, 0.4, 0.5], 0.9)
    assert not f.credible
    assert f.note == "not enough data yet (3 of 4 model versions)"


def test_a_flat_curve_is_no_forecast_not_twenty_million_labels() -> None:
    # What the old fit made of this: "about 20,971,520 labels to target".
    labels = [10, 20, 30, 40, 50, 60]
    accuracy = [0.50, 0.51, 0.50, 0.52, 0.51, 0.52]
    f = labels_to_reach(labels, accuracy, 0.95)
    assert not f.credible and f.note.startswith("not enough data yet")
    assert "3x the 60 labels so far" in f.note


def test_a_falling_curve_is_no_forecast() -> None:
    f = labels_to_reach([10, 20, 30, 40], [0.6, 0.55, 0.5, 0.45], 0.9)
    assert not f.credible and "not improving" in f.note


def test_extrapolation_is_bounded_by_three_times_the_labels_and_by_the_pool() -> None:
    labels = [10, 20, 30, 40, 50, 60]
    accuracy = _log_curve(labels, 0.30, 0.10)
    assert labels_to_reach(labels, accuracy, 0.80).credible  # about 148 < 180
    assert not labels_to_reach(labels, accuracy, 0.85).credible  # about 245 > 180
    within_pool = labels_to_reach(labels, accuracy, 0.80, pool=400)
    assert within_pool.credible
    beyond_pool = labels_to_reach(labels, accuracy, 0.80, pool=120)
    assert not beyond_pool.credible and "pool of 120 items" in beyond_pool.note


def test_a_reached_target_says_so() -> None:
    f = labels_to_reach([10, 20, 30, 40], [0.5, 0.7, 0.82, 0.85], 0.8)
    assert f.reached and f.low == f.high == 30


def test_stable_only_when_the_signal_fired_not_at_one_good_round() -> None:
    # One round at kappa 1.0 among unstable ones: the old forecast said "stable at about 20".
    labels = [10, 20, 30, 40]
    kappas = [0.70, 1.00, 0.80, 0.85]
    f = labels_to_stabilize(labels, kappas)
    assert not f.reached
    fired = labels_to_stabilize([10, 20, 30, 40, 50], [0.7, 0.8, 0.995, 0.996, 0.999])
    assert fired.reached and fired.low == 50  # the third in a row at the threshold


def test_stabilizing_forecast_is_a_bounded_range() -> None:
    labels = [20, 40, 60, 80, 100, 120]
    # disagreement = 2 / labels (with a little noise): reaches 0.01 at about 200 labels
    rng = np.random.default_rng(1)
    kappas = [1 - 2.0 / n * float(np.exp(0.05 * rng.normal())) for n in labels]
    f = labels_to_stabilize(labels, kappas)
    assert f.credible, f
    assert f.low is not None and f.high is not None
    assert 120 <= f.low < 200 < f.high <= 360
    assert f.basis == "from 6 round-to-round agreements"
    assert not labels_to_stabilize(labels[:3], kappas[:3]).credible


@pytest.mark.parametrize("f", [Forecast(None, None, "from 2 test-set scores", note="x"),
                               Forecast(100.0, 144.0, "from 6 test-set scores")])
def test_centre(f: Forecast) -> None:
    assert f.centre == (None if f.low is None else pytest.approx(120.0))
