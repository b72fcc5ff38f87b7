from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alapp.cli import main
from tests.conftest import write


def test_init_import_stats_export(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    assert main(["init", str(project), "--labels", "spam,ham"]) == 0
    data = write(tmp_path / "in.csv", "id,text,label\n1,win money,spam\n2,see you,\n")
    assert main(["import", str(project), str(data)]) == 0
    assert "imported 2 items (1 labeled)" in capsys.readouterr().out
    assert main(["stats", str(project), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["labeled_total"] == 1 and stats["items"]["pool"] == 2
    out = tmp_path / "out.jsonl"
    assert main(["export", str(project), str(out)]) == 0
    assert json.loads(out.read_text("utf-8"))["label"] == "spam"


def test_user_mistakes_exit_2_with_a_message_and_no_traceback(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    main(["init", str(project), "--labels", "spam,ham"])
    bad = write(tmp_path / "bad.csv", "text,label\nok,spam\nbad,eggs\n")
    assert main(["import", str(project), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 3: unknown label 'eggs'" in err
    assert "Traceback" not in err
    assert main(["export", str(project), str(tmp_path / "none.jsonl")]) == 0
    assert main(["export", str(project), str(tmp_path / "none.jsonl")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["stats", str(tmp_path / "missing.alapp")]) == 2


def test_import_mapping_options(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    main(["init", str(project), "--labels", "x"])
    names = write(tmp_path / "names.txt", "World\nSports\n")
    data = write(tmp_path / "n.csv", '"2","Match report","Great game"\n"1","Summit","Talks"\n')
    assert main(["import", str(project), str(data), "--no-header", "--text", "2,3", "--label",
                 "1", "--label-names", str(names), "--label-base", "1", "--add-labels",
                 "--split", "test"]) == 0
    from alapp.store.project import Project

    with Project.open(project, read_only=True) as p:
        assert sorted(p.current_labels().values()) == ["Sports", "World"]
        assert p.count_items()["test"] == 2


def test_help_is_fast_and_imports_no_heavy_module() -> None:
    code = ("import sys, io, contextlib\nfrom alapp.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    main([])\n"
            "heavy = [m for m in ('torch', 'transformers', 'PySide6', 'sklearn') "
            "if m in sys.modules]\nprint(heavy)\n")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).parents[1], check=True)
    elapsed = time.perf_counter() - start
    assert result.stdout.strip() == "[]"
    assert elapsed < 1.0, f"{elapsed:.2f} s"


def test_demo_project_is_created(tmp_path, capsys) -> None:
    path = tmp_path / "demo.alapp"
    assert main(["demo", "--project", str(path), "--no-gui"]) == 0
    from alapp.store.project import Project

    with Project.open(path, read_only=True) as p:
        counts = p.count_items()
        assert (counts["pool"], counts["test"]) == (240, 60)
        assert len(p.current_labels()) == 60
        assert p.labels() == ["billing", "delivery", "technical", "account", "praise"]
        texts = p.texts(p.item_ids())
        assert any("доставк" in t for t in texts) and any("快递" in t for t in texts)


def test_strategies_lists_every_strategy(capsys) -> None:
    from alapp.al.registry import STRATEGIES

    assert main(["strategies", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == list(STRATEGIES)
    assert all(len(entry["summary"]) > 10 for entry in listed.values())


def test_config_shows_and_changes_settings(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    main(["init", str(project), "--labels", "a,b"])
    capsys.readouterr()
    assert main(["config", str(project), "strategy=badge", "batch_size=15",
                 "cost_aware=true", "budget_amount=2.5"]) == 0
    out = capsys.readouterr().out
    assert "strategy = badge" in out and "batch_size = 15" in out
    assert "cost_aware = True" in out and "budget_amount = 2.5" in out
    assert main(["config", str(project), "strategy=psychic"]) == 2
    assert main(["config", str(project), "colour=blue"]) == 2


def test_import_vectors_with_ids(tmp_path, capsys) -> None:
    import numpy as np

    project = tmp_path / "p.alapp"
    main(["init", str(project), "--labels", "a,b"])
    main(["import", str(project), str(write(tmp_path / "t.csv", "id,text\nx,one\ny,two\n"))])
    np.save(tmp_path / "v.npy", np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))
    ids = write(tmp_path / "ids.txt", "y\nx\n")
    assert main(["import-vectors", str(project), "img", str(tmp_path / "v.npy"),
                 "--ids", str(ids)]) == 0
    assert "stored 2 vectors as vectors:img" in capsys.readouterr().out
    from alapp.store.project import Project
    from alapp.store.vectors import load_vectors

    with Project.open(project, read_only=True) as p:
        x, y = p.item_ids()
        assert load_vectors(p, "vectors:img", [x, y]).tolist() == [[3.0, 4.0], [1.0, 2.0]]
    bad_ids = write(tmp_path / "bad.txt", "y\nzzz\n")
    assert main(["import-vectors", str(project), "img", str(tmp_path / "v.npy"),
                 "--ids", str(bad_ids)]) == 2
    assert f"{bad_ids}, line 2: no item with id 'zzz'" in capsys.readouterr().err


@pytest.mark.slow
def test_simulate_writes_json_plot_and_a_progress_bar(tmp_path, capsys) -> None:
    from alapp.store.demo import demo_data_path

    out, plot = tmp_path / "sim.json", tmp_path / "sim.svg"
    assert main(["simulate", str(demo_data_path()), "--label", "gold", "--strategies",
                 "random,margin", "--seeds", "2", "--batch", "10", "--budget", "40",
                 "--json", str(out), "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    assert "[##############################] 100.0%" in captured.err
    assert "margin, seed 2/2" in captured.err
    result = json.loads(out.read_text("utf-8"))
    assert set(result["strategies"]) == {"random", "margin"}
    assert result["recommendation"] in captured.out
    assert result["recommendation_detail"]["runner_up"] in ("random", "margin")
    assert plot.read_text("utf-8").startswith("<svg")
