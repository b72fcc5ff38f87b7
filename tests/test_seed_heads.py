"""Issue 16, neural heads and phases: softmax temperature (000) and frozen batch norm (001)
reach the round; the passive phase (001, 003); model-outliers and active transfer from the
first labels, against an unlabeled validation set (000); learning loss on several layers and
001's ideal and inverse baselines (simulation only)."""

from __future__ import annotations

import functools
import json
from dataclasses import replace

import numpy as np
import pytest

from alapp.al.diversity import model_outlier_scores
from alapp.al.registry import STRATEGIES
from alapp.al.uncertainty import apply_temperature, entropy
from alapp.app.simulate_file import parse_settings
from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId, Source
from alapp.loop.round import RoundRunner, passive_reason, validation_rows
from alapp.loop.simulate import FEATURIZER, Replay, SimulationConfig, check_config, run_one
from alapp.store.queue import QueueEntry

N_POOL, N_TEST = 60, 24


@pytest.fixture(autouse=True)
def tiny_mlp(monkeypatch):
    """The rounds' MLP small and short (the method, not the model, is under test), on one
    thread: tiny matrices gain nothing from more, and lose much on a busy machine."""
    import torch

    from alapp.ml import factory, mlp

    monkeypatch.setattr(factory, "MLPConfig",
                        functools.partial(mlp.MLPConfig, hidden=16, epochs=3, warm_epochs=2))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _data(seed: int = 0) -> Replay:
    """Three overlapping blobs in 8 dimensions (so a small model makes mistakes)."""
    rng = np.random.default_rng(seed)
    n = N_POOL + N_TEST
    y = np.arange(n) % 3
    centres = rng.normal(size=(3, 8)) * 1.2
    x = (centres[y] + rng.normal(size=(n, 8))).astype(np.float32)
    return Replay(x[:N_POOL], y[:N_POOL], x[N_POOL:], y[N_POOL:])


def _settings(**changes) -> ProjectSettings:
    base = ProjectSettings(name="t", strategy="entropy", batch_size=5, random_share=0.0,
                           featurizer=FEATURIZER, classifier="logreg", cost_model="equal",
                           stop_set_size=0, mc_samples=3,
                           # the scores are checked against the classifier's own probabilities
                           self_training=False, propagation_weight=0.0)
    return replace(base, **changes)


def _x(replay: Replay, rows) -> np.ndarray:
    return replay.vectors.load(FEATURIZER, [ItemId(int(r)) for r in rows])


def _pool_rows(replay: Replay, bought) -> np.ndarray:
    return np.array([r for r in range(replay.n_pool) if r not in set(bought)])


# -- softmax temperature (000) ------------------------------------------------------------------


def test_temperature_reaches_the_uncertainty_scores_through_a_round() -> None:
    replay, bought = _data(), list(range(12))
    rest = _pool_rows(replay, bought)
    scores = {}
    for t in (1.0, 3.0, 0.5):
        runner = RoundRunner()
        result = runner.run(replay.snapshot(_settings(temperature=t), bought, 1))
        probs = runner.keeper.model.predict_proba(_x(replay, rest))
        expected = entropy(apply_temperature(probs, t), True)
        top = np.sort(expected)[::-1][:5]
        got = [p.score for p in result.picks]
        assert got == pytest.approx(top, rel=1e-6)  # the tempered entropy, highest first
        assert [int(p.item_id) for p in result.picks] == rest[np.argsort(-expected)[:5]].tolist()
        scores[t] = np.mean(got)
    # T > 1 flattens every distribution (more uncertainty), T < 1 sharpens it.
    assert scores[3.0] > scores[1.0] > scores[0.5]


# -- batch-norm statistics frozen in the active phase (001) ----------------------------------------


def _running_mean(runner: RoundRunner):
    return runner.keeper.model._net.norm.running_mean.clone()


def test_freeze_batchnorm_keeps_the_statistics_on_a_warm_retrain() -> None:
    import torch

    replay = _data()
    for freeze in (True, False):
        runner = RoundRunner()
        settings = _settings(classifier="mlp", strategy="margin", freeze_batchnorm=freeze)
        runner.run(replay.snapshot(settings, range(12), 1))
        first = _running_mean(runner)
        runner.run(replay.snapshot(settings, range(30), 2))  # warm: the same model
        assert torch.equal(first, _running_mean(runner)) == freeze


