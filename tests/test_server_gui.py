"""The real window on a project on a PostgreSQL server (issue 20): label with the keys, undo,
and the next round is trained and saved on the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from alapp.store.demo import create_demo_project
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def server_window(qtbot, pg_address):
    from PySide6.QtWidgets import QApplication

    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    create_demo_project(pg_address).close()
    w = MainWindow(pg_address, annotator="tester")
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy, timeout=60_000)
    yield w
    w.close()


def _pool_labels(address: str) -> dict[int, str]:
    with Project.open(address, read_only=True) as p:
        return {i: lab for i, lab in p.current_labels().items()
                if p.item(i).split.value == "pool"}


def test_labels_from_the_window_land_on_the_server(server_window, qtbot, pg_address) -> None:
    window = server_window
    first = window.entry
    assert first is not None
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert _pool_labels(pg_address) == {first.item_id: "delivery"}
    second = window.entry
    assert second is not None and second.item_id != first.item_id
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert _pool_labels(pg_address) == {}
    for _ in range(12):  # enough for a round: the model is trained and saved on the server
        qtbot.waitUntil(lambda: window.entry is not None, timeout=60_000)
        qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=120_000)
    with Project.open(pg_address, read_only=True) as p:
        assert len(p.current_labels()) >= 12
        rounds = p._conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    assert rounds >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    window.grab().save(str(ARTIFACTS / "server-window.png"))


def test_the_start_screen_opens_a_server_project_typed_and_remembered(qtbot, pg_address) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

    from alapp.core.location import ServerAddress
    from alapp.ui import preferences
    from alapp.ui.app import Application

    create_demo_project(pg_address).close()
    preferences.set_annotator(ServerAddress(pg_address), "tester")  # not asked: a known name
    app = Application()
    app.open(None)
    start = app.start
    qtbot.addWidget(start)
    typed: list[str] = []

    def type_into_the_dialog(text: str) -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(50, lambda: type_into_the_dialog(text))
            return
        typed.append(dialog.labelText())
        dialog.setTextValue(text)
        dialog.accept()

    def dismiss_warning() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, dismiss_warning)
            return
        typed.append(box.text())
        box.accept()

    QTimer.singleShot(50, lambda: type_into_the_dialog("postgresql://ana:pw@db.lab/x"))
    QTimer.singleShot(100, dismiss_warning)
    start.server.click()  # a password in the address: refused, nothing opened
    assert "No password here" in typed[0] and "holds a password" in typed[1]
    assert app.window is None
    QTimer.singleShot(50, lambda: type_into_the_dialog(pg_address))
    start.server.click()
    qtbot.waitUntil(lambda: app.window is not None, timeout=30_000)
    window = app.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    assert isinstance(window.session.path, ServerAddress) and window.entry is not None
    assert window.windowTitle().endswith("— on " + ServerAddress(pg_address).host)
    window.close()
    app.window = None
    app.open(None)  # the start screen again: the server project is among the recent ones
    qtbot.addWidget(app.start)
    shown = [app.start.recent.item(i).text() for i in range(app.start.recent.count())]
    assert any(pg_address in line for line in shown)


def test_settings_say_the_project_is_on_the_server_and_save_its_claims_there(
        server_window, pg_address) -> None:
    from alapp.core.location import ServerAddress

    window = server_window
    window.settings_dialog()
    dialog = window.settings_window
    host = ServerAddress(pg_address).host
    assert f"on the server {host}" in dialog.annotators_note.text()
    dialog.claim_window.setValue(4)
    dialog.claim_overlap.setValue(25)
    dialog.apply()
    assert dialog.changes == {"claim_window": 4, "claim_overlap": 25}
    with Project.open(pg_address, read_only=True) as p:
        stored = p.settings()
    assert (stored.claim_window, stored.claim_overlap) == (4, 25)
