"""The GUI's view of a background job: ``busy`` holds until this thread has received the
job's outcome, so code that waits for ``not busy`` sees the window already updated."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")


def test_busy_until_the_outcome_reached_the_gui_thread(qtbot) -> None:
    from alapp.ui.background import Background

    work = Background("alapp-test-background")
    seen: list[tuple[str, object]] = []
    work.done.connect(lambda result: seen.append(("done", result)))
    work.idle.connect(lambda: seen.append(("idle", work.busy)))
    work.submit(lambda progress: 7)
    deadline = time.monotonic() + 10
    while work.runner.busy and time.monotonic() < deadline:
        time.sleep(0.01)  # no event processing: the outcome waits in this thread's queue
    assert not work.runner.busy, "the worker thread never ended"
    assert seen == [] and work.busy  # the thread is gone, the outcome not yet handled
    qtbot.waitUntil(lambda: not work.busy, timeout=5_000)
    assert seen == [("done", 7), ("idle", False)]  # idle handlers already see it settled
    work.close()


def test_a_second_job_ended_while_the_first_outcome_travels_keeps_it_busy(qtbot) -> None:
    from alapp.ui.background import Background

    work = Background("alapp-test-background")
    idle_busy: list[bool] = []
    work.idle.connect(lambda: idle_busy.append(work.busy))

    def wait_for_the_thread() -> None:
        deadline = time.monotonic() + 10
        while work.runner.busy and time.monotonic() < deadline:
            time.sleep(0.01)  # no event processing
        assert not work.runner.busy

    work.submit(lambda progress: 1)
    wait_for_the_thread()
    work.submit(lambda progress: 2)  # a second thread; the first one's idle is still queued
    wait_for_the_thread()
    qtbot.waitUntil(lambda: len(idle_busy) == 2, timeout=5_000)
    assert idle_busy == [True, False]  # the first idle left the second outcome outstanding
    work.close()
