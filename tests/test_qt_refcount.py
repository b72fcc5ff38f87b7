"""PySide6 6.12.0 drops one reference to None on every call into Python from Qt's event loop
(an event filter, a QTimer slot, processEvents) and on every Qt method that returns nothing,
and one to True on every signal emit. On Python 3.11, where these are not immortal, the window
(an app-wide event filter; the span editor's hundreds of paint calls a frame) aborts with
"none_dealloc" within seconds to minutes. pyproject pins PySide6 below 6.12; these tests fail
on a build with the bug (measured: 6.12.0 fails, 6.11.3 passes)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QPoint, QTimer, Signal
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


class _Probe(QObject):
    ping = Signal()


def test_void_calls_and_signal_emits_keep_none_and_true_alive() -> None:
    point, probe = QPoint(), _Probe()
    probe.ping.connect(lambda: None)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(CALLS):
        point.setX(1)  # returns nothing
    none_after = sys.getrefcount(None)
    for _ in range(CALLS):
        probe.ping.emit()
    true_after = sys.getrefcount(True)
    assert none_after - none_before > -CALLS // 10, "Qt's void calls leak references to None"
    assert true_after - true_before > -CALLS // 10, "signal emits leak references to True"
