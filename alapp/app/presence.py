"""Who else labels a server project (issue 20): this session's heartbeat and the line the
window's status bar shows ("Also labeling: Ana (2 min ago), worker on gpu-box (training)").

The heartbeat is written through the session's writer (the one thread that writes), every
``BEAT_EVERY_S`` and whenever what the session does changes; reading the others is one short
indexed query on the caller's connection.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from alapp.store import presence
from alapp.store.presence import Presence
from alapp.store.project import Project

BEAT_EVERY_S = 30.0
LABELING = "labeling"
TRAINING = "training"
WAITING = "waiting for labels"

log = logging.getLogger(__name__)


def host_name() -> str:
    return socket.gethostname().split(".")[0] or "this computer"


class Heartbeat:
    """This session's row in the project's presence table, kept fresh from a thread of its
    own that hands each write to ``writer`` (it never writes itself)."""

    def __init__(self, writer: Any, reader: Project, annotator: Callable[[], str],
                 role: str = "gui", activity: str | None = None,
                 every_s: float = BEAT_EVERY_S) -> None:
        self.writer = writer
        self.reader = reader
        self.annotator = annotator
        self.role = role
        # what it does until it says otherwise: a window labels, a worker waits for labels
        self.activity = activity or (WAITING if role == "worker" else LABELING)
        self.every_s = every_s
        self.id = uuid.uuid4().hex
        self.host = host_name()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread and set_activity both submit beats
        self._warned = False
        self._thread = threading.Thread(target=self._run, name="alapp-presence", daemon=True)

    def start(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def set_activity(self, activity: str) -> None:
        """What this session does now; written at once."""
        if activity != self.activity:
            self.activity = activity
            self._beat()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            session, name, host, role, activity = (self.id, self.annotator(), self.host,
                                                   self.role, self.activity)
            try:
                future = self.writer.submit(
                    lambda p: presence.beat(p, session, name, host, role, activity))
            except RuntimeError:  # the writer closed: the session is ending
                return
        future.add_done_callback(self._failed)

    def _failed(self, future: Any) -> None:
        error = future.exception()
        if error is not None and not self._warned:  # a lost network: the labels say so
            self._warned = True
            log.warning("presence heartbeat not written: %s", error)

    def stop(self) -> None:
        """Stop beating and take this session's row out (before the writer closes)."""
        with self._lock:
            self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        try:
            self.writer.call(lambda p: presence.leave(p, self.id))
        except Exception as e:  # closing: the row expires in two minutes anyway
            log.warning("presence row not removed: %s", e)

    def others(self) -> list[Presence]:
        """The other sessions seen within two minutes, the most recent first."""
        return presence.present(self.reader, exclude=self.id)

    def line(self) -> str:
        """The status bar's line about the others ("" when nobody else is connected)."""
        return also_labeling(self.others())


def also_labeling(people: Sequence[Presence]) -> str:
    """"Also labeling: Ana (2 min ago), worker on gpu-box (training)": a worker, and a name
    connected from two machines, with its host; what a session does when not labeling, else
    when it was last seen."""
    if not people:
        return ""
    names = Counter(p.annotator for p in people)
    parts = []
    for p in people:
        who = (f"{p.annotator} on {p.host}" if p.role == "worker" or names[p.annotator] > 1
               else p.annotator)
        what = p.activity if p.activity and p.activity != LABELING else ago(p.age_s)
        parts.append(f"{who} ({what})")
    return "Also labeling: " + ", ".join(parts)


def ago(seconds: float) -> str:
    """A heartbeat's age: "now" within 45 s (beats come every 30 s), else in minutes."""
    if seconds < 45:
        return "now"
    return f"{max(1, round(seconds / 60))} min ago"
