"""The test-set score with its confidence interval (lectures 000 and 003: a large held-out test
set): Wilson's interval checked against hand computations, the test-set size a precision
needs, and a target stop that fires only when the interval's lower bound clears the target."""

from __future__ import annotations

import math

import pytest

from alapp.al import stopping
from alapp.app.rounds import snapshot_of
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project

Z95 = 1.959963984540054  # the 97.5 % normal quantile


def test_z_for_the_usual_levels() -> None:
    assert stopping.z_for(0.95) == pytest.approx(Z95, abs=1e-12)
    assert stopping.z_for(0.90) == pytest.approx(1.644853627, abs=1e-9)
    with pytest.raises(ValueError):
        stopping.z_for(1.0)


def test_wilson_interval_matches_a_hand_computation() -> None:
    # 42 of 50 right, 95 %: p = 0.84, z² = 3.841459, z²/n = 0.0768292
    # centre = (0.84 + 0.0384146) / 1.0768292 = 0.815742
    # half = 1.959964 / 1.0768292 * sqrt(0.84 * 0.16 / 50 + 3.841459 / 10000)
    #      = 1.820123 * sqrt(0.002688 + 0.000384146) = 1.820123 * 0.0554269 = 0.100884
    low, high = stopping.wilson_interval(42, 50)
    assert low == pytest.approx(0.714858, abs=2e-6)
    assert high == pytest.approx(0.916626, abs=2e-6)
    # The example: 0.84 on 250 items is [0.79, 0.88].
    low, high = stopping.wilson_interval(210, 250)
    assert (round(low, 2), round(high, 2)) == (0.79, 0.88)
    assert low == pytest.approx(0.789463, abs=2e-6) and high == pytest.approx(0.880246, abs=2e-6)


def test_wilson_interval_at_the_edges_stays_honest() -> None:
    # All 50 right: [n / (n + z²), 1], not the Wald interval's [1, 1].
    low, high = stopping.wilson_interval(50, 50)
    assert high == 1.0 and low == pytest.approx(50 / (50 + Z95**2), abs=1e-12)
    assert low == pytest.approx(0.928652, abs=2e-6)
    # None of 10 right: [0, z² / (n + z²)] = [0, 0.277533].
    low, high = stopping.wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(Z95**2 / (10 + Z95**2), abs=1e-12)
    with pytest.raises(ValueError):
        stopping.wilson_interval(3, 0)
    with pytest.raises(ValueError):
        stopping.wilson_interval(11, 10)


def test_a_lower_confidence_gives_a_narrower_interval() -> None:
    wide = stopping.wilson_interval(42, 50, 0.95)
    narrow = stopping.wilson_interval(42, 50, 0.90)
    assert wide[0] < narrow[0] < 0.84 < narrow[1] < wide[1]


def test_test_items_needed_for_a_margin() -> None:
    # n = z² p (1 - p) / m²: 3.841459 * 0.85 * 0.15 / 0.0009 = 544.21 -> 545
    assert stopping.needed_test_items(0.85, 0.03) == 545
    # unknown accuracy: the worst case p = 0.5: 3.841459 * 0.25 / 0.0009 = 1067.07 -> 1068
    assert stopping.needed_test_items(None, 0.03) == 1068
    # ±5 points at 0.84: 3.841459 * 0.1344 / 0.0025 = 206.5 -> 207
    assert stopping.needed_test_items(0.84, 0.05) == 207
    # 100 % on a few items does not mean a handful is enough: floored at p = 0.95
    assert stopping.needed_test_items(1.0, 0.03) == math.ceil(Z95**2 * 0.95 * 0.05 / 0.0009)
    with pytest.raises(ValueError):
        stopping.needed_test_items(0.8, 0.0)


def test_target_is_reached_only_when_the_lower_bound_clears_it() -> None:
    noise = stopping.target_metric(0.84, 0.85, n=250)
    assert not noise.reached
    assert noise.detail == "test accuracy 0.84 [0.79, 0.88] vs target 0.85: within noise"
    # Above the target but on 50 items: still within noise (lower bound 0.865 < 0.93).
    lucky = stopping.target_metric(0.96, 0.93, n=50)
    assert not lucky.reached and "within noise" in lucky.detail
    assert lucky.low == pytest.approx(0.865399, abs=2e-6)
    # The same score on 500 items: [0.939, 0.974] clears 0.93.
    sure = stopping.target_metric(0.96, 0.93, n=500)
    assert sure.reached and sure.low == pytest.approx(0.939026, abs=2e-6)
    assert sure.detail.startswith("test accuracy 0.96 [0.94, 0.97] vs target 0.93: reached")
    below = stopping.target_metric(0.70, 0.85, n=50)
    assert not below.reached and below.detail.endswith("below it")
    assert not stopping.target_metric(None, 0.9, n=50).reached


