"""A project's team (issue 19): who may label it, what each of them decided, and a reviewer's
adjudications. What the rule makes of the decisions is store/resolution.py."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from alapp.core.errors import AlappError
from alapp.core.types import Action, EventId, ItemId, Selection, Source
from alapp.store.project import Project
from alapp.store.resolution import read_events, votes_of

MAX_NAME = 100  # characters of an annotator's name, as the session allows


def register_annotator(conn: sqlite3.Connection, name: str, how: str) -> None:
    """Add ``name`` to the project's annotators, if new (inside the caller's transaction)."""
    conn.execute("INSERT OR IGNORE INTO annotators (name, added_at, how) VALUES (?, ?, ?)",
                 (name, time.time(), how))


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise AlappError("an annotator's name is empty")
    if len(name) > MAX_NAME:
        raise AlappError(f"an annotator's name is at most {MAX_NAME} characters")
    return name


def add_annotator(project: Project, name: str, how: str = "added") -> str:
    name = check_name(name)
    with project.transaction() as conn:
        register_annotator(conn, name, how)
    return name


def annotators(project: Project) -> list[str]:
    """Everyone who labeled here, was packed for, or was added by hand (the import too)."""
    return [r[0] for r in project._conn.execute("SELECT name FROM annotators ORDER BY name")]


def is_annotator(project: Project, name: str) -> bool:
    return project._conn.execute("SELECT 1 FROM annotators WHERE name = ?",
                                 (name,)).fetchone() is not None


def adjudicate(project: Project, item_id: ItemId, label: str | None, reviewer: str,
               note: str = "") -> EventId:
    """A reviewer's final label for the item (None withdraws the decision: the rule decides
    again). Checked like any label; durable when this returns."""
    from alapp.al.task import task_for

    if project._conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None:
        raise AlappError(f"no item {item_id}")
    if label is not None:
        labels = project.labels()
        try:
            task_for(project.settings()).check_label(label, labels)
        except ValueError as e:
            raise AlappError(str(e)) from None
        if project.multi_label:
            from alapp.core.types import join_labels, split_labels

            label = join_labels(split_labels(label), labels)
        if project.spans:
            from alapp.store.spans import checked_decision

            label = checked_decision(project, item_id, label, labels)
    with project.transaction() as conn:
        event = project._insert_event(item_id, Action.ADJUDICATION, label, reviewer, None,
                                      None, Selection(Source.REVIEW), note=note or None)
        register_annotator(conn, reviewer, "reviewed here")
        from alapp.store import queue

        queue.take_off(conn, item_id)
    return event


@dataclass(frozen=True)
class Vote:
    annotator: str
    label: str
    event_id: EventId
    workstation: str
    submitted_at: float


def item_votes(project: Project, item_ids: list[ItemId] | None = None
               ) -> dict[ItemId, list[Vote]]:
    """Each item's standing votes, one per annotator (see store/resolution.py), by name."""
    by_item = read_events(project._conn, item_ids)
    return {ItemId(i): [Vote(a, e.label or "", EventId(e.id), e.workstation, e.submitted_at)
                        for a, e in sorted(votes_of(events).items())]
            for i, events in by_item.items() if votes_of(events)}


def project_id(project: Project) -> str:
    """The project's identity, shared by its copies and packages (schema v13)."""
    return str(project._conn.execute(
        "SELECT value FROM identity WHERE key = 'project_id'").fetchone()[0])
