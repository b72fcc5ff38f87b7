"""The task seam: one interface for what a label is, what a model predicts and how it is scored."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.task import Classification, MultiLabelClassification, task_for
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.store.project import Project


def test_classification_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    truth = rng.choice(classes[:3], 200).tolist()  # "d" is never true, sometimes guessed
    guesses = [t if rng.random() < 0.6 else str(rng.choice(classes)) for t in truth]
    got = Classification().metrics(classes, truth, guesses)
    shown = got["confusion"]["labels"]
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, guesses))
    assert got["macro_f1"] == pytest.approx(f1_score(truth, guesses, average="macro",
                                                     zero_division=0))
    assert got["confusion"]["matrix"] == confusion_matrix(truth, guesses, labels=shown).tolist()


def test_decode_picks_the_likeliest_class_and_its_probability() -> None:
    probs = np.array([[0.2, 0.8], [0.6, 0.4]])
    labels, confidence = Classification().decode(["x", "y"], probs)
    assert labels == ["y", "x"] and confidence.tolist() == [0.8, 0.6]


def test_labels_and_classes_single_and_multi() -> None:
    single, multi = Classification(), MultiLabelClassification()
    assert single.check_label("a", ["a", "b"]) == ["a"]
    with pytest.raises(ValueError, match=r"unknown label 'a\|b'"):
        single.check_label("a|b", ["a", "b"])
    assert multi.check_label("a|b", ["a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError):
        multi.check_label("a|a", ["a", "b"])
    assert single.classes(["a", "b"], ["a"]) == ["a", "b"]
    assert multi.classes(["a", "b"], ["b", "a|b"]) == ["a", "b"]  # per label, no powerset


def test_the_project_task_is_chosen_once_and_validated(tmp_path) -> None:
    assert task_for(ProjectSettings()).kind == "classification"
    with pytest.raises(AlappError, match="task='ner' is not allowed"):
        Project.create(tmp_path / "p.alapp", ["a"], task="ner")
    with Project.create(tmp_path / "q.alapp", ["a", "b"]) as project:
        assert project.settings().task == "classification"
        with pytest.raises(AlappError, match="chosen when it is created"):
            project.update_settings(task="spans")
