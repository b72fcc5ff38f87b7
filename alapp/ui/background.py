"""Running engine work off the GUI thread and hearing about it on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from alapp.core.errors import Cancelled
from alapp.engine.jobs import CoalescingRunner
from alapp.engine.progress import Progress


class Background(QObject):
    """One job at a time on a worker thread; its outcome arrives as a signal on the GUI thread
    (signals queue across threads), including a cancel, so the UI can always tidy up."""

    done = Signal(object)
    failed = Signal(object)
    cancelled = Signal()
    progress = Signal(str, float)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = CoalescingRunner(self.done.emit, self.failed.emit, self.progress.emit,
                                       name=name)

    def submit(self, work: Callable[[Progress], Any]) -> None:
        def run(progress: Progress) -> Any:
            try:
                return work(progress)
            except Cancelled:
                self.cancelled.emit()
                raise

        self.runner.submit(run)

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def cancel(self) -> None:
        self.runner.cancel()

    def close(self) -> None:
        self.runner.close()
