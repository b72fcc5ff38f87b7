"""Background work ends in exactly one outcome, then idle; the writer thread owns the file."""

from __future__ import annotations

import threading
import time

import pytest

from alapp.app.jobs import CoalescingRunner
from alapp.app.writer import ProjectWriter
from alapp.core.errors import ProjectLockedError
from alapp.store.project import Project


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.idle = threading.Event()

    def runner(self) -> CoalescingRunner:
        return CoalescingRunner(lambda r: self.events.append(("done", r)),
                                lambda e: self.events.append(("failed", type(e).__name__)),
                                name="alapp-test-jobs",
                                on_cancelled=lambda: self.events.append(("cancelled", None)),
                                on_idle=self._idle)

    def _idle(self) -> None:
        self.events.append(("idle", None))
        self.idle.set()


def _run(work, cancel_when: threading.Event | None = None) -> list[tuple[str, object]]:
    rec = Recorder()
    runner = rec.runner()
    runner.submit(work)
    if cancel_when is not None:
        assert cancel_when.wait(5)
        runner.cancel()
    assert rec.idle.wait(5)
    assert not runner.busy
    runner.close()
    return rec.events


def test_done_then_idle() -> None:
    assert _run(lambda progress: 42) == [("done", 42), ("idle", None)]


def test_failed_then_idle() -> None:
    def broken(progress):
        raise ValueError("bad")

    assert _run(broken) == [("failed", "ValueError"), ("idle", None)]


def test_cancel_before_the_last_report_is_cancelled() -> None:
    started = threading.Event()

    def work(progress):
        started.set()
        for step in range(500):
            progress.report("working", step / 500)
            time.sleep(0.01)
        return "finished"

    assert _run(work, started) == [("cancelled", None), ("idle", None)]


def test_cancel_after_the_last_report_still_ends_once() -> None:
    """The case that used to emit nothing: the work had reported for the last time and then
    returned while a cancel arrived. It finished, so it is done, and idle follows."""
    reported, release = threading.Event(), threading.Event()

    def work(progress):
        progress.report("last step", 1.0)
        reported.set()
        release.wait(5)  # cancel lands here, after the last report
        return "finished"

    rec = Recorder()
    runner = rec.runner()
    runner.submit(work)
    assert reported.wait(5)
    runner.cancel()
    release.set()
    assert rec.idle.wait(5)
    runner.close()
    assert rec.events == [("done", "finished"), ("idle", None)]


def test_a_superseded_request_never_starts_and_idle_comes_once() -> None:
    gate = threading.Event()
    rec = Recorder()
    runner = rec.runner()
    runner.submit(lambda progress: gate.wait(5) and "first")
    time.sleep(0.05)
    runner.submit(lambda progress: "second")
    runner.submit(lambda progress: "third")
    gate.set()
    assert rec.idle.wait(5)
    runner.close()
    assert rec.events == [("done", "first"), ("done", "third"), ("idle", None)]


def test_writer_runs_every_write_on_its_own_thread(tmp_path) -> None:
    path = tmp_path / "p.alapp"
    Project.create(path, ["a", "b"]).close()
    writer = ProjectWriter(path)
    try:
        threads = []

        def add(project: Project) -> None:
            threads.append(threading.current_thread())
            project.add_labels(["c"])

        writer.call(add)
        assert threads == [writer.thread] and writer.thread is not threading.current_thread()
        with Project.open(path, read_only=True) as reader:
            assert reader.labels() == ["a", "b", "c"]
        with pytest.raises(ProjectLockedError):  # the writer holds the project's lock
            Project.open(path)
        with pytest.raises(ValueError, match="boom"):  # errors come back to the caller
            writer.call(lambda project: (_ for _ in ()).throw(ValueError("boom")))
        writer.call(lambda project: project.add_labels(["d"]))  # and the writer goes on
    finally:
        writer.close()
    assert not writer.thread.is_alive()
    with Project.open(path) as p:  # closing released the lock
        assert p.labels() == ["a", "b", "c", "d"]


def test_writer_refuses_a_locked_project_at_once(tmp_path) -> None:
    path = tmp_path / "p.alapp"
    holder = Project.create(path, ["a"])
    try:
        with pytest.raises(ProjectLockedError):
            ProjectWriter(path)
    finally:
        holder.close()
