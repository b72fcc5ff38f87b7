"""The one bridge from background work to the GUI thread: every job's outcome, its progress
and the moment the worker goes idle arrive as Qt signals (queued across threads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from alapp.app.jobs import CoalescingRunner
from alapp.core.progress import Progress


class Background(QObject):
    """One job at a time on a worker thread. Each job ends in exactly one of ``done``,
    ``failed`` or ``cancelled``; ``idle`` follows when nothing is running or waiting.

    ``busy`` stays true until this (GUI) thread has received that ``idle``, not only until
    the worker thread ends: the outcome travels as a queued signal, and a caller that saw
    the thread gone before the outcome arrived acted on a window that had not caught up
    (a CI run met that gap)."""

    done = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    progress = Signal(str, float)
    idle = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = CoalescingRunner(self.done.emit, self.failed.emit, self.progress.emit,
                                       name=name, on_cancelled=self.cancelled.emit,
                                       on_idle=self.idle.emit)
        self._unsettled = 0  # worker threads started whose ``idle`` has not arrived here
        # Connected first, so every other ``idle`` handler already sees ``busy`` false.
        self.idle.connect(self._settled)

    def submit(self, work: Callable[[Progress], Any]) -> None:
        if self.runner.submit(work):
            self._unsettled += 1

    def _settled(self) -> None:
        self._unsettled = max(0, self._unsettled - 1)

    @property
    def busy(self) -> bool:
        return self._unsettled > 0 or self.runner.busy

    def cancel(self) -> None:
        self.runner.cancel()

    def close(self) -> None:
        self.runner.close()
