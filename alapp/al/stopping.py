"""Stopping criteria, each reported as a signal with its value, usable as a hard stop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

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
    # The value's confidence interval, where it has one (the target signal on the test set).
    low: float | None = None
    high: float | None = None


# Floating-point slack: 0.1 + 0.2 hours spent of a 0.3-hour budget is spent.
_SPENT_SLACK = 1e-9


def budget_spent(spent: float, budget: float, detail: str = "") -> Signal:
    """Fires when ``spent`` reaches ``budget`` (same unit); no budget (0) never fires.
    ``detail``: the line to show (the caller's wording in the budget's unit and currency)."""
    if budget <= 0:
        return Signal("budget", None, budget, False, "no budget set")
    share = spent / budget
    return Signal("budget", share, 1.0, spent >= budget * (1 - _SPENT_SLACK),
                  detail or f"{spent:g} of {budget:g} spent ({share:.0%})")


# -- how sure is a test-set score? ------------------------------------------------------------

DEFAULT_CONFIDENCE = 0.95


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level: 1.959964 for 95 %."""
    if not 0 < confidence < 1:
        raise ValueError(f"a confidence level is between 0 and 1, not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: float, n: float,
                    confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson 1927): unlike p ± z sqrt(p(1-p)/n) it
    stays inside [0, 1] and does not collapse to a point at 0 or n successes, which a small
    test set (50 items at 96 %) makes common.

        centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)
    """
    if n <= 0:
        raise ValueError("an interval needs at least one test item")
    if not 0 <= successes <= n:
        raise ValueError(f"{successes} successes out of {n} is not a proportion")
    z = z_for(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    return low, 1.0 if successes == n else min(1.0, centre + half)


def needed_test_items(p: float | None, margin: float,
                      confidence: float = DEFAULT_CONFIDENCE) -> int:
    """Test items for a ± ``margin`` interval on an accuracy near ``p`` (normal approximation,
    n = z² p (1 - p) / margin², rounded up); unknown ``p``: the worst case 0.5. A proportion
    near 0 or 1 is floored at 0.05 / 0.95 so the advice never says a handful of items is enough."""
    if not 0 < margin < 1:
        raise ValueError(f"a margin is between 0 and 1, not {margin}")
    q = 0.5 if p is None else min(max(p, 0.05), 0.95)
    z = z_for(confidence)
    return math.ceil(z * z * q * (1 - q) / (margin * margin) - 1e-9)


def bootstrap_macro_f1(matrix: Sequence[Sequence[float]], confidence: float = DEFAULT_CONFIDENCE,
                       resamples: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """A percentile bootstrap interval for macro-F1 from a confusion matrix (rows: truth,
    columns: guesses): the test items are resampled with replacement, i.e. the cells' counts
    drawn from a multinomial with the observed shares. None without test items."""
    counts = np.asarray(matrix, dtype=float)
    n = int(counts.sum())
    if n == 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, counts.ravel() / n, size=resamples).reshape(
        resamples, *counts.shape).astype(float)
    hits = np.diagonal(draws, axis1=1, axis2=2)
    predicted, actual = draws.sum(axis=1), draws.sum(axis=2)
    precision = hits / np.maximum(predicted, 1)
    recall = hits / np.maximum(actual, 1)
    f1 = np.where(precision + recall > 0,
                  2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = (predicted + actual) > 0  # classes in the truth or the guesses, as task.metrics
    macro = (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(macro, tail)), float(np.percentile(macro, 100 - tail))


def interval_metrics(metrics: dict[str, Any], margin: float,
                     confidence: float = DEFAULT_CONFIDENCE) -> dict[str, float]:
    """What a round adds to its test metrics: the accuracy's Wilson interval, macro-F1's
    bootstrap interval and how many test items the asked-for precision (± ``margin``) needs.
    Empty without a test-set score."""
    accuracy, n = metrics.get("accuracy"), metrics.get("test_items")
    if accuracy is None or not n:
        return {}
    low, high = wilson_interval(round(accuracy * n), n, confidence)
    out = {"accuracy_low": low, "accuracy_high": high, "confidence": confidence,
           "test_margin": margin,
           "test_items_needed": float(needed_test_items(accuracy, margin, confidence))}
    confusion = metrics.get("confusion")
    f1 = bootstrap_macro_f1(confusion["matrix"], confidence) if confusion else None
    if f1 is not None:
        out["macro_f1_low"], out["macro_f1_high"] = f1
    return out


def _points(x: float) -> str:
    """A share in percentage points: 0.03 -> "3", 0.025 -> "2.5"."""
    return f"{x * 100:.1f}".rstrip("0").rstrip(".")


def precision_line(metrics: dict[str, Any]) -> str:
    """"accuracy 0.84 [0.79, 0.88] on 50 test items (95 % interval); for ±3 points you need
    about 545 test items; you have 50", from a round's metrics (with ``interval_metrics``).
    Empty without a test-set score."""
    if "accuracy_low" not in metrics:
        return ""
    n = int(metrics["test_items"])
    needed = int(metrics["test_items_needed"])
    line = (f"accuracy {metrics['accuracy']:.2f} [{metrics['accuracy_low']:.2f}, "
            f"{metrics['accuracy_high']:.2f}] on {n:,} test item{'' if n == 1 else 's'} "
            f"({metrics['confidence']:.0%} interval)")
    if "macro_f1_low" in metrics and "macro_f1" in metrics:
        line += (f"; macro-F1 {metrics['macro_f1']:.2f} [{metrics['macro_f1_low']:.2f}, "
                 f"{metrics['macro_f1_high']:.2f}]")
    enough = "enough" if n >= needed else f"you have {n:,}"
    return (f"{line}; for ±{_points(metrics['test_margin'])} points you need about "
            f"{needed:,} test items; {enough}")


def target_metric(value: float | None, target: float, metric: str = "accuracy",
                  n: float | None = None, confidence: float = DEFAULT_CONFIDENCE) -> Signal:
    """The target quality on the held-out test set. With ``n`` (the test items) the score's
    Wilson interval decides: reached only when its lower bound clears the target; a target
    inside the interval is "within noise" (a 50-item test set cannot tell 0.84 from 0.85).
    Without ``n`` the point value is compared (no interval can be had)."""
    if value is None:
        return Signal("target", None, target, False, "no test-set score yet")
    if not n:
        return Signal("target", value, target, value >= target,
                      f"test {metric} {value:.3f}, target {target:.3f}")
    low, high = wilson_interval(round(value * n), n, confidence)
    shown = f"test {metric} {value:.2f} [{low:.2f}, {high:.2f}] vs target {target:.2f}"
    if low >= target:
        verdict = "reached: the interval's lower bound clears it"
    elif high < target:
        verdict = "below it"
    else:
        verdict = ("within noise: more test items narrow the interval"
                   if value >= target else "within noise")
    return Signal("target", value, target, low >= target, f"{shown}: {verdict}", low, high)


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


# A forecast is shown only when it is credible: enough model versions, and a target within a
# bounded extrapolation of the curve so far (and within the pool).
MIN_POINTS = 4
MAX_EXTRAPOLATION = 3.0  # never forecast beyond 3x the labels so far
RESAMPLES = 400  # residual bootstrap of the fit, for the range
RANGE = (10.0, 90.0)  # percentiles of the bootstrap forecasts: an 80 % range


@dataclass(frozen=True)
class Forecast:
    """When a stopping signal is expected to fire, as a range of labels (``low``..``high``),
    or, with ``low`` None, why there is no credible forecast (``note``). ``basis`` says what it
    rests on ("from 6 test-set scores")."""

    low: float | None
    high: float | None
    basis: str
    reached: bool = False  # the signal has fired already (``low`` = ``high`` = where it did)
    note: str = ""

    @property
    def credible(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def centre(self) -> float | None:
        """The middle of the range (geometric: the fits are on log labels)."""
        if self.low is None or self.high is None:
            return None
        return float(np.sqrt(self.low * self.high))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _bounded(labels: Sequence[float], pool: float | None, max_factor: float) -> tuple[float, str]:
    done = max(labels)
    bound = max_factor * done
    why = f"{max_factor:g}x the {done:.0f} labels so far"
    if pool is not None and pool < bound:
        bound, why = float(pool), f"the pool of {pool:.0f} items"
    return bound, why


def _inverse_fit(x: Floats, y: Floats, goal: float, rising: bool,
                 seed: int) -> tuple[float | None, Floats]:
    """Fit y = a + b x, solve for y = goal (x, on the fit's scale); and the same for fits on
    residual-bootstrap resamples (x fixed, residuals drawn with replacement, inflated for the
    two fitted parameters). A fit going the wrong way solves to +inf."""
    b, a = np.polyfit(x, y, 1)
    right_way = b > 0 if rising else b < 0
    point = float((goal - a) / b) if right_way else None
    fitted = a + b * x
    residuals = (y - fitted) * np.sqrt(len(x) / max(len(x) - 2, 1))
    rng = np.random.default_rng(seed)
    ys = fitted + rng.choice(residuals, size=(RESAMPLES, len(x)), replace=True)
    xc = x - x.mean()
    slopes = (ys - ys.mean(axis=1, keepdims=True)) @ xc / float(xc @ xc)
    intercepts = ys.mean(axis=1) - slopes * x.mean()
    ok = slopes > 0 if rising else slopes < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        solved = np.where(ok, (goal - intercepts) / np.where(ok, slopes, 1.0), np.inf)
    return point, solved


def _range(point: float | None, solved_log: Floats, labels: Sequence[float], basis: str,
           pool: float | None, max_factor: float, what: str) -> Forecast:
    done = max(labels)
    bound, why = _bounded(labels, pool, max_factor)
    if point is None:
        return Forecast(None, None, basis, note=f"not enough data yet: {what} is not improving")
    with np.errstate(over="ignore"):
        solved = np.exp(np.minimum(solved_log, 700.0))
    low = float(np.percentile(solved, RANGE[0], method="lower"))
    high = float(np.percentile(solved, RANGE[1], method="higher"))
    centre = float(np.exp(min(point, 700.0)))
    if centre > bound or high > bound:
        return Forecast(None, None, basis,
                        note=f"not enough data yet: the curve points beyond {why}")
    if high <= done:  # the fit says it should have happened already: it has not
        return Forecast(None, None, basis, note="not enough data yet: the curve is too noisy")
    return Forecast(max(low, done), high, basis)


def labels_to_reach(labels: Sequence[float], accuracy: Sequence[float], target: float,
                    pool: float | None = None, min_points: int = MIN_POINTS,
                    max_factor: float = MAX_EXTRAPOLATION, seed: int = 0) -> Forecast:
    """When the test accuracy reaches ``target``, from the learning curve so far: fit
    accuracy = a + b log(labels) and solve for the target; the range comes from the fits on
    bootstrap resamples. Credible only with ``min_points`` model versions and a forecast within
    ``max_factor`` times the labels so far (and within ``pool``, the pool's size)."""
    points = [(float(n), float(a)) for n, a in zip(labels, accuracy, strict=True) if n > 0]
    basis = f"from {_plural(len(points), 'test-set score')}"
    for n, a in points:
        if a >= target and points[-1][1] >= target:
            return Forecast(n, n, basis, reached=True)
    if len(points) < min_points or np.ptp([n for n, _ in points]) == 0:
        return Forecast(None, None, basis, note=f"not enough data yet ({len(points)} of "
                        f"{min_points} model versions)")
    x = np.log([n for n, _ in points])
    y = np.array([a for _, a in points])
    point, solved = _inverse_fit(x, y, target, rising=True, seed=seed)
    return _range(point, solved, [n for n, _ in points], basis, pool, max_factor,
                  "the test accuracy")


def labels_to_stabilize(labels: Sequence[float], kappas: Sequence[float],
                        threshold: float = 0.99, window: int = 3, pool: float | None = None,
                        min_points: int = MIN_POINTS, max_factor: float = MAX_EXTRAPOLATION,
                        seed: int = 0) -> Forecast:
    """When the stabilizing-predictions signal fires: the disagreement between rounds,
    1 - kappa, shrinks roughly as a power of the labels, so fit log(1 - kappa) = a + b
    log(labels) and solve for 1 - threshold (a range from bootstrap resamples). Reached only
    when the signal fired: ``window`` agreements in a row at the threshold."""
    points = [(float(n), float(k)) for n, k in zip(labels, kappas, strict=True) if n > 0]
    basis = f"from {_plural(len(points), 'round-to-round agreement')}"
    for i in range(window - 1, len(points)):
        if all(k >= threshold for _, k in points[i - window + 1: i + 1]) \
                and all(k >= threshold for _, k in points[-window:]):
            return Forecast(points[i][0], points[i][0], basis, reached=True)
    if len(points) < min_points or np.ptp([n for n, _ in points]) == 0:
        return Forecast(None, None, basis, note=f"not enough data yet ({len(points)} of "
                        f"{min_points} model versions)")
    x = np.log([n for n, _ in points])
    y = np.log([max(1.0 - k, 1e-4) for _, k in points])
    point, solved = _inverse_fit(x, y, float(np.log(1.0 - threshold)), rising=False, seed=seed)
    return _range(point, solved, [n for n, _ in points], basis, pool, max_factor,
                  "the agreement between rounds")


def classification_change(previous: Ints, current: Ints, threshold: float = 0.0) -> Signal:
    """Zhu et al. (2008): stop when (almost) no pool prediction changed since the last round."""
    changed = float(np.mean(np.asarray(previous) != np.asarray(current))) if len(current) else 0.0
    return Signal("classification-change", changed, threshold, changed <= threshold,
                  f"{changed:.1%} of pool predictions changed")
