"""Background work with coalescing: one job running, at most one waiting, always the latest.

A new request while a job is running replaces any request still waiting, so the next round
always trains on the newest labels and stale requests never pile up (INCEpTION's cadence).

The protocol is closed: every job that starts ends in exactly one of ``on_done`` (it returned),
``on_failed`` (it raised) or ``on_cancelled`` (it raised ``Cancelled``, which ``Progress``
does once cancel was asked); a waiting request dropped before it started never began. When
nothing is running or waiting any more, ``on_idle`` follows the last outcome, so a window
knows when to hide its progress bar without asking a flag that may change under it.
Callbacks run on the worker thread; the UI forwards them to its own thread by signal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from alapp.core.errors import Cancelled
from alapp.core.progress import Progress

Work = Callable[[Progress], Any]


def _nothing(*_: Any) -> None:
    return None


class CoalescingRunner:
    def __init__(self, on_done: Callable[[Any], None],
                 on_failed: Callable[[BaseException], None],
                 on_progress: Callable[[str, float], None] | None = None,
                 name: str = "alapp-worker",
                 on_cancelled: Callable[[], None] | None = None,
                 on_idle: Callable[[], None] | None = None) -> None:
        self._on_done, self._on_failed = on_done, on_failed
        self._on_progress = on_progress
        self._on_cancelled = on_cancelled or _nothing
        self._on_idle = on_idle or _nothing
        self._name = name
        self._lock = threading.Lock()
        self._pending: Work | None = None
        self._thread: threading.Thread | None = None
        self._progress: Progress | None = None
        self._closed = False

    def submit(self, work: Work) -> bool:
        """Queue ``work``; True when this started a worker thread, which ends with one
        ``on_idle`` (a caller on another thread can count what it still has to receive)."""
        with self._lock:
            if self._closed:
                return False
            self._pending = work  # replaces an older waiting request
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
                return True
            return False

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None

    def cancel(self) -> None:
        """Stop the running job and drop the waiting one."""
        with self._lock:
            self._pending = None
            if self._progress:
                self._progress.cancel()

    def close(self, timeout: float = 30.0) -> None:
        """Cancel everything and wait for the worker, so no thread outlives its owner."""
        with self._lock:
            self._closed = True
            self._pending = None
            if self._progress:
                self._progress.cancel()
            thread = self._thread
        if thread and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                work, self._pending = self._pending, None
                if work is None:
                    self._thread = None
                    self._progress = None
                    break
                self._progress = Progress(self._on_progress)
                progress = self._progress
            try:
                result = work(progress)
            except Cancelled:
                self._on_cancelled()
            except BaseException as e:  # reported to the UI, never lost in a thread
                self._on_failed(e)
            else:
                self._on_done(result)  # it finished: a cancel that came later is too late
        self._on_idle()
