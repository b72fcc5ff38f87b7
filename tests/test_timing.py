"""Active labeling time, driven by a fake clock."""

from __future__ import annotations

from alapp.core.timing import ActiveTimer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def test_continuous_work_counts_fully() -> None:
    clock = Clock()
    timer = ActiveTimer(idle_cutoff_s=60, clock=clock)
    timer.start()
    for _ in range(10):
        clock.tick(3)
        timer.activity()
    clock.tick(2)
    assert timer.stop_ms() == 32_000


def test_idle_stretch_counts_only_up_to_the_cutoff() -> None:
    clock = Clock()
    timer = ActiveTimer(idle_cutoff_s=60, clock=clock)
    timer.start()
    clock.tick(5)
    timer.activity()
    clock.tick(600)  # went for lunch
    timer.activity()
    clock.tick(4)
    assert timer.stop_ms() == (5 + 60 + 4) * 1000


def test_time_with_the_window_inactive_is_not_counted() -> None:
    clock = Clock()
    timer = ActiveTimer(idle_cutoff_s=60, clock=clock)
    timer.start()
    clock.tick(10)
    timer.pause()  # another window in front
    clock.tick(300)
    timer.resume()
    clock.tick(7)
    timer.activity()
    timer.resume()  # a second resume changes nothing
    clock.tick(1)
    assert timer.stop_ms() == 18_000


def test_stop_while_inactive_and_restart() -> None:
    clock = Clock()
    timer = ActiveTimer(idle_cutoff_s=30, clock=clock)
    timer.start()
    clock.tick(4)
    timer.pause()
    clock.tick(100)
    assert timer.stop_ms() == 4000
    timer.start()
    clock.tick(2)
    assert timer.stop_ms() == 2000
