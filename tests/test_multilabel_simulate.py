"""`alapp simulate --project` on a multi-label project (issue 21): the multi-label strategies
against random through the multi-label round, curves in micro-F1."""

from __future__ import annotations

import json

from alapp.cli import main
from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write

WORDS = {"a": "refund money back", "b": "parcel courier late", "c": "login password reset"}
COMBOS = [["a"], ["b"], ["c"], ["a", "b"], [], ["b", "c"]]


def test_simulate_a_multilabel_project(tmp_path, capsys) -> None:
    path = tmp_path / "m.alapp"
    lines = [json.dumps({"text": " ".join([WORDS[c] for c in COMBOS[i % 6]] + [f"note {i}"]),
                         "labels": COMBOS[i % 6]}) for i in range(90)]
    with Project.create(path, ["a", "b", "c"], multi_label=True) as project:
        import_file(project, write(tmp_path / "in.jsonl", "\n".join(lines) + "\n"))
    out = tmp_path / "sim.json"
    assert main(["simulate", "--project", str(path), "--strategies", "random,ml-mmc",
                 "--seeds", "2", "--batch", "10", "--budget", "30", "--test-size", "30",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text("utf-8"))
    assert result["measure"] == "micro_f1" and result["data"]["multi_label"]
    assert set(result["strategies"]) == {"random", "ml-mmc"}
    assert result["strategies"]["ml-mmc"]["labels"] == [10, 20, 30]
    assert all(0 <= v <= 1 for v in result["strategies"]["random"]["accuracy_mean"])
    assert "full-pool micro_f1" in capsys.readouterr().out
