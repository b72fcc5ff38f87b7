"""A project another alapp process holds, or one in a folder that cannot be written, opens
read-only: browse, statistics and export work; labeling keys and write actions do nothing and
write nothing; there is no writer thread and no round; a banner says why."""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from alapp.app.session import LabelingSession, ReadOnlySessionError, read_only_reason
from alapp.core.errors import ProjectLockedError
from alapp.store import queue
from alapp.store.demo import create_demo_project
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
HOLD = """
import sys
from alapp.store.project import Project

project = Project.open(sys.argv[1])  # the lock: held until stdin closes
print("holding", flush=True)
sys.stdin.read()
project.close()
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The demo project with a few labels to export and items waiting in the queue."""
    path = tmp_path / "demo.alapp"
    create_demo_project(path).close()
    with Project.open(path) as p:
        labels = p.labels()
        for k, item in enumerate(p.item_ids("pool")[:6]):
            p.label_item(item, labels[k % len(labels)], "earlier")
        queue.start_test_set(p, 10)
    return path


@pytest.fixture
def holder(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that has the project open for writing."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield proc
    release(proc)


def release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def dump(path: Path) -> tuple[list[dict[str, object]], int, list[int], dict[str, int]]:
    """What a write would change: every label event, the number of items, the queue, the
    splits."""
    with Project.open(path, read_only=True) as p:
        return (p.events(), sum(p.count_items().values()),
                [e.item_id for e in queue.entries(p)], p.count_items())


def labeled(path: Path) -> int:
    with Project.open(path, read_only=True) as p:
        return len(p.current_labels())


# -- the session -----------------------------------------------------------------------------------


def test_a_read_only_session_reads_and_refuses_every_write(path, holder, tmp_path) -> None:
    with pytest.raises(ProjectLockedError):
        LabelingSession(path, "me")
    before = dump(path)
    with LabelingSession.open_read_only(path, "me", "open elsewhere") as session:
        assert session.read_only == "open elsewhere"
        entry = session.current()
        assert entry is not None and session.count_items()["pool"] > 0
        writes = [lambda: session.label(entry, session.labels()[0], 100, None),
                  lambda: session.skip(entry, 100, None), lambda: session.flag(entry),
                  session.undo, lambda: session.relabel(entry.item_id, session.labels()[0]),
                  lambda: session.update_settings(batch_size=5),
                  lambda: session.start_test_set(5)]
        for write in writes:
            with pytest.raises(ReadOnlySessionError, match="opened read-only"):
                write()
        assert session.export_labels(tmp_path / "out.jsonl") == labeled(path)
        assert not [t for t in threading.enumerate() if t.name == "alapp-writer"]
    assert dump(path) == before


def test_why_a_project_opens_read_only(tmp_path) -> None:
    project = tmp_path / "p.alapp"
    locked = ProjectLockedError(f"{project}: the project is open in another alapp process "
                                "(pid 4242). Close it there, or open this one read-only.")
    assert read_only_reason(locked, project) == "open in another alapp window (pid 4242)"
    for code in (errno.EACCES, errno.EROFS):
        error = OSError(code, "no", str(project) + ".lock")
        assert read_only_reason(error, project) == "the folder cannot be written"
    assert read_only_reason(ValueError("x"), project) is None
    assert read_only_reason(OSError(errno.ENOSPC, "full"), project) is None


# -- the window ------------------------------------------------------------------------------------


@pytest.fixture
def app(qtbot, monkeypatch):
    from PySide6.QtWidgets import QApplication, QMessageBox

    from alapp.ui.app import Application
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())  # the demo's Chinese items, in the screenshot
    shown: list[str] = []
    for kind in ("critical", "warning", "information"):
        monkeypatch.setattr(QMessageBox, kind, lambda parent, title, text, *a: shown.append(text))
    controller = Application()
    controller.shown = shown  # type: ignore[attr-defined]
    yield controller
    if controller.window is not None:
        controller.window.close()
    if controller.start is not None:
        controller.start.close()


