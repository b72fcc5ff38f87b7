"""Stopping criteria, each reported as a signal with its value, usable as a hard stop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alapp.al.state import Floats, Ints
from alapp.al.uncertainty import entropy


@dataclass(frozen=True)
class Signal:
    name: str
    value: float | None  # None: not measurable yet
    threshold: float
    reached: bool
    detail: str


def budget_spent(spent: float, budget: float) -> Signal:
    if budget <= 0:
        return Signal("budget", None, budget, False, "no budget set")
    share = spent / budget
    return Signal("budget", share, 1.0, spent >= budget,
                  f"{spent:g} of {budget:g} spent ({share:.0%})")


def target_metric(value: float | None, target: float, metric: str = "accuracy") -> Signal:
    if value is None:
        return Signal("target", None, target, False, "no test-set score yet")
    return Signal("target", value, target, value >= target,
                  f"test {metric} {value:.3f}, target {target:.3f}")


def cohen_kappa(a: Ints, b: Ints) -> float:
    """Agreement of two label vectors beyond chance; 1.0 when identical."""
    a = np.asarray(a)
    b = np.asarray(b)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError("kappa needs two label vectors of the same, non-zero length")
    labels, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inverse[: len(a)], inverse[len(a):]
    observed = float(np.mean(ia == ib))
    pa = np.bincount(ia, minlength=len(labels)) / len(a)
    pb = np.bincount(ib, minlength=len(labels)) / len(b)
    expected = float(pa @ pb)
    if expected >= 1.0:  # both constant and equal: complete agreement
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def stabilizing_predictions(history: Sequence[Ints], threshold: float = 0.99,
                            window: int = 3) -> Signal:
    """Bloodgood & Vijay-Shanker (2009): stop when predictions on a fixed stop set agree
    (Cohen's kappa between consecutive rounds) at or above ``threshold`` for ``window`` rounds."""
    kappas = [cohen_kappa(history[i - 1], history[i]) for i in range(1, len(history))]
    if len(kappas) < window:
        return Signal("stabilizing", kappas[-1] if kappas else None, threshold, False,
                      f"{len(kappas)} of {window} round comparisons so far")
    recent = kappas[-window:]
    return Signal("stabilizing", min(recent), threshold, min(recent) >= threshold,
                  f"kappa over the last {window} rounds: "
                  + ", ".join(f"{k:.3f}" for k in recent))


def overall_uncertainty(probs: Floats, threshold: float = 0.05) -> Signal:
    """Mean normalised entropy over the pool."""
    value = float(entropy(probs, normalize=True).mean()) if len(probs) else 0.0
    return Signal("overall-uncertainty", value, threshold, value <= threshold,
                  f"mean normalised entropy {value:.3f}")


def max_confidence(probs: Floats, threshold: float = 0.9) -> Signal:
    """Zhu et al. (2008): stop when even the least confident pool item is confident enough."""
    value = float(probs.max(axis=1).min()) if len(probs) else 1.0
    return Signal("max-confidence", value, threshold, value >= threshold,
                  f"least confident pool item at {value:.3f}")


def labels_to_reach(labels: Sequence[float], accuracy: Sequence[float],
                    target: float) -> float | None:
    """Forecast from the learning curve so far: fit accuracy = a + b log(labels) and solve for
    the target. None when the curve is too short or not rising."""
    x = np.log(np.asarray(labels, dtype=float))
    y = np.asarray(accuracy, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0:
        return None
    b, a = np.polyfit(x, y, 1)
    if b <= 0:
        return None
    return float(np.exp((target - a) / b))


def labels_to_stabilize(labels: Sequence[float], kappas: Sequence[float],
                        threshold: float = 0.99) -> float | None:
    """Forecast of when the stabilizing-predictions signal fires: the disagreement between
    rounds, 1 - kappa, shrinks roughly as a power of the labels, so fit
    log(1 - kappa) = a + b log(labels) and solve for 1 - threshold. Already there: the labels
    at which it first got there. None when there are too few rounds or it is not shrinking."""
    points = [(float(n), 1.0 - float(k)) for n, k in zip(labels, kappas, strict=True) if n > 0]
    for n, disagreement in points:
        if disagreement <= 1.0 - threshold:
            return n
    if len(points) < 3:
        return None
    x = np.log([n for n, _ in points])
    y = np.log([d for _, d in points])
    if np.ptp(x) == 0:
        return None
    b, a = np.polyfit(x, y, 1)
    if b >= 0:
        return None
    return float(np.exp((np.log(1.0 - threshold) - a) / b))


def classification_change(previous: Ints, current: Ints, threshold: float = 0.0) -> Signal:
    """Zhu et al. (2008): stop when (almost) no pool prediction changed since the last round."""
    changed = float(np.mean(np.asarray(previous) != np.asarray(current))) if len(current) else 0.0
    return Signal("classification-change", changed, threshold, changed <= threshold,
                  f"{changed:.1%} of pool predictions changed")
