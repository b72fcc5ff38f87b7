"""Confident learning (Northcutt et al. 2021): thresholds, the confident joint, label issues."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al import noisy

# Nine items, three classes. Item 2 is labeled 0 but looks like 1; item 8 is labeled 2 but
# looks like 0; item 5 (labeled 1) reaches no class's threshold.
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
PROBS = np.array([
    [0.90, 0.05, 0.05], [0.80, 0.10, 0.10], [0.10, 0.85, 0.05],
    [0.10, 0.80, 0.10], [0.05, 0.90, 0.05], [0.20, 0.70, 0.10],
    [0.10, 0.10, 0.80], [0.05, 0.05, 0.90], [0.70, 0.10, 0.20]])


def test_thresholds_joint_and_issues_by_hand() -> None:
    t = noisy.thresholds(LABELS, PROBS)
    assert t.tolist() == pytest.approx([0.6, 0.8, 1.9 / 3])
    # item 3 has p_1 = 0.8 = t_1 exactly: reaching the threshold counts
    assert noisy.confident_classes(PROBS, t).tolist() == [0, 0, 1, 1, 1, -1, 2, 2, 0]
    issues = noisy.find_label_issues(LABELS, PROBS)
    assert issues.confident_joint.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    # rows scaled to the given-label counts (3 each): row 1 counted 2 of its 3 items
    np.testing.assert_allclose(issues.calibrated_joint, [[2, 1, 0], [0, 3, 0], [1, 0, 2]])
    assert issues.estimated_errors == pytest.approx(2.0)
    assert issues.indices.tolist() == [2, 8]
    assert issues.suggested.tolist() == [1, 0]
    assert issues.scores.tolist() == pytest.approx([0.10, 0.20])  # self-confidence
    margin = noisy.find_label_issues(LABELS, PROBS, rank_by="normalized_margin")
    assert margin.indices.tolist() == [2, 8]
    assert margin.scores.tolist() == pytest.approx([(0.10 - 0.85 + 1) / 2, (0.20 - 0.70 + 1) / 2])
    joint, calibrated = noisy.confident_joint(LABELS, PROBS)
    assert (joint == issues.confident_joint).all()
    np.testing.assert_allclose(calibrated, issues.calibrated_joint)


def test_the_two_rankings_can_differ() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    probs = np.array([
        [0.50, 0.30, 0.20], [0.46, 0.30, 0.24], [0.05, 0.90, 0.05], [0.10, 0.80, 0.10],
        [0.05, 0.05, 0.90], [0.05, 0.05, 0.90], [0.05, 0.90, 0.05], [0.48, 0.48, 0.04]])
    # t = [0.48, 0.85, 0.4725]: item 6 is confidently 1, item 7 confidently 0 (it reaches
    # t_0 exactly and not t_1); both are labeled 2
    by_confidence = noisy.find_label_issues(labels, probs)
    assert by_confidence.indices.tolist() == [7, 6]  # self-confidence 0.04 < 0.05
    assert by_confidence.suggested.tolist() == [0, 1]
    by_margin = noisy.find_label_issues(labels, probs, rank_by="normalized_margin")
    assert by_margin.indices.tolist() == [6, 7]  # (0.05 - 0.9 + 1) / 2 < (0.04 - 0.48 + 1) / 2
    assert by_margin.scores.tolist() == pytest.approx([0.075, 0.28])


def test_an_item_whose_given_label_is_the_top_prediction_is_not_flagged() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.6, 0.4], [0.7, 0.3]])
    # t = [0.8167, 0.35]: item 2 reaches only class 1's threshold, yet its top class is its
    # given label 0; item 4 reaches no threshold
    issues = noisy.find_label_issues(labels, probs)
    assert issues.confident_joint.tolist() == [[2, 1], [0, 1]]
    assert issues.indices.tolist() == []
    assert issues.suggested.dtype == np.int64 and issues.scores.shape == (0,)


def test_flags_most_flipped_labels_on_a_synthetic_set() -> None:
    rng = np.random.default_rng(0)
    n, k = 600, 4
    truth = rng.integers(0, k, size=n)
    logits = rng.normal(0, 1, size=(n, k))
    logits[np.arange(n), truth] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = truth.copy()
    flipped = rng.choice(n, size=60, replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, k, size=60)) % k
    issues = noisy.find_label_issues(given, probs)
    found = set(issues.indices.tolist())
    precision = len(found & set(flipped.tolist())) / len(found)
    recall = len(found & set(flipped.tolist())) / 60
    assert precision >= 0.8 and recall >= 0.5, (precision, recall)
    right = [s == truth[i] for i, s in zip(issues.indices, issues.suggested, strict=True)
             if i in set(flipped.tolist())]
    assert np.mean(right) >= 0.9  # the suggested label is the true one
    assert 40 <= issues.estimated_errors <= 90


def test_matches_cleanlab_when_installed() -> None:
    cleanlab_filter = pytest.importorskip("cleanlab.filter")
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.ones(3) * 0.7, size=300)
    labels = np.where(rng.random(300) < 0.8, probs.argmax(axis=1), rng.integers(0, 3, 300))
    t = noisy.thresholds(labels, probs)
    above = probs >= t - 1e-6
    # cleanlab takes the overall argmax when 2+ classes are confident, the paper the argmax
    # among them: the data must not tell the two apart
    assert all(above[i, probs[i].argmax()] for i in range(300) if above[i].sum() > 1)
    for rank_by in ("self_confidence", "normalized_margin"):
        theirs = cleanlab_filter.find_label_issues(labels, probs, filter_by="confident_learning",
                                                   return_indices_ranked_by=rank_by)
        ours = noisy.find_label_issues(labels, probs, rank_by=rank_by)
        assert ours.indices.tolist() == list(theirs)


def test_bad_input_is_one_line() -> None:
    with pytest.raises(ValueError, match="3 labels for 2 predictions"):
        noisy.find_label_issues(np.array([0, 1, 0]), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        noisy.find_label_issues(np.array([0, 2]), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="NaN"):
        noisy.find_label_issues(np.array([0, 1]), np.array([[0.5, np.nan], [0.5, 0.5]]))
    assert noisy.thresholds(np.array([0, 0]), np.full((2, 3), 1 / 3))[1] == np.inf


def test_fold_ids_are_stratified_and_seeded() -> None:
    labels = np.array([0] * 10 + [1] * 7 + [2] * 3)
    folds = noisy.fold_ids(labels, 3, seed=1)
    assert (folds == noisy.fold_ids(labels, 3, seed=1)).all()
    for cls in range(3):
        per_fold = np.bincount(folds[labels == cls], minlength=3)
        assert per_fold.max() - per_fold.min() <= 1
    assert sorted(np.bincount(folds).tolist()) == [6, 7, 7]
    with pytest.raises(ValueError, match="at least 2 folds"):
        noisy.fold_ids(labels, 1)