def test_bootstrap_interval_for_macro_f1() -> None:
    assert stopping.bootstrap_macro_f1([[25, 0], [0, 25]]) == (1.0, 1.0)
    assert stopping.bootstrap_macro_f1([[0, 0], [0, 0]]) is None
    matrix = [[20, 5], [3, 22]]  # macro-F1: (40/48 + 44/52) / 2 = 0.839744
    low, high = stopping.bootstrap_macro_f1(matrix, seed=0)
    assert 0 <= low < 0.839744 < high <= 1
    assert stopping.bootstrap_macro_f1(matrix, seed=0) == (low, high)  # reproducible
    big_low, big_high = stopping.bootstrap_macro_f1([[200, 50], [30, 220]], seed=0)
    assert big_high - big_low < (high - low) / 2  # ten times the items: about a third as wide


def test_interval_metrics_and_the_precision_line() -> None:
    metrics = {"accuracy": 0.84, "test_items": 50.0, "macro_f1": 0.839744,
               "confusion": {"labels": ["a", "b"], "matrix": [[20, 5], [3, 22]]}}
    added = stopping.interval_metrics(metrics, 0.03)
    assert added["accuracy_low"] == pytest.approx(0.714858, abs=2e-6)
    assert added["test_items_needed"] == 574  # 3.841459 * 0.84 * 0.16 / 0.0009 = 573.7
    assert added["macro_f1_low"] < 0.84 < added["macro_f1_high"]
    line = stopping.precision_line({**metrics, **added})
    assert line.startswith("accuracy 0.84 [0.71, 0.92] on 50 test items (95% interval); "
                           "macro-F1 0.84 [")
    assert line.endswith("for ±3 points you need about 574 test items; you have 50")
    assert stopping.interval_metrics({}, 0.03) == {}
    assert stopping.precision_line({"accuracy": 0.9}) == ""
    enough = {"accuracy": 0.9, "test_items": 2000.0}
    enough.update(stopping.interval_metrics(enough, 0.03))
    assert stopping.precision_line(enough).endswith("need about 385 test items; enough")


def test_the_settings_for_margin_and_confidence_are_checked() -> None:
    settings = ProjectSettings()
    assert (settings.test_margin, settings.test_confidence) == (0.03, 0.95)
    for bad in ({"test_margin": 0.0}, {"test_margin": 0.5}, {"test_confidence": 1.0},
                {"test_confidence": 0.3}):
        with pytest.raises(AlappError, match=next(iter(bad))):
            ProjectSettings(**bad).validate(strategies=["uncertainty-cluster"])


def test_a_round_reports_the_interval_and_the_target_signal_uses_it(tmp_path) -> None:
    import json

    from alapp.store.demo import demo_data_path

    project = create_demo_project(tmp_path / "p.alapp")  # 60 labeled test items
    project.update_settings(featurizer="tfidf", target_accuracy=0.5, test_margin=0.05)
    gold = {r["id"]: r["gold"] for r in map(json.loads,
                                             demo_data_path().read_text("utf-8").splitlines())}
    for item in project.item_ids("pool")[:40]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    result = RoundRunner().run(snapshot_of(project))
    m = result.metrics
    n = m["test_items"]
    assert n == 60
    low, high = stopping.wilson_interval(round(m["accuracy"] * n), n)
    assert (m["accuracy_low"], m["accuracy_high"]) == (low, high)
    assert m["test_items_needed"] == stopping.needed_test_items(m["accuracy"], 0.05)
    target = next(s for s in result.signals if s.name == "target")
    assert target.low == low and target.reached == (low >= 0.5)
    assert f"[{low:.2f}, {high:.2f}] vs target 0.50" in target.detail
    assert "accuracy_low" in result.stored_metrics()  # kept per model version
    project.close()


def test_settings_dialog_sets_the_test_precision_and_confidence(qtbot, tmp_path) -> None:
    """The interval's settings are in Settings, next to the target they qualify."""
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), [])
    qtbot.addWidget(dialog)
    assert dialog.test_margin.value() == 0.03 and dialog.test_confidence.value() == 0.95
    dialog.test_margin.setValue(0.05)
    dialog.test_confidence.setValue(0.9)
    dialog.apply()
    assert dialog.changes == {"test_margin": 0.05, "test_confidence": 0.9}
