"""The application never opens a network connection.

Two proofs: a full session in this process with every socket entry point made to fail (and
recorded), and the self-check in a network namespace that has no interfaces at all.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from alapp.app.rounds import snapshot_of
from alapp.app.session import LabelingSession
from alapp.loop.round import RoundRunner
from alapp.store.demo import demo_data_path
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

LABELS = ["billing", "delivery", "technical", "account", "praise"]


@pytest.fixture
def no_network(monkeypatch):
    attempts: list[str] = []

    def refuse(name):
        def blocked(*args, **kwargs):
            attempts.append(f"{name}{args[:2]!r}")
            raise OSError(f"network access attempted: {name}")
        return blocked

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("gethostbyname"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # our code must not rely on the user's
    yield attempts


@pytest.mark.parametrize("featurizer", ["minilm", "e5"])
def test_full_session_opens_no_connection(tmp_path, no_network, featurizer) -> None:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    gold = {r["id"]: r["gold"] for r in rows}
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(json.dumps({"id": r["id"], "text": r["text"],
                                          "split": r["split"],
                                          "label": r["gold"] if r["split"] == "test" else None},
                                         ensure_ascii=False) for r in rows), "utf-8")
    path = tmp_path / "offline.alapp"
    # The human-labels-only pipeline: the accuracy check below is a sanity check of the offline
    # path after 20 labels; learning from the pool is measured in docs/label_efficiency.md.
    with Project.create(path, LABELS, featurizer=featurizer, batch_size=10, self_training=False,
                        propagation_weight=0.0) as project:
        import_file(project, data, ImportSpec(split_column="split", meta=[]))  # import
        session = LabelingSession.inline(project, "offline")
        runner = RoundRunner()
        session.finish_round(runner.run(snapshot_of(project)))  # embed, cold-start select
        for _ in range(2):
            for entry in session.queue():  # label
                session.label(entry, gold[project.item(entry.item_id).ext_id], 4000, None)
            result = runner.run(snapshot_of(project))  # train, score, select
            session.finish_round(result)
        assert result.metrics["accuracy"] > 0.3
        assert export_labels(project, tmp_path / "out.jsonl") == 60 + 20  # export
    assert no_network == []


def test_the_guard_would_catch_an_attempt(no_network) -> None:
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("example.org", 80))
    assert no_network


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


@pytest.mark.gui  # the self-check opens the window (in the child process)
@pytest.mark.slow
@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rn (user and network "
                    "namespaces), available on Linux CI machines")
def test_self_check_in_a_network_namespace_without_interfaces(tmp_path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    probe = subprocess.run(["unshare", "-rn", sys.executable, "-c",
                            "import socket; socket.create_connection(('1.1.1.1', 53), 2)"],
                           capture_output=True, text=True)
    assert probe.returncode != 0  # the namespace really has no network
    report = tmp_path / "report.json"
    run = subprocess.run(["unshare", "-rn", sys.executable, "-m", "alapp", "--self-check",
                          "--json", str(report)], capture_output=True, text=True, env=env,
                         timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(report.read_text("utf-8"))
    assert result["ok"] and result["network_attempts"] == []
    assert [s["name"] for s in result["steps"]] == [
        "write and read a project", "English model (MiniLM)", "multilingual model (E5)",
        "train and select a batch", "open the demo in the window"]
