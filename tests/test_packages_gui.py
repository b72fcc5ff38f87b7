"""The File menu's package actions in the real window, offscreen: merge a results package
(through the writer thread, a refusal leaving the project unchanged), send labels back from
an opened package, open a package as a project under the packed-for name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from alapp.app import packages as ap
from alapp.store import packages as sp
from alapp.store.project import Project
from tests.test_packages import label_package, make_main

SHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO") or
             Path(__file__).resolve().parents[1] / "test-artifacts")


def open_window(qtbot, path: Path, annotator: str | None = "lead"):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    window = MainWindow(path, annotator=annotator)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=120_000)
    return window


def choose(monkeypatch: pytest.MonkeyPatch, opened: Path | None = None,
           saved: Path | None = None) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(opened or ""), "")))
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(saved or ""), "")))


def file_menu_shot(qtbot, window, path: Path) -> None:  # type: ignore[no-untyped-def]
    """The window with its File menu open, drawn into one picture (offscreen, a menu is a
    window of its own)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    menu = window.menuBar().actions()[0].menu()
    menu.popup(window.mapToGlobal(QPoint(0, window.menuBar().height())))
    qtbot.waitExposed(menu)
    picture = window.grab()
    painter = QPainter(picture)
    painter.drawPixmap(QPoint(0, window.menuBar().height()), menu.grab())
    painter.end()
    picture.save(str(path))
    menu.close()


def test_merge_package_from_the_file_menu(qtbot, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from alapp.ui import package_actions

    main_path = make_main(tmp_path)
    package = ap.pack(main_path, "Алиса", 6, out=tmp_path / "a.alapppack").path
    results = label_package(package, tmp_path / "a.alapp", "ws-a",
                            ["billing", "delivery", None, "praise", "billing", "account"])
    other = make_main(tmp_path, "other.alapp")
    window = open_window(qtbot, other)
    assert {"Open pac&kage…", "Send labels &back…", "Mer&ge package…"} <= set(
        window.menu_actions)
    warned: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text: warned.append(text)))
    choose(monkeypatch, opened=results)
    with Project.open(other, read_only=True) as project:
        before = sp.table_dump(project)
    assert package_actions.merge_package_dialog(window) is None
    assert "made for another project" in warned[0]
    with Project.open(other, read_only=True) as project:
        assert sp.table_dump(project) == before
    window.close()

    window = open_window(qtbot, main_path)
    box = package_actions.merge_package_dialog(window)
    assert box is not None
    assert "merged 6 new events (5 label, 1 skip) on 6 items" in box.text()
    assert "Алиса: 6 events" in box.informativeText()
    qtbot.waitUntil(lambda: not window.work.busy, timeout=120_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    file_menu_shot(qtbot, window, SHOTS / "packages_file_menu.png")
    box.grab().save(str(SHOTS / "packages_merge.png"))
    box.close()
    with Project.open(main_path, read_only=True) as project:
        assert sum(e["annotator"] == "Алиса" for e in project.events()) == 6
    window.close()


def test_send_back_and_open_package_from_the_file_menu(qtbot, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    from alapp.ui import package_actions, preferences

    main_path = make_main(tmp_path)
    package = ap.pack(main_path, "bob", 4, out=tmp_path / "b.alapppack").path
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "information",
                        staticmethod(lambda parent, title, text: told.append(text)))
    window = open_window(qtbot, main_path)
    opened_paths: list[Path] = []
    window.open_requested.connect(opened_paths.append)
    choose(monkeypatch, opened=package, saved=tmp_path / "bob.alapp")
    assert package_actions.open_package_dialog(window) == tmp_path / "bob.alapp"
    assert opened_paths == [tmp_path / "bob.alapp"]
    assert preferences.annotator(tmp_path / "bob.alapp") == "bob"
    assert package_actions.send_back_dialog(window) is None  # the main project: nothing to send
    assert "not a project opened from a package" in told[0]
    window.close()

    window = open_window(qtbot, tmp_path / "bob.alapp", annotator=None)
    assert window.session.annotator == "bob"
    with Project.open(tmp_path / "bob.alapp", read_only=True):
        pass
    window.session.writer.call(lambda p: p.label_item(p.item_ids()[0], "praise", "bob"))
    out = tmp_path / "bob-results.alapppack"
    choose(monkeypatch, saved=out)
    assert package_actions.send_back_dialog(window) == out
    assert "wrote 1 events (1 labels on 1 items, by bob)" in told[-1]
    window.close()
    assert ap.merge_package(main_path, out).new_events == 1


def test_a_package_opened_from_the_start_screen_becomes_its_project(qtbot, tmp_path: Path
                                                                      ) -> None:
    from alapp.ui import preferences
    from alapp.ui.app import Application

    main_path = make_main(tmp_path)
    package = ap.pack(main_path, "carol", 3, out=tmp_path / "c.alapppack").path
    controller = Application()
    try:
        for _ in range(2):  # made the first time, the same project the second
            controller.open(package)
            assert controller.window is not None
            qtbot.waitUntil(lambda: not controller.window.work.busy, timeout=120_000)
            assert controller.window.session.path == tmp_path / "c.alapp"
            assert controller.window.session.annotator == "carol"
            controller.window.close()
            controller.window = None
        assert preferences.annotator(tmp_path / "c.alapp") == "carol"
    finally:
        if controller.window is not None:
            controller.window.close()
        if controller.start is not None:
            controller.start.close()
