"""A progress and cancel token that background work reports to and checks."""

from __future__ import annotations

import threading
from collections.abc import Callable

from alapp.core.errors import Cancelled


class Progress:
    def __init__(self, on_change: Callable[[str, float], None] | None = None) -> None:
        self._cancel = threading.Event()
        self._on_change = on_change
        self.stage = ""
        self.fraction = 0.0

    def report(self, stage: str, fraction: float) -> None:
        """Called by the work; raises Cancelled when the user asked to stop."""
        self.check()
        self.stage, self.fraction = stage, fraction
        if self._on_change:
            self._on_change(stage, fraction)

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()
