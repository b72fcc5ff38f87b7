"""Every error reaches the user as one line naming the file and the problem: exit code 2 on the
command line (a bug: its traceback in the log file, one line pointing there, exit code 70), and
a dialog in the window. Never a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alapp.cli import EXIT_INTERNAL_ERROR, main
from alapp.core import log
from alapp.core.errors import ProjectLockedError
from tests.conftest import write


@pytest.fixture(autouse=True)
def log_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "logs" / "alapp.log"
    monkeypatch.setenv(log.LOG_ENV, str(path))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "p.alapp"
    assert main(["init", str(path), "--labels", "spam,ham"]) == 0
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("alapp: ")
    return lines[0]


# -- the command line ------------------------------------------------------------------------------


def test_missing_project_file(tmp_path, capsys) -> None:
    missing = tmp_path / "missing.alapp"
    assert main(["stats", str(missing)]) == 2
    line = one_error_line(capsys)
    assert str(missing) in line and "no such" in line


def test_a_folder_given_where_a_file_is_expected(tmp_path, capsys, project) -> None:
    folder = tmp_path / "folder.alapp"
    folder.mkdir()
    assert main(["stats", str(folder)]) == 2
    assert str(folder) in one_error_line(capsys)
    assert main(["import", str(project), str(folder)]) == 2  # a folder as the input file
    assert str(folder) in one_error_line(capsys)
    assert main(["export", str(project), str(folder)]) == 2  # a folder as the output
    assert str(folder) in one_error_line(capsys)


def test_a_path_with_undecodable_bytes_prints_escaped(tmp_path, capsys) -> None:
    """os.fsdecode(b"\\xff.alapp") is "\\udcff.alapp": printed to a strict UTF-8 stream (the
    capture here, PYTHONIOENCODING=utf-8, a Windows console) it would raise
    UnicodeEncodeError."""
    name = os.fsdecode(b"\xff.alapp")
    assert main(["stats", str(tmp_path / name)]) == 2
    assert "\\xff.alapp: no such project file" in one_error_line(capsys)
    if sys.platform != "linux":  # only Linux takes any bytes in a file name
        return
    # Output to a strict stream is escaped too (a terminal with surrogateescape, the default
    # on POSIX, writes the original bytes back instead).
    assert main(["init", str(tmp_path / name), "--labels", "a,b"]) == 0
    assert "\\udcff.alapp with labels" in capsys.readouterr().out
    assert main(["stats", str(tmp_path / name)]) == 0
    out = capsys.readouterr()
    assert "\\udcff.alapp" in out.out and not out.err


@pytest.mark.parametrize(("code", "problem"), [
    (errno.EACCES, "permission denied"),
    (errno.EROFS, "read-only file system"),
    (errno.ENOSPC, "the disk is full"),
])
def test_an_output_that_cannot_be_written(tmp_path, capsys, monkeypatch, project, code,
                                          problem) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "labels.jsonl"
    if code == errno.EACCES and os.geteuid() != 0:
        folder.chmod(0o500)  # honest where permissions apply (root writes anywhere)
    else:
        def refuse(src, dst, *args, **kwargs):
            raise OSError(code, os.strerror(code), str(dst))

        monkeypatch.setattr(os, "replace", refuse)
    try:
        assert main(["export", str(project), str(out)]) == 2
    finally:
        folder.chmod(0o700)
    line = one_error_line(capsys)
    assert problem in line and str(folder) in line
    assert not list(folder.iterdir())  # no temporary file left behind


def test_input_nested_too_deeply(tmp_path, capsys, project) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8")
    assert main(["import", str(project), str(deep)]) == 2
    assert str(deep) in one_error_line(capsys)


def test_recursion_and_memory_errors_name_the_input(tmp_path, capsys, monkeypatch,
                                                    project) -> None:
    import alapp.app.projects as projects

    data = write(tmp_path / "in.csv", "text\nhello\n")
    for error, words in ((RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
                         (MemoryError(), "not enough memory")):
        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(projects, "import_into", fail)
        assert main(["import", str(project), str(data)]) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"alapp: error: {data}: {words}")


def test_a_project_another_process_holds(capsys, project) -> None:
    from alapp.store.project import Project

    with Project.open(project):  # its own file handle: the OS lock refuses the second one
        assert main(["config", str(project), "batch_size=5"]) == 2
    line = one_error_line(capsys)
    assert str(project) in line and "another alapp process" in line


def test_a_damaged_project(tmp_path, capsys, project) -> None:
    damaged = tmp_path / "damaged.alapp"
    data = bytearray(project.read_bytes())
    data[100:700] = b"\xde\xad" * 300  # the schema page's header and cells
    damaged.write_bytes(bytes(data))
    assert main(["stats", str(damaged)]) == 2
    assert str(damaged) in one_error_line(capsys)
    garbage = write(tmp_path / "garbage.alapp", "SQLite format 3\0" + "x" * 5000)
    assert main(["stats", str(garbage)]) == 2
    assert str(garbage) in one_error_line(capsys)


@pytest.mark.parametrize(("error", "words"), [
    (sqlite3.OperationalError("database is locked"), "busy in another program"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "cannot be written"),
    (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
    (sqlite3.DatabaseError("database disk image is malformed"), "damaged"),
])
def test_database_errors_that_reach_the_command_line(capsys, monkeypatch, project, error,
                                                     words) -> None:
    """What the store did not turn into an AlappError is recognized by its module's name."""
    import alapp.app.projects as projects

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(projects, "stats", fail)
    assert main(["stats", str(project)]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"alapp: error: {project}: ") and words in line


