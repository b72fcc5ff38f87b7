"""Killing a writer at any moment loses no acknowledged label and never corrupts the file."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write

WRITER = """
import sys
from alapp.store.project import Project
project = Project.open(sys.argv[1])
ids = project.item_ids()
i = int(sys.argv[2])
while True:
    item, label = ids[i % len(ids)], ("spam", "ham")[i % 2]
    event = project.label_item(item, label, "writer", active_ms=i)
    print(event, item, label, flush=True)  # printed only after the commit returned
    i += 1
"""

IMPORTER = """
import sys
from alapp.store.project import Project
from alapp.store.importer import import_file
project = Project.open(sys.argv[1])
print("start", flush=True)
import_file(project, sys.argv[2])
print("done", flush=True)
"""


def _run_and_kill(args: list[str], after: float) -> list[str]:
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parents[1])
    assert proc.stdout is not None
    first = proc.stdout.readline()  # wait until it really writes
    time.sleep(after)
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate()
    # A line is an acknowledgement only when complete: the kill may cut the last one short.
    return (first + rest).split("\n")[:-1]


def test_killed_labeler_loses_no_acknowledged_label(tmp_path) -> None:
    path = tmp_path / "kill.alapp"
    with Project.create(path, ["spam", "ham"]) as project:
        import_file(project, write(tmp_path / "in.txt",
                                   "".join(f"text {i}\n" for i in range(50))))
    rng = random.Random(0)
    acknowledged: dict[int, tuple[int, str]] = {}
    start = 0
    for _ in range(12):
        lines = _run_and_kill([WRITER, str(path), str(start)], after=rng.uniform(0.05, 0.4))
        for line in lines:
            if line.strip():
                event, item, label = line.split()
                acknowledged[int(event)] = (int(item), label)
        start += len(lines)
        with Project.open(path) as project:  # the lock died with the process
            assert project.integrity_ok()
            stored = {e["id"]: (e["item_id"], e["label"]) for e in project.events()}
            missing = {e: v for e, v in acknowledged.items() if stored.get(e) != v}
            assert not missing, f"acknowledged labels lost: {missing}"
    assert len(acknowledged) > 12


def test_killed_import_leaves_the_project_as_before(tmp_path) -> None:
    path = tmp_path / "imp.alapp"
    with Project.create(path, ["spam", "ham"]) as project:
        import_file(project, write(tmp_path / "first.txt", "kept\n"))
    big = tmp_path / "big.txt"
    with open(big, "w", encoding="utf-8") as f:
        for i in range(400_000):
            f.write(f"line number {i} of a large file\n")
    for delay in (0.1, 0.5, 1.0):
        lines = _run_and_kill([IMPORTER, str(path), str(big)], after=delay)
        with Project.open(path) as project:
            assert project.integrity_ok()
            count = project.count_items()["pool"]
            assert count in (1, 400_001), count
            if "done" not in lines:
                assert count == 1
