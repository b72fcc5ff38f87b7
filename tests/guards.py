"""Guards every GUI test runs under: the GUI thread never writes the project file.

All writes go through the project's writer thread. A statement that writes, run on the main
thread (the GUI thread in a Qt test) from code in ``alapp/ui``, fails the test. Test code that
prepares a project before driving the window is not GUI code and is not counted.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN IMMEDIATE",
           "VACUUM", "PRAGMA USER_VERSION =", "PRAGMA APPLICATION_ID =")
_UI = str(Path(__file__).resolve().parents[1] / "alapp" / "ui")


def _from_ui() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_UI):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@pytest.fixture(autouse=True)
def gui_thread_never_writes(request: pytest.FixtureRequest):
    if "qtbot" not in request.fixturenames and request.node.get_closest_marker("gui") is None:
        yield
        return
    from alapp.store import project

    seen: list[str] = []

    def watch(statement: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if statement.lstrip().upper().startswith(_WRITES) and _from_ui():
            seen.append(statement.strip().splitlines()[0][:120])

    project.statement_watcher = watch
    try:
        yield seen
    finally:
        project.statement_watcher = None
    assert not seen, f"the GUI thread wrote to the project: {seen[:5]}"
