"""Exact answers from hand-computed probability tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alapp.al import committee, uncertainty
from alapp.al.cost import normalize_utility, roi, within_price_cap
from alapp.al.minibatch import adaptive_batch_size, minibatch_slices

# The seeds' worked example: two items, three classes.
P = np.array([[0.5, 0.49, 0.01], [0.49, 0.255, 0.255]])


def test_least_confidence_prefers_the_flat_second_item() -> None:
    assert uncertainty.least_confidence(P) == pytest.approx([0.5, 0.51])
    assert uncertainty.least_confidence(P, normalize=True) == pytest.approx([0.75, 0.765])


def test_margin_and_ratio_prefer_the_close_call() -> None:
    assert uncertainty.margin(P) == pytest.approx([0.99, 0.765])
    assert uncertainty.ratio(P) == pytest.approx([0.98, 0.255 / 0.49])


def test_entropy() -> None:
    h0 = -(0.5 * math.log(0.5) + 0.49 * math.log(0.49) + 0.01 * math.log(0.01))
    h1 = -(0.49 * math.log(0.49) + 2 * 0.255 * math.log(0.255))
    assert uncertainty.entropy(P) == pytest.approx([h0, h1])
    assert uncertainty.entropy(P, normalize=True) == pytest.approx(np.array([h0, h1]) / np.log(3))
    assert uncertainty.entropy(np.array([[1.0, 0.0]])) == pytest.approx([0.0])


def test_temperature_flattens_and_sharpens() -> None:
    p = np.array([[0.8, 0.2]])
    hot = uncertainty.apply_temperature(p, 2.0)
    root = np.sqrt([0.8, 0.2])
    assert hot[0] == pytest.approx(root / root.sum())
    assert uncertainty.apply_temperature(p, 0.5)[0, 0] == pytest.approx(0.64 / 0.68)
    assert uncertainty.apply_temperature(p, 1.0) is p
    with pytest.raises(ValueError):
        uncertainty.apply_temperature(p, 0)


def test_single_class_scores_are_zero_not_errors() -> None:
    one = np.ones((3, 1))
    assert uncertainty.margin(one) == pytest.approx([0, 0, 0])
    assert uncertainty.least_confidence(one, normalize=True) == pytest.approx([0, 0, 0])
    assert uncertainty.entropy(one, normalize=True) == pytest.approx([0, 0, 0])


def test_vote_entropy_counts_votes() -> None:
    # Three members: item 0 unanimous, item 1 split 2:1.
    c = np.array([[[0.9, 0.1], [0.6, 0.4]],
                  [[0.8, 0.2], [0.3, 0.7]],
                  [[0.7, 0.3], [0.55, 0.45]]])
    h = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert committee.vote_entropy(c) == pytest.approx([0.0, h])


def test_consensus_kl() -> None:
    c = np.array([[[0.5, 0.5]], [[0.9, 0.1]]])
    mean = np.array([0.7, 0.3])
    kl = [sum(p * math.log(p / m) for p, m in zip(member, mean, strict=True))
          for member in ([0.5, 0.5], [0.9, 0.1])]
    assert committee.consensus_kl(c) == pytest.approx([np.mean(kl)])


def test_bald_is_zero_when_samples_agree_and_positive_when_they_disagree() -> None:
    agree = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    assert committee.bald(agree) == pytest.approx([0.0])
    assert committee.bald(disagree) == pytest.approx([math.log(2)])


def test_batchbald_skips_duplicates_that_bald_would_take_twice() -> None:
    """Kirsch et al.'s motivating case: a copy of a chosen item adds no information."""
    rng = np.random.default_rng(0)
    s = 30
    informative = rng.dirichlet([0.3, 0.3], size=s)  # disagreeing samples
    other = rng.dirichlet([0.5, 0.5], size=s)
    mc = np.stack([informative, informative, other], axis=1)  # items 0 and 1 identical
    assert set(np.argsort(-committee.bald(mc))[:2]) == {0, 1}
    picked, gains = committee.batch_bald(mc, 2, rng)
    assert set(picked.tolist()) == {0, 2} or set(picked.tolist()) == {1, 2}
    assert gains[0] == pytest.approx(committee.bald(mc)[picked[0]])


def test_batchbald_sampled_configurations_stay_close_to_exact() -> None:
    rng = np.random.default_rng(1)
    mc = rng.dirichlet([0.4] * 4, size=(40, 30))
    exact, exact_gains = committee.batch_bald(mc, 5, np.random.default_rng(2), max_configs=4**5)
    approx, approx_gains = committee.batch_bald(mc, 5, np.random.default_rng(2), max_configs=64)
    assert exact[:2].tolist() == approx[:2].tolist()  # identical while still enumerated
    assert approx_gains.sum() == pytest.approx(exact_gains.sum(), rel=0.15)


def test_roi_and_price_cap() -> None:
    scores = np.array([0.2, 0.6, 1.0])
    assert normalize_utility(scores) == pytest.approx([0.0, 0.5, 1.0])
    assert roi(scores, np.array([1.0, 1.0, 4.0])) == pytest.approx([0.0, 0.5, 0.25])
    assert within_price_cap(np.array([3.0, 9.0, 5.0]), 5.0).tolist() == [0, 2]
    with pytest.raises(ValueError):
        roi(scores, np.array([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("n,b,expected", [(140, 32, 35), (130, 32, 32), (64, 32, 32),
                                          (20, 32, 20), (0, 8, 1), (100, 30, 33)])
def test_adaptive_batch_size(n, b, expected) -> None:
    size = adaptive_batch_size(n, b)
    assert size == expected
    if n > b:  # what is left over is less than one item per batch: no tiny last batch
        assert n % size < n // b


@pytest.mark.parametrize("n,b", [(100, 30), (140, 32), (7, 32), (1000, 64), (65, 64)])
def test_minibatches_cover_everything_with_near_equal_sizes(n, b) -> None:
    slices = minibatch_slices(n, b)
    sizes = [s.stop - s.start for s in slices]
    assert sum(sizes) == n and slices[0].start == 0 and slices[-1].stop == n
    assert max(sizes) - min(sizes) <= 1
