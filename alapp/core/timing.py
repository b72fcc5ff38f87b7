"""Active labeling time: from the moment an item is shown until it is submitted, not counting
idle stretches (no input for longer than the cutoff) or time the window was not active.

The clock is injected, so tests drive it by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ActiveTimer:
    def __init__(self, idle_cutoff_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_cutoff = idle_cutoff_s
        self._clock = clock
        self._active_s = 0.0
        self._last: float | None = None  # last moment counted from; None while paused
        self.started_wall: float | None = None

    def start(self) -> None:
        """A new item is shown."""
        self._active_s = 0.0
        self._last = self._clock()
        self.started_wall = time.time()

    def activity(self) -> None:
        """Any input: counts the time since the last input, unless it was an idle stretch."""
        now = self._clock()
        if self._last is not None:
            gap = now - self._last
            # An idle stretch counts up to the cutoff: the annotator may have been reading.
            self._active_s += min(gap, self.idle_cutoff)
        self._last = now

    def pause(self) -> None:
        """The window lost focus: count up to now, then stop counting."""
        self.activity()
        self._last = None

    def resume(self) -> None:
        if self._last is None:
            self._last = self._clock()

    def stop_ms(self) -> int:
        """Submitted: the active milliseconds spent on this item."""
        if self._last is not None:
            self.activity()
        ms = round(self._active_s * 1000)
        self._last = None
        return ms
