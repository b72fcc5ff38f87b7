"""Issue 17: the propagation blend is kept only where it predicts held-out human labels at
least as well as the classifier alone."""

from __future__ import annotations

import numpy as np

from alapp.al.propagation import MIN_LABELS_TO_CHECK, check_folds, choose_blend_weight


def test_folds_are_stratified_and_refused_when_too_few() -> None:
    codes = np.array([0] * 12 + [1] * 8 + [2] * 5)
    folds = check_folds(codes, folds=5, seed=1)
    assert folds is not None
    for c in range(3):  # each class spread over the folds as evenly as it can be
        per_fold = np.bincount(folds[codes == c], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
    assert check_folds(codes[:MIN_LABELS_TO_CHECK - 1]) is None
    assert check_folds(np.array([0] * 30 + [1])) is None  # a class of one cannot be held out


def test_the_blend_is_kept_only_when_it_does_no_worse() -> None:
    codes = np.array([0, 1, 0, 1])
    right = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    wrong = right[:, ::-1]
    # accuracy ties (all right either way): the likelihood of the true labels decides
    assert choose_blend_weight(codes, right, wrong, 0.3)[0] == 0.0
    assert choose_blend_weight(codes, right, right, 0.3)[0] == 0.3  # a full tie keeps it
    weak = np.array([[0.45, 0.55], [0.55, 0.45], [0.6, 0.4], [0.4, 0.6]])  # 2 of 4 right
    chosen, alone, mixed = choose_blend_weight(codes, weak, right, 0.5)
    assert (chosen, alone, mixed) == (0.5, 0.5, 1.0)
    chosen, alone, mixed = choose_blend_weight(codes, right, weak[:, ::-1], 0.9)
    assert chosen == 0.0 and alone == 1.0 and mixed < 1.0