def test_freezing_starts_after_the_passive_phase() -> None:
    import torch

    replay = _data()
    runner = RoundRunner()
    settings = _settings(classifier="mlp", strategy="margin", freeze_batchnorm=True,
                         passive_labels=20)
    runner.run(replay.snapshot(settings, range(10), 1))
    passive = _running_mean(runner)
    runner.run(replay.snapshot(settings, range(15), 2))  # still passive: statistics learn
    assert not torch.equal(passive, _running_mean(runner))
    runner.run(replay.snapshot(settings, range(20), 3))  # active: rebuilt on all 20 labels
    active = _running_mean(runner)
    runner.run(replay.snapshot(settings, range(40), 4))
    assert torch.equal(active, _running_mean(runner))


# -- the passive phase (001: ~2,000 labels; 003: random first) -----------------------------------


def test_the_passive_phase_is_random_until_its_labels_exist() -> None:
    replay = _data()
    settings = _settings(strategy="margin", batch_size=10, random_share=0.1, passive_labels=25)
    reason = passive_reason(25)
    assert reason == "passive phase: random until 25 labels"

    first = RoundRunner().run(replay.snapshot(settings, [], 0))  # no labels: random, not centres
    assert [p.strategy for p in first.picks] == [reason] * 10
    assert all(p.is_random for p in first.picks) and first.strategy == reason

    mixed = RoundRunner().run(replay.snapshot(settings, range(20), 1))  # 5 missing of 25
    assert [p.strategy for p in mixed.picks[:5]] == [reason] * 5
    assert [p.strategy for p in mixed.picks[5:]].count("margin") == 4  # + 1 random share
    assert len({p.item_id for p in mixed.picks}) == 10 and mixed.strategy == "margin"

    active = RoundRunner().run(replay.snapshot(settings, range(25), 2))
    assert reason not in {p.strategy for p in active.picks}

    # The queue says why the annotator sees such an item.
    entry = QueueEntry(ItemId(1), "t", Source.RANDOM, reason, 0.0, None, 1)
    assert entry.reason == reason
    share = QueueEntry(ItemId(2), "t", Source.RANDOM, "random share", None, None, 1)
    assert share.reason == "random share (checks the sampler)"


def test_simulation_starts_with_the_passive_phase() -> None:
    replay = _data()
    cfg = SimulationConfig(["margin"], batch=10, budget=50, seeds=1,
                           settings={"passive_labels": 30})
    check_config(cfg)
    curve = run_one(replay, "margin", 0, cfg)
    assert curve.labels == [30, 40, 50]  # one random seed set of 30, then batches of 10
    plain = run_one(replay, "margin", 0, replace(cfg, settings={}))
    assert plain.labels == [10, 20, 30, 40, 50]


@pytest.mark.parametrize("settings,message", [
    ({"passive_labels": 50}, "leaves nothing of the budget"),
    ({"seed": 3}, "set by the simulation itself; use --seeds"),
    ({"temperature": 0.0}, "temperature=0.0 is not allowed"),
    ({"colour": 1}, "unknown setting 'colour'"),
    ({"stratify_by": "lang"}, "cannot be replayed: a simulation does not carry"),
])
def test_simulation_settings_are_checked(settings, message) -> None:
    with pytest.raises(AlappError, match=message):
        check_config(SimulationConfig(["margin"], budget=50, settings=settings))


def test_the_comparison_carries_the_projects_temperature_and_batch_norm() -> None:
    from alapp.app.compare import comparison_config

    cfg = comparison_config(ProjectSettings(temperature=2.0, freeze_batchnorm=True,
                                            passive_labels=500), 100)
    assert cfg.settings == {"temperature": 2.0, "freeze_batchnorm": True}
    check_config(cfg)
    assert comparison_config(ProjectSettings(), 100).settings == {}


def test_set_options_are_typed() -> None:
    assert parse_settings(["temperature=2", "freeze_batchnorm=yes", "passive_labels=100"]) == {
        "temperature": 2.0, "freeze_batchnorm": True, "passive_labels": 100}
    with pytest.raises(AlappError, match="expected KEY=VALUE"):
        parse_settings(["temperature"])
    with pytest.raises(AlappError, match="passive_labels='many'"):
        parse_settings(["passive_labels=many"])


# -- model-outliers and active transfer from the first labels (000) ------------------------------


