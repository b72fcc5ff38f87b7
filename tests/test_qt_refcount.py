"""PySide6 6.12.0 drops one reference to None on every call into Python from Qt's event loop
(an event filter, a QTimer slot, processEvents). On Python 3.11, where None is not immortal,
the window (it installs an app-wide event filter) aborts with "none_dealloc" within minutes of
use. pyproject pins PySide6 below 6.12; this test fails on a version with the bug."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

CALLS = 3000  # a leaking build loses exactly one reference per call


class _PassAll(QObject):
    def eventFilter(self, watched: QObject, event: object) -> bool:
        return False


def test_event_loop_calls_into_python_keep_none_alive(qtbot) -> None:
    app = QApplication.instance()
    assert app is not None
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    event_filter = _PassAll()
    app.installEventFilter(event_filter)
    try:
        timer.start(0)
        before = sys.getrefcount(None)
        for _ in range(CALLS):
            app.processEvents()
        after = sys.getrefcount(None)
    finally:
        timer.stop()
        app.removeEventFilter(event_filter)
    assert ticks, "the timer never fired, so nothing was measured"
    assert after - before > -CALLS // 10, (
        f"None lost {before - after} references over {CALLS} event-loop calls: this PySide6 "
        "build leaks them and the app will abort (see pyproject's PySide6 pin)")