def test_an_internal_error_is_logged_and_named_in_one_line(capsys, monkeypatch, project,
                                                           log_file) -> None:
    import alapp.app.projects as projects

    def bug(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(projects, "stats", bug)
    assert main(["stats", str(project)]) == EXIT_INTERNAL_ERROR
    line = one_error_line(capsys)
    assert "internal error (ZeroDivisionError: division by zero)" in line
    assert str(log_file) in line
    logged = log_file.read_text("utf-8")
    assert "Traceback (most recent call last)" in logged and "in bug" in logged
    assert f"alapp stats {project}" in logged


def test_an_internal_error_when_the_log_cannot_be_written(tmp_path, capsys, monkeypatch,
                                                          project) -> None:
    import alapp.app.projects as projects

    blocker = write(tmp_path / "a-file", "")
    monkeypatch.setenv(log.LOG_ENV, str(blocker / "alapp.log"))  # under a file: cannot exist
    monkeypatch.setattr(projects, "stats", lambda *a, **k: {}["missing"])
    assert main(["stats", str(project)]) == EXIT_INTERNAL_ERROR
    assert "the log file could not be written" in one_error_line(capsys)


# -- the log file ----------------------------------------------------------------------------------


def test_the_log_rotates_keeping_three(log_file) -> None:
    log_file.parent.mkdir(parents=True)
    for generation in range(5):
        with open(log_file, "ab") as stream:  # a full log: the next entry starts a new one
            stream.write(b"x" * log.MAX_BYTES)
        try:
            raise ValueError(f"generation {generation}")
        except ValueError as e:
            assert log.log_error(e) == log_file
    assert "generation 4" in log_file.read_text("utf-8")
    assert "generation 3" in (log_file.parent / "alapp.log.1").read_text("utf-8")
    assert sorted(p.name for p in log_file.parent.iterdir()) == [
        "alapp.log", "alapp.log.1", "alapp.log.2", "alapp.log.3"]


def test_where_the_log_goes(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(log.LOG_ENV)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        assert log.log_file() == tmp_path / "state" / "alapp" / "alapp.log"
        monkeypatch.delenv("XDG_STATE_HOME")
        assert log.log_file() == Path.home() / ".local" / "state" / "alapp" / "alapp.log"
    monkeypatch.setenv(log.LOG_ENV, str(tmp_path / "x.log"))
    assert log.log_file() == tmp_path / "x.log"


def test_descriptions_are_one_line() -> None:
    assert log.describe(OSError(errno.ENOENT, "No such file", "a\nb.txt")) == \
        "a b.txt: no such file or folder"
    assert log.describe(PermissionError(errno.EACCES, "Permission denied", "x", None, "y")) == \
        "x -> y: permission denied"
    assert log.describe(OSError(errno.EISDIR, "Is a directory", b"d\xff")) == \
        "d\\xff: is a folder, not a file"
    assert log.describe(ProjectLockedError("p.alapp: open\nelsewhere")) == "p.alapp: open elsewhere"
    assert log.describe(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"), "f.csv") == \
        "f.csv: not valid utf-8 text at byte 0; give its encoding (--encoding)"
    assert log.describe(ZeroDivisionError()) is None
    assert log.one_line("\ud800 lone") == "\\ud800 lone"


# -- the window ------------------------------------------------------------------------------------


@pytest.fixture
def dialogs(qtbot, monkeypatch):
    """Every message box the code opens, recorded instead of shown; the hooks are restored."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda parent, title, text, *a, kind=kind: shown.append((kind, text)))
    return shown


@contextmanager
def application_error_hooks() -> Iterator[None]:
    """The window application's hooks, inside a test (pytest-qt puts its own in place for
    each phase of a test, and restores it after)."""
    from alapp.ui.app import install_error_hooks

    saved = sys.excepthook, threading.excepthook
    install_error_hooks()
    try:
        yield
    finally:
        sys.excepthook, threading.excepthook = saved


def test_an_error_in_a_slot_shows_one_line_and_logs_the_traceback(qtbot, dialogs, log_file,
                                                                  capsys) -> None:
    from PySide6.QtCore import QTimer

    def slot_with_a_bug() -> None:
        raise ZeroDivisionError("division by zero")

    with application_error_hooks():
        QTimer.singleShot(0, slot_with_a_bug)
        qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=10_000)
    kind, text = dialogs[0]
    assert kind == "critical" and "\n" not in text
    assert text.startswith("internal error (ZeroDivisionError: division by zero)")
    assert str(log_file) in text
    logged = log_file.read_text("utf-8")
    assert "Traceback" in logged and "slot_with_a_bug" in logged
    assert "Traceback" not in capsys.readouterr().err


def test_an_error_in_a_thread_shows_one_line(qtbot, dialogs, log_file) -> None:
    def worker() -> None:
        open(log_file.parent / "no-such-folder" / "x.txt", encoding="utf-8")  # noqa: SIM115

    with application_error_hooks():
        thread = threading.Thread(target=worker, name="alapp-test-worker")
        thread.start()
        thread.join()
        qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=10_000)
    assert dialogs[0][1].endswith("x.txt: no such file or folder")
    assert "alapp-test-worker" in log_file.read_text("utf-8")


def test_a_project_that_cannot_be_opened_says_why_in_one_line(qtbot, dialogs, tmp_path) -> None:
    from alapp.ui.app import Application

    app = Application()
    folder = tmp_path / "folder.alapp"
    folder.mkdir()
    for path in (tmp_path / "missing.alapp", folder):
        app.open(path)
        kind, text = dialogs.pop(0)
        assert kind == "warning" and "\n" not in text and str(path) in text
        assert app.window is None and app.start is not None  # back on the start screen
    app.start.close()


def test_background_failures_show_one_line_and_log_the_traceback(qtbot, dialogs, log_file,
                                                                 monkeypatch, tmp_path) -> None:
    """A round and an import that fail with a bug: one line in front of the user, the
    traceback in the log."""
    from alapp.app.rounds import RoundJob
    from alapp.store.demo import create_demo_project
    from alapp.ui.main_window import MainWindow

    def round_with_a_bug(self, progress):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(RoundJob, "__call__", round_with_a_bug)
    path = tmp_path / "demo.alapp"
    create_demo_project(path).close()
    window = MainWindow(path, annotator="tester")  # its first round starts at once
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=30_000)
        assert dialogs[0] == ("warning", "ZeroDivisionError: division by zero")
        assert str(log_file) in window.statusBar().currentMessage()
        assert "in round_with_a_bug" in log_file.read_text("utf-8")

        def import_with_a_bug(*args, **kwargs):
            return {}["no such key"]

        monkeypatch.setattr(window.session, "import_file", import_with_a_bug)
        window.import_dialog()
        wizard = window.wizard
        wizard.set_file(write(tmp_path / "more.csv", "text\nhello\n"))
        wizard._start(dry_run=False)  # what Import runs
        qtbot.waitUntil(lambda: "KeyError" in wizard.message.text(), timeout=30_000)
        assert "\n" not in wizard.message.text()
        qtbot.waitUntil(lambda: "in import_with_a_bug" in log_file.read_text("utf-8"))
        wizard.reject()
    finally:
        window.close()