@pytest.mark.parametrize("n", [4, 10, 30])
def test_model_outliers_rank_against_an_unlabeled_validation_sample(n) -> None:
    replay = _data()
    runner = RoundRunner()
    snap = replay.snapshot(_settings(strategy="model-outliers"), range(n), 1)
    result = runner.run(snap)
    rest = _pool_rows(replay, range(n))
    x = _x(replay, rest)
    acts = runner.keeper.model.outputs(x, {"activations"}, 1)["activations"]
    at = validation_rows(snap, rest)
    assert 0 < len(at) <= len(rest)  # unlabeled pool items only
    expected = model_outlier_scores(acts, acts[at])
    position = {int(r): i for i, r in enumerate(rest)}
    for pick in result.picks:  # each pick's score is its rank against the sample
        assert pick.score == pytest.approx(float(expected[position[pick.item_id]]), abs=1e-6)
    scores = sorted(p.score for p in result.picks)
    assert scores == pytest.approx(np.sort(expected)[-5:], abs=1e-6)  # the highest
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert any("unlabeled pool items" in note for note in result.notes)


@pytest.mark.parametrize("n", [4, 10, 30])
def test_active_transfer_works_from_the_first_labels(n) -> None:
    replay = _data()
    runner = RoundRunner()
    result = runner.run(replay.snapshot(_settings(strategy="active-transfer"), range(n), 1))
    assert result.model_kind == "MLPClassifier" and len(result.picks) == 5
    scores = [p.score for p in result.picks]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    assert any("cross-fitted" in note and f"{n} labels are too few" in note
               for note in result.notes), result.notes
    train, held = runner.keeper.model._split(n, np.random.default_rng(0))
    assert len(train) == n and len(held) == 0  # every label trains the model: none withheld


def test_active_transfer_with_one_label_falls_back_to_confidence() -> None:
    replay = _data()
    result = RoundRunner().run(replay.snapshot(_settings(strategy="active-transfer"), [0], 1))
    assert len(result.picks) == 5
    assert any("1 - confidence" in note for note in result.notes)


def test_cross_fitting_marks_the_labels_a_model_without_them_gets_wrong() -> None:
    from alapp.ml.mlp import MLPClassifier, MLPConfig

    model = MLPClassifier(["a", "b"], MLPConfig(hidden=8, epochs=3, validation_share=0.2))
    x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], dtype=np.float32)
    # Leave-one-out: the lone "b" is predicted by a model that saw only "a": wrong. Each "a"
    # is predicted by a model that saw one "a" and the "b" (trained), so its mark depends on it.
    model._device = "cpu"
    wrong = model._out_of_fold_wrong(x, np.array([0, 0, 1]), 3, np.random.default_rng(0))
    assert wrong[2] == 1.0


# -- learning loss on several layers, and 001's ideal and inverse baselines -----------------------


def test_ranking_loss_matches_hand_computed_pairs() -> None:
    import torch

    from alapp.ml.mlp import ranking_loss

    t = torch.tensor
    # pairs (0, 3) and (1, 2): targets 1 < 2 and 0 < 0.5, so -1 each: 1 + (3-2), 1 + (1-0)
    assert float(ranking_loss(t([3.0, 1.0, 0.0, 2.0]), t([1.0, 0.0, 0.5, 2.0]))) == 2.0
    assert float(ranking_loss(t([0.0, 5.0]), t([1.0, 0.0]))) == 6.0  # wrong order: 1 + 5
    assert float(ranking_loss(t([5.0, 0.0]), t([1.0, 0.0]))) == 0.0  # right, beyond the margin
    assert float(ranking_loss(t([1.0]), t([1.0]))) == 0.0  # no pair


def test_learning_loss_multi_reads_three_layers() -> None:
    from safetensors.torch import load

    replay = _data()
    runner = RoundRunner()
    result = runner.run(replay.snapshot(_settings(strategy="learning-loss-multi"), range(12), 1))
    assert result.model_kind == "MLPClassifier" and len(result.picks) == 5
    assert all(np.isfinite(p.score) for p in result.picks)
    names = set(load(result.weights))
    assert {"loss_taps.0.0.weight", "loss_taps.1.0.weight", "loss_taps.2.0.weight"} <= names
    single = RoundRunner().run(replay.snapshot(_settings(strategy="learning-loss"), range(12), 1))
    assert not any(k.startswith("loss_taps") for k in load(single.weights))