def test_a_project_open_elsewhere_opens_read_only(app, qtbot, path, holder, tmp_path,
                                                  monkeypatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    before = dump(path)
    app.open(path)
    window = app.window
    assert window is not None and app.shown == []
    window.activateWindow()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # where shortcuts fire
    assert window.read_only == f"open in another alapp window (pid {holder.pid})"
    assert window.read_only_banner.isVisible()
    assert window.read_only_text.text().startswith(
        f"Read-only: open in another alapp window (pid {holder.pid}).")
    assert "(read-only)" in window.windowTitle()
    assert not [t for t in threading.enumerate() if t.name in ("alapp-writer", "alapp-round")]
    assert not window.work.busy
    ARTIFACTS.mkdir(exist_ok=True)
    window.grab().save(str(ARTIFACTS / "read-only-window.png"))

    # Labeling keys and write actions: nothing happens, nothing is written.
    shown_item = window.entry.item_id
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_Return, Qt.Key.Key_S, Qt.Key.Key_F,
                Qt.Key.Key_Backspace, Qt.Key.Key_Left, Qt.Key.Key_1, Qt.Key.Key_Escape):
        window.statusBar().clearMessage()
        qtbot.keyClick(window, key)
        if key not in (Qt.Key.Key_Left, Qt.Key.Key_Escape):  # walking history writes nothing
            assert window.statusBar().currentMessage().startswith("Read-only:"), key
    assert window.entry.item_id == shown_item
    window.start_test_set(5)
    window.import_dialog()
    window.request_round()
    window._use_strategy("margin")
    assert not window.work.busy and not window.importing
    for text in ("&Import items…", "Label a held-out &test set…", "&Retrain now"):
        assert not window.menu_actions[text].isEnabled()
    assert not window.panel.retrain.isEnabled()
    assert window.view.buttons and not any(b.isEnabled() for b in window.view.buttons.values())
    assert dump(path) == before

    # Browse works; relabeling from it is off.
    window.browse()
    browser = window.browser
    assert len(browser.rows) == before[1]
    browser.label.setCurrentText(window.session.labels()[0])
    assert 0 < len(browser.rows) < before[1]
    assert browser.relabel_buttons and not any(b.isEnabled() for b in browser.relabel_buttons)
    browser.close()

    # Settings: shown, not saved.
    window.settings_dialog()
    from PySide6.QtWidgets import QDialogButtonBox

    box = window.settings_window.findChild(QDialogButtonBox)
    assert not box.button(QDialogButtonBox.StandardButton.Ok).isEnabled()
    window.settings_window.reject()

    # Export works.
    out = tmp_path / "labels.jsonl"
    assert window.export_to(out) == labeled(path) > 6
    assert len(out.read_text("utf-8").splitlines()) == labeled(path)
    assert dump(path) == before
    assert app.shown == []

    # Once the other process lets go, "Try again writable" opens it for writing (no round
    # needed here: closing a window waits for a round's model to load).
    release(holder)
    monkeypatch.setattr(type(window), "request_round", lambda self: None)
    window.try_writable.click()
    assert app.window is not window and app.window.read_only is None
    assert [t for t in threading.enumerate() if t.name == "alapp-writer"]
    assert not hasattr(app.window, "read_only_banner")
    app.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is app.window)
    qtbot.keyClick(app.window, Qt.Key.Key_1)
    assert len(dump(path)[0]) == len(before[0]) + 1


def test_a_project_in_a_folder_that_cannot_be_written_opens_read_only(app, qtbot, path,
                                                                     monkeypatch) -> None:
    """The lock file cannot be made: read-only media, or a folder without write permission
    (simulated: a test running as root may write anywhere)."""
    from alapp.store import lock

    def refuse(self) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self.path))

    monkeypatch.setattr(lock.ProjectLock, "acquire", refuse)
    before = dump(path)
    app.open(path)
    window = app.window
    assert window is not None and app.shown == []
    assert window.read_only == "the folder cannot be written"
    assert window.read_only_text.text().startswith("Read-only: the folder cannot be written.")
    qtbot.keyClick(window, "1")
    assert dump(path) == before
    window.try_writable.click()  # still cannot: read-only again, not an error
    assert app.window is not window and app.window.read_only == "the folder cannot be written"
    assert app.shown == []
