"""The suite's own hygiene: a GUI test keeps the application's settings (recent projects,
shortcuts, window geometry) in a folder of its own, never in the developer's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import write

pytestmark = pytest.mark.gui


def _developers_settings_file() -> Path | None:
    """Where QSettings("alapp", "alapp") lives for the user on Linux."""
    if not sys.platform.startswith("linux"):
        return None
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "alapp/alapp.conf"


@pytest.mark.parametrize("run", ["first", "second"])
def test_a_gui_test_keeps_its_recent_projects_to_itself(qtbot, tmp_path, isolated_settings,
                                                       run) -> None:
    from PySide6.QtCore import QSettings

    from alapp.store.importer import import_file
    from alapp.store.project import Project
    from alapp.ui import preferences
    from alapp.ui.main_window import MainWindow
    from alapp.ui.start_screen import StartScreen

    assert preferences.recent_projects() == []  # nothing left over from an earlier test
    path = (tmp_path / f"{run}.alapp").resolve()
    with Project.create(path, ["spam", "ham"], featurizer="tfidf") as project:
        import_file(project, write(tmp_path / "in.txt", "one\ntwo\nthree\nfour\n"))
    window = MainWindow(path, annotator="tester")  # the window remembers the project it opens
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    window.close()

    own = isolated_settings / "alapp.ini"
    assert own.is_file()
    assert QSettings(str(own), QSettings.Format.IniFormat).value("recent") in ([str(path)],
                                                                              str(path))
    assert preferences.recent_projects() == [path]
    start = StartScreen()
    qtbot.addWidget(start)
    assert [start.recent.item(i).text() for i in range(start.recent.count())] == [
        f"{path.stem}    {path.parent}"]
    # Code that bypassed preferences.store() would land in this test's folder too...
    assert Path(QSettings("alapp", "alapp").fileName()).parent.parent == isolated_settings
    # ...and the developer's own settings never hear of the project.
    real = _developers_settings_file()
    if real is not None and real.is_file():
        assert str(path) not in real.read_text("utf-8", errors="replace")
