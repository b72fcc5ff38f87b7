from __future__ import annotations

import numpy as np
import pytest

from alapp.al import stopping


def test_cohen_kappa_hand_example() -> None:
    a = np.array([0, 0, 1, 1, 0, 1, 0, 0, 1, 1])
    b = np.array([0, 1, 1, 1, 0, 1, 0, 0, 0, 1])
    # observed 0.8; expected 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa 0.6
    assert stopping.cohen_kappa(a, b) == pytest.approx(0.6)
    assert stopping.cohen_kappa(a, a) == 1.0
    assert stopping.cohen_kappa(np.zeros(4), np.zeros(4)) == 1.0


def test_stabilizing_predictions_needs_three_stable_rounds() -> None:
    base = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0] * 10)
    changed = base.copy()
    changed[:10] = 2
    history = [changed, base, base, base]
    signal = stopping.stabilizing_predictions(history[:3])
    assert not signal.reached and "2 of 3" in signal.detail
    assert stopping.stabilizing_predictions([*history[1:], base]).reached
    assert not stopping.stabilizing_predictions(history).reached


def test_budget_target_uncertainty_confidence_and_change() -> None:
    assert stopping.budget_spent(10, 10).reached
    assert stopping.budget_spent(5, 10).value == 0.5
    assert stopping.budget_spent(5, 0).value is None
    assert stopping.target_metric(0.91, 0.9).reached
    assert not stopping.target_metric(None, 0.9).reached
    confident = np.array([[0.999, 0.001], [0.998, 0.002]])
    unsure = np.array([[0.99, 0.01], [0.5, 0.5]])
    assert stopping.overall_uncertainty(confident).reached
    assert not stopping.overall_uncertainty(unsure).reached
    assert stopping.max_confidence(confident).value == pytest.approx(0.998)
    assert not stopping.max_confidence(unsure).reached
    change = stopping.classification_change(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    assert change.value == 0.25 and not change.reached


def test_labels_to_reach_extrapolates_a_log_curve() -> None:
    labels = [20, 40, 80, 160]
    accuracy = [0.5 + 0.1 * np.log(n / 20) / np.log(2) for n in labels]  # +0.1 per doubling
    exact = stopping.labels_to_reach(labels, accuracy, 0.9)
    assert exact.credible and exact.centre == pytest.approx(320, rel=1e-6)
    assert not stopping.labels_to_reach(labels[:2], accuracy[:2], 0.9).credible
    assert not stopping.labels_to_reach(labels, [0.8, 0.7, 0.6, 0.5], 0.9).credible


def test_labels_to_stabilize_extrapolates_a_power_law() -> None:
    labels = [20, 40, 80, 160]
    kappas = [1 - 0.5 * (n / 20) ** -1.0 for n in labels]  # disagreement halves per doubling
    # 1 - kappa = 0.03 at 0.5 * 20 / 0.03 = 333 labels
    assert stopping.labels_to_stabilize(labels, kappas, 0.97).centre == pytest.approx(
        1000 / 3, rel=1e-6)
    # 0.01 at 1000 labels: more than 3x the 160 so far, no forecast
    assert not stopping.labels_to_stabilize(labels, kappas, 0.99).credible
    assert not stopping.labels_to_stabilize(labels[:2], kappas[:2]).credible
    assert not stopping.labels_to_stabilize(labels, [0.9, 0.8, 0.7, 0.6]).credible
    # one round at the threshold is not the signal firing (three in a row are)
    assert not stopping.labels_to_stabilize([10, 20, 30], [0.5, 0.995, 0.999]).reached
