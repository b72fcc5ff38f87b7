"""Refreshed random validation samples and the drift signal (seed 003)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from alapp.al import drift
from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundRunner
from alapp.loop.simulate import Replay


def test_tvd_and_psi_by_hand() -> None:
    assert drift.tvd([0.5, 0.5], [0.2, 0.8]) == pytest.approx(0.3)
    assert drift.tvd([1, 0, 0], [0, 0, 1]) == 1.0
    # (0.2 - 0.5) ln(0.2 / 0.5) + (0.8 - 0.5) ln(0.8 / 0.5)
    assert drift.psi([0.5, 0.5], [0.2, 0.8]) == pytest.approx(0.415888, abs=1e-6)
    assert drift.psi([0.3, 0.7], [0.3, 0.7]) == 0.0


def _probs(rng: np.random.Generator, n: int, class_p: list[float], sharp: float) -> np.ndarray:
    """Predictions of a 3-class model: a predicted class drawn from ``class_p``; ``sharp``
    sets how confident the model is."""
    k = len(class_p)
    top = rng.choice(k, size=n, p=class_p)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), top] += sharp
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(10))
def test_no_shift_is_not_drift(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = _probs(rng, 200, [0.5, 0.3, 0.2], 2.5)
    b = _probs(rng, 200, [0.5, 0.3, 0.2], 2.5)
    assert not drift.compare("x", a, b, rng).drift


def test_a_class_shift_is_drift() -> None:
    rng = np.random.default_rng(0)
    a = _probs(rng, 200, [0.5, 0.3, 0.2], 2.5)
    b = _probs(rng, 200, [0.2, 0.3, 0.5], 2.5)
    result = drift.compare("newest import", a, b, rng)
    assert result.drift and result.tvd > 0.2 and result.p_value < 0.01
    assert "newest import: predicted classes differ by" in result.detail


def test_a_confidence_shift_is_drift() -> None:
    """Same classes predicted, but the model is much less sure on the new items (the kind of
    data it has not seen)."""
    rng = np.random.default_rng(1)
    a = _probs(rng, 300, [0.4, 0.3, 0.3], 4.0)
    b = _probs(rng, 300, [0.4, 0.3, 0.3], 0.5)
    result = drift.compare("x", a, b, rng)
    assert result.drift and result.psi > drift.MIN_PSI
    assert result.confidence_sample < result.confidence_reference


def test_a_tiny_real_shift_in_a_huge_sample_is_not_drift() -> None:
    """Significant but too small to matter: both conditions are needed."""
    rng = np.random.default_rng(2)
    a = _probs(rng, 20_000, [0.50, 0.30, 0.20], 2.5)
    b = _probs(rng, 20_000, [0.47, 0.31, 0.22], 2.5)
    result = drift.compare("x", a, b, rng, permutations=50)
    assert result.p_value < 0.05 and not result.drift


def test_samples_are_refreshed_every_n_labels_and_reproducible() -> None:
    ids = np.arange(1000)
    assert np.array_equal(drift.draw(ids, 50, 0, 1), drift.draw(ids, 50, 0, 1))
    assert not np.array_equal(drift.draw(ids, 50, 0, 1), drift.draw(ids, 50, 0, 2))
    sets = drift.ValidationSets()
    probs = _probs(np.random.default_rng(0), 1000, [0.5, 0.3, 0.2], 2.5)
    imports = np.ones(1000, dtype=int)
    first = sets.check(ids, probs, imports, 120, 100, 200, 0)
    assert first is not None and first.value is None  # nothing to compare with yet
    first_sample = sets.sample.copy()
    same = sets.check(ids, probs, imports, 150, 100, 200, 0)  # same stretch of labels
    assert np.array_equal(sets.sample, first_sample) and same is not None
    later = sets.check(ids, probs, imports, 210, 100, 200, 0)  # a fresh sample
    assert later is not None and later.value is not None and not later.reached
    assert np.array_equal(sets.previous, first_sample)
    assert "previous sample" in later.detail
    assert sets.check(ids, probs, imports, 210, 0, 200, 0) is None  # off
    # Items labeled since drop out of the samples (they are no longer unlabeled pool items).
    kept = ids % 3 != 0
    fewer = sets.check(ids[kept], probs[kept], imports[kept], 230, 100, 200, 0)
    assert fewer is not None and "previous sample" in fewer.detail
    assert f"vs {len(np.intersect1d(sets.previous, ids[kept]))} items" in fewer.detail


def test_a_new_import_unlike_the_pool_raises_the_signal_and_a_like_one_does_not() -> None:
    rng = np.random.default_rng(3)
    old = _probs(rng, 600, [0.6, 0.3, 0.1], 3.0)
    same = _probs(rng, 300, [0.6, 0.3, 0.1], 3.0)
    shifted = _probs(rng, 300, [0.1, 0.3, 0.6], 3.0)
    ids = np.arange(900)
    imports = np.array([1] * 600 + [2] * 300)
    quiet = drift.ValidationSets().check(ids, np.concatenate([old, same]), imports, 0, 100,
                                         200, 0)
    loud = drift.ValidationSets().check(ids, np.concatenate([old, shifted]), imports, 0, 100,
                                        200, 0)
    assert quiet is not None and not quiet.reached
    assert loud is not None and loud.reached and loud.name == "drift"
    assert "newest import vs the earlier pool" in loud.detail
    assert "the data has shifted" in loud.detail


def _replay_with_a_new_import(shift: float) -> Replay:
    """Pool = 400 items of a first import, then 200 of a second whose items lie ``shift``
    away (new kinds of text the model has not seen)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 1.5
    y = rng.integers(0, 3, size=700)
    x = centres[y] + rng.normal(size=(700, 8))
    x[400:600] += shift
    return Replay(x[:600], y[:600], x[600:], y[600:])


@pytest.mark.parametrize("shift", [0.0, 4.0])
def test_the_round_reports_drift_on_shifted_new_data(shift: float) -> None:
    replay = _replay_with_a_new_import(shift)
    settings = ProjectSettings(name="d", featurizer="vectors:sim", strategy="margin",
                               batch_size=10, cost_model="equal", stop_set_size=0,
                               drift_every=50, drift_sample_size=150)
    snap = replay.snapshot(settings, list(range(0, 400, 10)), 1)
    snap.imports = [1] * 400 + [2] * 200 + [1] * 100
    result = RoundRunner().run(snap)
    signal = next(s for s in result.signals if s.name == "drift")
    assert signal.reached == (shift > 0), signal.detail
    off = replace(settings, drift_every=0)
    snap = replay.snapshot(off, list(range(0, 400, 10)), 1)
    assert not [s for s in RoundRunner().run(snap).signals if s.name == "drift"]
