"""The one thread that writes a project file.

Every write of the application (labels, undo, settings, a round's batch and model, embeddings,
imports) runs here, in submission order, on the one writable connection; the GUI thread only
waits for the short ones and reads through its own read-only connection. Who owns the file
has a single answer: this thread, holding the project's lock.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from alapp.store.backup import BackupSchedule
from alapp.store.postgres import is_server_address
from alapp.store.project import Project

T = TypeVar("T")
_STOP = object()


class ProjectWriter:
    """Opens the project for writing on its own thread and runs write jobs there, one by one."""

    def __init__(self, path: Path | str, name: str = "alapp-writer") -> None:
        # a server project's address (issue 20) stays as given: it is no path
        self.path: Path = path if is_server_address(path) else Path(path)  # type: ignore[assignment]
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        opened: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(opened,), name=name,
                                        daemon=True)
        self._thread.start()
        opened.result()  # the lock is held (or the error raised) before the caller goes on
        self._closed = False

    def _run(self, opened: Future[None]) -> None:
        try:
            project = Project.open(self.path)
        except BaseException as e:
            opened.set_exception(e)
            return
        opened.set_result(None)
        backups = BackupSchedule(project)  # every 200 decisions, off this thread
        try:
            while True:
                job = self._jobs.get()
                if job is _STOP:
                    return
                fn, future = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(project))
                except BaseException as e:  # handed to whoever waits on the future
                    future.set_exception(e)
                backups.after_write(project)
        finally:
            backups.close()
            project.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def submit(self, fn: Callable[[Project], T]) -> Future[T]:
        """Queue a write; its future completes on the writer thread."""
        if self._closed:
            raise RuntimeError(f"{self.path}: the project is closed")
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write job may not wait for another write job (deadlock)")
        future: Future[T] = Future()
        self._jobs.put((fn, future))
        return future

    def call(self, fn: Callable[[Project], T]) -> T:
        """Run a write on the writer thread and wait for it (label writes take milliseconds)."""
        return self.submit(fn).result()

    def close(self, timeout: float = 60.0) -> None:
        """Finish the writes already queued, then close the file and release the lock."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._thread.join(timeout)


class InlineWriter:
    """Writes on the calling thread to a project the caller holds open: for the command line
    and scripts, where one thread does everything and so is the one writer."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = project.path

    def call(self, fn: Callable[[Project], T]) -> T:
        return fn(self.project)

    def close(self) -> None:
        """The caller closes the project it opened."""


def on_writer_thread(fn: Callable[[], T], name: str = "alapp-create") -> T:
    """Run ``fn`` (which creates or fills a project file) on a thread of its own and wait:
    a project that is not open yet has no writer thread, and the GUI thread never writes."""
    result: Future[T] = Future()

    def run() -> None:
        try:
            result.set_result(fn())
        except BaseException as e:
            result.set_exception(e)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join()
    return result.result()
