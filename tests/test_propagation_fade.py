"""The propagation blend's weight faded as the labels grow (issue 17, ``propagation_fade``):
exact values, the weight the blend fits, uses and exports, and the round passing it on."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al import propagation
from alapp.ml.base import load_arrays
from alapp.ml.classifier import LogisticClassifier
from alapp.ml.propagation import GraphBlend


def test_the_weight_halves_at_fade_labels_per_class() -> None:
    assert propagation.faded_weight(0.3, 0, 4, 48) == pytest.approx(0.3)
    assert propagation.faded_weight(0.3, 192, 4, 48) == pytest.approx(0.15)  # 48 per class
    assert propagation.faded_weight(0.3, 64, 4, 48) == pytest.approx(0.3 * 48 / 64)
    assert propagation.faded_weight(0.3, 800, 2, 48) == pytest.approx(0.3 * 48 / 448)
    assert propagation.faded_weight(0.3, 800, 2, 0) == 0.3  # 0: never fades


def _blend(fade: float) -> tuple[GraphBlend, np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0, 0], [0, 3.0, 0]])
    y = np.repeat([0, 1], 30)
    x = centres[y] + rng.normal(size=(60, 3)) * 1.5  # overlapping: the two sources differ
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    graph = propagation.build_graph(unit, np.ones(60, dtype=bool), 5)
    labels = ["a", "b"]
    rows = np.arange(0, 60, 3)  # 20 labels, 10 per class
    blend = GraphBlend(LogisticClassifier(labels), x, graph, unit, 0.3, fade=fade)
    blend.fit(rows, [labels[c] for c in y[rows]])
    return blend, x, labels


def test_the_blend_fits_the_faded_weight_uses_it_and_exports_it() -> None:
    blend, x, _ = _blend(fade=10)  # 10 labels per class: half of 0.3
    assert blend.weight == pytest.approx(0.15) and blend.set_weight == 0.3
    stored = load_arrays(blend.weights() or b"")
    assert float(stored["blend_weight"][0]) == pytest.approx(0.15)
    rows = np.arange(60)
    base = blend.base.predict_proba(x[rows])
    spread = blend.spread.predict_proba(rows)
    np.testing.assert_allclose(blend.predict_proba(rows), 0.85 * base + 0.15 * spread)
    assert not np.allclose(blend.predict_proba(rows), 0.7 * base + 0.3 * spread)
    unfaded, _, _ = _blend(fade=0)
    assert unfaded.weight == 0.3


def test_the_round_hands_the_setting_to_the_blend(monkeypatch) -> None:
    from alapp.loop.simulate import SimulationConfig, simulate
    from alapp.ml import propagation as ml_propagation

    weights: list[tuple[float, float]] = []
    real = ml_propagation.GraphBlend.fit

    def spy(self, rows, y):
        real(self, rows, y)
        weights.append((len(y), self.weight))

    monkeypatch.setattr(ml_propagation.GraphBlend, "fit", spy)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    y = np.repeat([0, 1, 2], 40)
    x = centres[y] + rng.normal(size=(120, 8))
    cfg = SimulationConfig(["margin"], batch=6, budget=18, seeds=1,
                           settings={"propagation_weight": 0.3, "propagation_fade": 2,
                                     "self_training": False})
    simulate(x[:90], y[:90], x[90:], y[90:], cfg)
    # the full-pool reference (90 labels: 30 per class), then 6, 12 and 18 labels (2, 4 and 6
    # per class): 0.3 x 2 / (2 + labels per class)
    assert [n for n, _ in weights] == [90, 6, 12, 18]
    assert [w for _, w in weights] == pytest.approx([0.01875, 0.15, 0.1, 0.075])


def test_the_setting_is_checked_as_alapp_config_does() -> None:
    from alapp.al.registry import STRATEGIES
    from alapp.core.settings import ProjectSettings, check_setting, parse_setting

    assert ProjectSettings().propagation_fade == 0.0  # the shipped default never fades
    assert parse_setting("propagation_fade", "48") == 48.0
    assert check_setting("propagation_fade", 48.0, STRATEGIES) is None
    assert "labels per class from 0" in (check_setting("propagation_fade", -1.0, STRATEGIES)
                                         or "")
