"""A guard against a reference-count bug of the installed Qt binding.

PySide6/shiboken6 6.12.0 on CPython 3.11 hands back ``None`` from every Qt method that returns
nothing (``QPainter.fillRect``, ``QLabel.setText``, ``QWidget.update`` ...), and ``True`` from
every ``Signal.emit``, without taking a reference to it: each call takes one reference away,
and when the count reaches zero CPython aborts ("none_dealloc: deallocating None", "bool_dealloc:
deallocating True or False"). They start with a few thousand, so a window that paints itself
(the span editor makes hundreds of such calls a frame) dies within seconds, and any window
within a long session. On CPython 3.12+ these objects are immortal and the bug is harmless.

``guard_singletons()`` measures whether the binding has the bug and, if so, gives ``None``,
``True`` and ``False`` a reserve of 2**40 references each (they are never freed anyway):
about a thousand years of calls.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

RESERVE = 1 << 40
PROBES = 16


def leaked() -> list[object]:
    """The singletons a Qt call takes references from: a method that returns nothing
    (``None``), a signal's ``emit`` (``True``)."""
    from PySide6.QtCore import QObject, QPoint, Signal

    class Probe(QObject):
        ping = Signal()

    point, probe = QPoint(), Probe()
    found: list[object] = []
    probes: list[tuple[object, Callable[[], object]]] = [
        (None, lambda: point.setX(1)), (True, lambda: probe.ping.emit())]
    for singleton, call in probes:
        before = sys.getrefcount(singleton)
        for _ in range(PROBES):
            call()
        if sys.getrefcount(singleton) < before - PROBES // 2:
            found.append(singleton)
    return found


def guard_singletons() -> list[object]:
    """Give the leaking singletons (and ``False`` with ``True``) their reserve, once; returns
    those given one."""
    if sys.version_info >= (3, 12) or getattr(guard_singletons, "done", False):
        return []
    guard_singletons.done = True  # type: ignore[attr-defined]
    try:
        found = leaked()
    except ImportError:  # no Qt binding here: nothing to guard (and no window to show)
        return []
    if True in found:
        found.append(False)
    for singleton in found:
        ctypes.c_ssize_t.from_address(id(singleton)).value += RESERVE
    return found
