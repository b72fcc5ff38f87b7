"""One trainer at a time on a server project (issue 20), and what each round was trained on.

The trainer lock is a session-level advisory lock (``LOCK_CLASS``, ``TRAINER_LOCK``) held on a
connection of its own: it outlives the short write transactions of the round, and the server
releases it the moment that connection ends, so a trainer that crashes or loses its network
never leaves the project locked. A project file needs none: its file lock already makes one
process its only writer, so the lock of a file project is always taken.

``round_origins`` says which session trained each round, on which machine, and the newest
label event it had read: a worker counts the labels that arrived since the last round from
it, by event id (never by clocks, which differ between machines).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from alapp.core.location import ServerAddress
from alapp.core.types import Source
from alapp.store.postgres import LOCK_CLASS, TRAINER_LOCK, PgConnection, connect
from alapp.store.project import Project


class TrainerLock:
    """The project's trainer lock, tried without waiting. Use ``try_take`` and ``release``
    (or ``close``, which releases it with the connection)."""

    def __init__(self, project: Project) -> None:
        self.location = project.path
        self._conn: PgConnection | None = None
        if project.on_server:
            from alapp.store.schema import server_tables

            self._conn = connect(ServerAddress(str(project.path)), server_tables())
        self.held = False

    def try_take(self) -> bool:
        """Take the lock if no other session holds it; True when this one holds it now."""
        if self.held:
            return True
        if self._conn is None:  # a file: its lock file already excludes every other writer
            self.held = True
            return True
        row = self._conn.execute("SELECT pg_try_advisory_lock(?, ?)",
                                 (LOCK_CLASS, TRAINER_LOCK)).fetchone()
        self.held = row is not None and bool(row[0])
        return self.held

    def release(self) -> None:
        if self.held and self._conn is not None:
            self._conn.execute("SELECT pg_advisory_unlock(?, ?)", (LOCK_CLASS, TRAINER_LOCK))
        self.held = False

    def close(self) -> None:
        try:
            self.release()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> TrainerLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def someone_trains(project: Project) -> bool:
    """Whether a session (any, this one's included) holds the trainer lock now."""
    if not project.on_server:
        return False
    row = project._conn.execute(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = ? "
        "AND objid = ? AND objsubid = 2 AND granted", (LOCK_CLASS, TRAINER_LOCK)).fetchone()
    return bool(row[0])


@dataclass(frozen=True)
class RoundOrigin:
    """Who trained a round, where, and the newest label event it read."""

    trained_by: str
    host: str
    last_event: int


def last_event(project: Project) -> int:
    """The newest label event's id (0: none): read before a round's snapshot, so a round never
    counts as seen an event it did not read."""
    row = project._conn.execute("SELECT MAX(id) FROM label_events").fetchone()
    return int(row[0] or 0)


def record_origin(conn: Any, round_id: int, origin: RoundOrigin) -> None:
    """Inside the round's own transaction (``store.rounds.save_round``)."""
    conn.execute("INSERT INTO round_origins (round_id, trained_by, host, last_event) "
                 "VALUES (?, ?, ?, ?)",
                 (round_id, origin.trained_by[:100], origin.host[:100], origin.last_event))


@dataclass(frozen=True)
class NewestRound:
    """The newest saved round, its model version (None: it trained none) and who made it."""

    round_id: int
    model_version: int | None
    n_labeled: int
    strategy: str
    kind: str
    metrics: dict[str, Any]
    features: str
    origin: RoundOrigin | None


def newest_round(project: Project) -> NewestRound | None:
    row = project._conn.execute(
        "SELECT r.id, r.model_version, r.n_labeled, r.strategy, m.kind, m.metrics, m.params, "
        "o.trained_by, o.host, o.last_event FROM rounds r "
        "LEFT JOIN models m ON m.version = r.model_version "
        "LEFT JOIN round_origins o ON o.round_id = r.id "
        "ORDER BY r.id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    origin = None if row[7] is None else RoundOrigin(str(row[7]), str(row[8]), int(row[9]))
    params = json.loads(row[6] or "{}")
    return NewestRound(int(row[0]), None if row[1] is None else int(row[1]), int(row[2] or 0),
                       str(row[3] or ""), str(row[4] or ""), json.loads(row[5] or "{}"),
                       str(params.get("features") or ""), origin)


def labels_since(project: Project, event_id: int) -> int:
    """Decisions that change what a model trains on, made after event ``event_id``: labels
    and undos outside the held-out test set."""
    row = project._conn.execute(
        "SELECT COUNT(*) FROM label_events WHERE id > ? AND action IN ('label', 'undo') "
        "AND source != ?", (event_id, Source.TEST_SET.value)).fetchone()
    return int(row[0])


def new_labels(project: Project) -> int:
    """Labels made since the newest round's snapshot; every label event when no round has a
    known origin (a project whose rounds were all made by the window of a file project)."""
    newest = newest_round(project)
    return labels_since(project, newest.origin.last_event
                        if newest is not None and newest.origin is not None else 0)
