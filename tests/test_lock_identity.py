"""One writer per project *file*, whatever name opens it: a relative or an absolute path, a path
with ``..`` in it, a symbolic link, a hard link in the same folder or in another one; in this
process and between processes. Two writers on one file lose labels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from alapp.core.errors import ProjectLockedError, StorageWarning
from alapp.store.lock import ProjectLock
from alapp.store.project import Project

ROOT = Path(__file__).parents[1]

HOLDER = """
import sys, time, warnings
warnings.simplefilter("ignore")
from alapp.core.errors import ProjectLockedError
from alapp.store.project import Project
try:
    project = Project.open(sys.argv[1])
except ProjectLockedError:
    print("locked", flush=True)
    sys.exit(0)
print("writer", flush=True)
time.sleep(float(sys.argv[2]))
project.close()
"""

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges")


@pytest.fixture
def names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Six names of one project file; the working folder is the project's."""
    folder = tmp_path / "projects"
    folder.mkdir()
    path = folder / "p.alapp"
    Project.create(path, ["spam", "ham"]).close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.link(path, elsewhere / "hard.alapp")
    os.link(path, folder / "twin.alapp")
    (elsewhere / "soft.alapp").symlink_to(path)
    monkeypatch.chdir(folder)
    return {"absolute": path, "relative": Path("p.alapp"),
            "dotted": Path("../projects/./p.alapp"), "symlink": elsewhere / "soft.alapp",
            "hard link": elsewhere / "hard.alapp", "hard link, same folder": Path("twin.alapp")}


def test_every_name_of_the_file_meets_the_same_lock(names) -> None:
    warnings.simplefilter("ignore", StorageWarning)  # "the file has 3 names": expected here
    for a in names.values():
        with Project.open(a):
            for b in names.values():
                with pytest.raises(ProjectLockedError, match="open in another alapp process"):
                    Project.open(b)
        Project.open(a).close()  # released on close, whichever name took it


def test_exactly_one_writer_among_processes_using_different_names(names) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", HOLDER, str(name), "6"], cwd=Path.cwd(),
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
             for name in names.values()]
    answers = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(answers) == ["locked"] * (len(names) - 1) + ["writer"], answers


def test_a_writer_killed_under_another_name_leaves_no_lock(names) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(names["hard link"]), "60"],
                            stdout=subprocess.PIPE, text=True, cwd=Path.cwd(),
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writer"
    warnings.simplefilter("ignore", StorageWarning)
    with pytest.raises(ProjectLockedError, match="under another name"):
        Project.open(names["absolute"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    Project.open(names["absolute"]).close()  # the OS dropped both locks with the process


def test_lock_file_sits_beside_the_real_file_not_the_link(names) -> None:
    lock = ProjectLock(names["symlink"])
    assert lock.path == names["absolute"].with_name("p.alapp.lock")
    lock.acquire()
    try:
        assert lock.held
        with pytest.raises(ProjectLockedError):
            ProjectLock(names["hard link"]).acquire()
    finally:
        lock.release()
    other = ProjectLock(names["hard link"])
    other.acquire()  # and the failed attempt above held nothing
    other.release()


def test_opening_by_several_names_warns_once_per_open(names) -> None:
    with pytest.warns(StorageWarning, match="3 names"):
        Project.open(names["absolute"]).close()
    # a project with one name does not warn
    path = names["absolute"].with_name("single.alapp")
    Project.create(path, ["a"]).close()
    with warnings.catch_warnings():
        warnings.simplefilter("error", StorageWarning)
        Project.open(path).close()
