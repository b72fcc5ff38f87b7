"""Issue 17: the default featurizer follows the pool's language and says so; label names
(and descriptions) as a zero-shot prior, checked against chance."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.prior import FADE, TEMPERATURE, binomial_above, blend, check, zero_shot
from alapp.app.rounds import snapshot_of
from alapp.cli import main
from alapp.core.featurizer import PartKind
from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundRunner
from alapp.loop.simulate import FEATURIZER, Replay
from alapp.ml.embedders import (
    auto_choice,
    features_line,
    label_texts,
    language_sample,
    mostly_english,
)
from alapp.store.project import Project

RU = ["Где моя посылка?", "Спасибо, всё пришло", "Курс рубля снова упал"]
ZH = ["我的包裹在哪里", "股市今天大涨", "北京明天有雨"]
EN = ["Where is my parcel?", "Refund please", "Stocks rallied today"]


def test_russian_and_chinese_pools_pick_the_multilingual_model_and_say_why() -> None:
    assert language_sample(RU * 3 + EN + ["12345"]) == (9, 12)  # digits only: no letters
    kind, why = auto_choice(RU * 3 + EN + ["12345"])
    assert kind is PartKind.E5
    assert why == "multilingual e5 (auto: 75% of the first 13 texts are not in Latin script)"
    assert auto_choice(ZH)[0] is PartKind.E5
    assert auto_choice(EN + ZH[:1])[1] == ("English MiniLM (auto: 75% of the first 4 texts are "
                                           "in Latin script)")
    assert not mostly_english([*RU, "ok"])


def test_the_features_line_names_each_input() -> None:
    assert features_line("auto", ZH).startswith("multilingual e5 (auto: 100% of the first 3")
    assert features_line("tfidf", ZH) == "TF-IDF"
    assert features_line("e5+vectors:img", EN) == "multilingual e5 (set) + vectors:img"


# -- label-name prototypes as a zero-shot prior ----------------------------------------------

def test_zero_shot_is_a_softmax_of_cosine_over_the_temperature() -> None:
    p = zero_shot(np.array([[2.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 3.0]]))
    first = 1 / (1 + np.exp(-1 / TEMPERATURE))
    assert p[0] == pytest.approx([first, 1 - first])
    assert p[1] == pytest.approx([0.5, 0.5])


def test_binomial_tail() -> None:
    assert binomial_above(8, 10, 0.5) == pytest.approx(56 / 1024)  # 45 + 10 + 1 of 2^10
    assert binomial_above(0, 10, 0.5) == 1.0
    assert binomial_above(900, 1000, 0.5) < 1e-100  # no overflow on large counts


def test_the_prior_is_used_only_above_chance_and_fades() -> None:
    right = np.eye(2)[[0, 1] * 5]  # ten labeled items, every zero-shot guess right
    used = check(right, [0, 1] * 5, 2)
    assert used.used and used.weight == pytest.approx(1 - 10 / FADE)
    assert used.p_value == pytest.approx(0.5 ** 10)
    assert f"weight {1 - 10 / FADE:.2f}" in used.text
    assert "100% right on 10 labeled items" in used.text
    half = check(right, [0, 0, 1, 1] * 2 + [0, 1], 2)  # 6 of 10: not above chance by a test
    assert not half.used and half.weight == 0 and "off, names not meaningful" in half.text
    # always guessing the majority class is no evidence: chance is the majority share
    constant = check(np.eye(2)[[0] * 10], [0] * 9 + [1], 2)
    assert constant.chance == pytest.approx(0.9) and not constant.used
    assert check(np.eye(2)[[0, 1] * 60], [0, 1] * 60, 2).weight == 0  # past FADE: faded out
    assert check(right[:0], [], 2).text.startswith("label-name prior: no labels yet")
    assert blend(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), 0.25).tolist() == [[0.75, 0.25]]


def _replay(prior: bool) -> tuple[Replay, ProjectSettings]:
    """Two directions; the pool's labels follow them, the prototypes point at them."""
    rng = np.random.default_rng(0)
    y_pool, y_test = np.array([0, 1] * 20), np.array([0, 1] * 5)
    centre = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    x_pool = centre[y_pool] + 0.1 * rng.normal(size=(40, 3))
    x_test = centre[y_test] + 0.1 * rng.normal(size=(10, 3))
    replay = Replay(x_pool, y_pool, x_test, y_test)
    replay.label_vectors = centre.astype(np.float32)
    settings = ProjectSettings(featurizer=FEATURIZER, batch_size=4, random_share=0.0,
                               stop_set_size=0, cost_model="equal", label_prior=prior,
                               cold_start="typiclust")
    return replay, settings


def test_the_first_round_predicts_from_the_label_names_and_later_rounds_blend() -> None:
    replay, settings = _replay(prior=True)
    runner = RoundRunner()
    first = runner.run(replay.snapshot(settings, [], 0))
    assert first.strategy == "typiclust"
    assert len(first.predicted) == 40
    assert all(label == replay.truth[i] for i, (label, _) in first.predicted.items())
    assert any(n.startswith("label-name prior: no labels yet") for n in first.notes)
    later = runner.run(replay.snapshot(settings, list(range(8)), 1))
    note = next(n for n in later.notes if n.startswith("label-name prior"))
    assert f"weight {1 - 8 / FADE:.2f}" in note and "100% right on 8 labeled items" in note
    assert later.metrics["prior_weight"] == pytest.approx(1 - 8 / FADE)
    assert "prior_blend_accuracy" in later.metrics


def test_the_setting_turns_the_prior_off() -> None:
    replay, settings = _replay(prior=False)
    first = RoundRunner().run(replay.snapshot(settings, [], 0))
    assert first.predicted == {}
    assert not any("label-name prior" in n for n in first.notes)


def test_label_descriptions_are_stored_listed_and_read_by_the_round(tmp_path, capsys) -> None:
    path = tmp_path / "p.alapp"
    assert main(["init", str(path), "--labels", "Sports,World"]) == 0
    capsys.readouterr()
    assert main(["labels", str(path), "--describe", "Sports", "games,  teams\nand athletes"]) == 0
    assert capsys.readouterr().out == "Sports: games, teams and athletes\nWorld\n"
    assert main(["labels", str(path), "--describe", "World", "x",
                 "--describe", "Weather", "rain"]) == 2  # all or nothing
    assert "no label 'Weather'" in capsys.readouterr().err
    with Project.open(path) as project:
        assert project.label_descriptions() == {"Sports": "games, teams and athletes"}
        assert snapshot_of(project).label_descriptions == project.label_descriptions()
    assert label_texts(["Sports", "World"], {"Sports": "games"}) == ["Sports: games", "World"]