def test_ideal_learning_loss_takes_the_true_losses_and_inverse_the_lowest() -> None:
    replay = _data()
    bought = list(range(12))
    rest = _pool_rows(replay, bought)
    for name, sign in (("learning-loss-ideal", 1), ("learning-loss-ideal-inverse", -1)):
        runner = RoundRunner()
        result = runner.run(replay.snapshot(_settings(strategy=name), bought, 1))
        probs = runner.keeper.model.predict_proba(_x(replay, rest))
        truth = np.array([int(replay.truth[r]) for r in rest])
        loss = -np.log(np.clip(probs[np.arange(len(rest)), truth], 1e-12, 1))
        expected = np.sort(sign * loss)[::-1][:5]
        assert [p.score for p in result.picks] == pytest.approx(expected, rel=1e-6)
    runner = RoundRunner()
    result = runner.run(replay.snapshot(_settings(strategy="learning-loss-inverse"), bought, 1))
    predicted = runner.keeper.model.outputs(_x(replay, rest),
                                            {"predicted_loss"}, 1)["predicted_loss"]
    assert [p.score for p in result.picks] == pytest.approx(np.sort(-predicted)[::-1][:5],
                                                            rel=1e-5)


def test_the_ideal_baseline_is_refused_outside_a_simulation(tmp_path) -> None:
    replay = _data()
    snap = replace(replay.snapshot(_settings(strategy="learning-loss-ideal"), range(12), 1),
                   gold=None)  # a project: nobody knows the pool's labels
    with pytest.raises(AlappError, match="only a simulation knows") as e:
        RoundRunner().run(snap)
    assert "\n" not in str(e.value)

    from alapp.app.projects import configure
    from alapp.store.project import Project

    path = tmp_path / "p.alapp"
    Project.create(path, ["a", "b"]).close()
    with pytest.raises(AlappError, match="only `alapp simulate` knows"):
        configure(path, ["strategy=learning-loss-ideal"])
    assert configure(path, ["strategy=learning-loss-multi"])[0].strategy == "learning-loss-multi"
    assert "Simulation only" in STRATEGIES["learning-loss-ideal"].summary


class _Letters:
    """A stand-in embedder: letter counts (no model to load)."""

    name = "letters"

    def embed(self, texts):
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    out[row, ord(ch) - 97] += 1
        return out


def test_cli_simulates_the_learning_loss_baselines_with_settings(tmp_path, monkeypatch,
                                                                 capsys) -> None:
    monkeypatch.setattr("alapp.app.simulate_file.make_embedder",
                        lambda name, texts=(): _Letters())
    topics = {"sport": ["the team won the match", "a late goal in the final", "fans cheered"],
              "weather": ["heavy rain is expected", "a cold wind from the north", "sunny skies"],
              "cooking": ["bake the bread for an hour", "add salt to the pasta", "slice onions"]}
    when = ["today", "on sunday", "this morning", "last night", "at noon", "again"]
    data = tmp_path / "labeled.csv"
    data.write_text("text,label\n" + "".join(
        f"{phrase} {w},{label}\n" for label, phrases in topics.items()
        for phrase in phrases for w in when), encoding="utf-8")
    out = tmp_path / "r.json"
    code = main(["simulate", str(data), "--strategies",
                 "learning-loss-ideal,learning-loss-inverse", "--seeds", "1", "--batch", "5",
                 "--budget", "20", "--set", "passive_labels=10", "--set", "temperature=2",
                 "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text("utf-8"))
    assert set(result["strategies"]) == {"learning-loss-ideal", "learning-loss-inverse"}
    assert result["config"]["settings"] == {"passive_labels": 10, "temperature": 2.0}
    assert result["strategies"]["learning-loss-ideal"]["labels"] == [10, 15, 20]
    assert main(["simulate", str(data), "--set", "passive_labels=lots"]) == 2


def test_settings_dialog_offers_the_phase_temperature_and_batch_norm(qtbot, tmp_path) -> None:
    from PySide6.QtWidgets import QTabWidget

    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), [])
    qtbot.addWidget(dialog)
    offered = [dialog.strategy.itemText(i) for i in range(dialog.strategy.count())]
    assert "learning-loss-multi" in offered and "learning-loss-inverse" in offered
    assert "learning-loss-ideal" not in offered  # a simulation's baseline only
    assert dialog.passive_labels.text() == "none"  # 0
    dialog.resize(1366, 768)
    dialog.show()
    tabs = dialog.findChild(QTabWidget)
    for index in (0, 1):  # every new control is on screen, with its explanation
        tabs.setCurrentIndex(index)
        qtbot.wait(10)
        assert not dialog.grab().isNull()
    assert dialog.temperature.isVisible() and dialog.freeze_batchnorm.isVisible()
    dialog.passive_labels.setValue(2000)
    dialog.temperature.setValue(2.5)
    dialog.freeze_batchnorm.setChecked(True)
    dialog.apply()
    assert dialog.changes == {"passive_labels": 2000, "temperature": 2.5,
                              "freeze_batchnorm": True}
