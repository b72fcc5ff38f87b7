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
    standing = {i: votes_of(events) for i, events in read_events(project._conn, item_ids).items()}
    return {ItemId(i): [Vote(a, e.label or "", EventId(e.id), e.workstation, e.submitted_at)
                        for a, e in sorted(votes.items())]
            for i, votes in standing.items() if votes}


def project_id(project: Project) -> str:
    """The project's identity, shared by its copies and packages (schema v13)."""
    return str(project._conn.execute(
        "SELECT value FROM identity WHERE key = 'project_id'").fetchone()[0])


# -- the team view and the review queue (issue 19) ---------------------------------------------


@dataclass(frozen=True)
class Flag:
    annotator: str
    note: str
    submitted_at: float


@dataclass(frozen=True)
class TrainingLabel:
    """An item's row of ``item_labels``: its training label (None: a tie), how it was reached
    and how many annotators voted."""

    label: str | None
    how: str
    voters: int


@dataclass(frozen=True)
class Adjudication:
    label: str
    reviewer: str
    note: str
    submitted_at: float


def _chunks(ids: list[ItemId]) -> list[list[ItemId]]:
    return [ids[k:k + 900] for k in range(0, len(ids), 900)]


def flags(project: Project, item_ids: list[ItemId] | None = None) -> dict[ItemId, list[Flag]]:
    """Every flag of these items (None: of every flagged item), oldest first, with its note."""
    sql = ("SELECT item_id, annotator, COALESCE(note, ''), submitted_at FROM label_events "
           "WHERE action = 'flag'{} ORDER BY item_id, submitted_at, id")
    out: dict[ItemId, list[Flag]] = {}
    parts = ([project._conn.execute(sql.format(""))] if item_ids is None else
             [project._conn.execute(sql.format(f" AND item_id IN ({','.join('?' * len(c))})"), c)
              for c in _chunks(sorted(set(item_ids)))])
    for rows in parts:
        for item_id, annotator, note, at in rows:
            out.setdefault(ItemId(item_id), []).append(Flag(annotator, note, float(at)))
    return out


def training_labels(project: Project, item_ids: list[ItemId] | None = None
                    ) -> dict[ItemId, TrainingLabel]:
    """Each decided item's training label as resolved (store/resolution.py), with how."""
    sql = "SELECT item_id, label, how, voters FROM item_labels{}"
    parts = ([project._conn.execute(sql.format(""))] if item_ids is None else
             [project._conn.execute(sql.format(f" WHERE item_id IN ({','.join('?' * len(c))})"),
                                    c) for c in _chunks(sorted(set(item_ids)))])
    return {ItemId(i): TrainingLabel(label, how, int(voters))
            for rows in parts for i, label, how, voters in rows}


def adjudications(project: Project) -> dict[ItemId, Adjudication]:
    """Each item's standing adjudication (the latest by time, then event identity, as the
    resolution decides); a withdrawn one (no label) is left out."""
    latest: dict[ItemId, tuple[tuple[float, str], Adjudication | None]] = {}
    for item_id, label, reviewer, note, at, uid in project._conn.execute(
            "SELECT item_id, label, annotator, COALESCE(note, ''), submitted_at, uid "
            "FROM label_events WHERE action = 'adjudication'"):
        key = (float(at), str(uid))
        item = ItemId(item_id)
        if item not in latest or key > latest[item][0]:
            latest[item] = (key, None if label is None else
                            Adjudication(label, reviewer, note, float(at)))
    return {i: a for i, (_, a) in latest.items() if a is not None}


def timed_labels(project: Project) -> dict[str, list[int]]:
    """Per annotator, the active milliseconds of each of their timed labels (what speed is
    measured on); imported labels have no time and are not here."""
    out: dict[str, list[int]] = {}
    for annotator, ms in project._conn.execute(
            "SELECT annotator, active_ms FROM label_events WHERE action = 'label' "
            "AND source != 'import' AND active_ms IS NOT NULL AND active_ms > 0 ORDER BY id"):
        out.setdefault(annotator, []).append(int(ms))
    return out


def import_annotators(project: Project) -> set[str]:
    """Names whose every label came with an imported file (the import's pseudo-annotator)."""
    return {r[0] for r in project._conn.execute(
        "SELECT annotator FROM label_events WHERE action = 'label' GROUP BY annotator "
        "HAVING SUM(source != 'import') = 0")}


def item_by_ext_id(project: Project, ext_id: str) -> ItemId:
    row = project._conn.execute("SELECT id FROM items WHERE ext_id = ?", (ext_id,)).fetchone()
    if row is None:
        raise AlappError(f"no item {ext_id!r} in {project.path.name}")
    return ItemId(row[0])


def ext_ids(project: Project, item_ids: list[ItemId]) -> dict[ItemId, str]:
    out: dict[ItemId, str] = {}
    for chunk in _chunks(sorted(set(item_ids))):
        out.update((ItemId(i), e) for i, e in project._conn.execute(
            f"SELECT id, ext_id FROM items WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return out


@dataclass(frozen=True)
class AnnotatorInfo:
    name: str
    how: str  # labeled here, added, reviewed here, packed, history, ...
    added_at: float
    events: int  # label, undo and adjudication events they made


def annotator_info(project: Project) -> list[AnnotatorInfo]:
    """Every annotator of the project with how they came and how many decisions they made."""
    made = dict(project._conn.execute(
        "SELECT annotator, COUNT(*) FROM label_events "
        "WHERE action IN ('label', 'undo', 'adjudication') GROUP BY annotator"))
    return [AnnotatorInfo(name, how, float(at), int(made.get(name, 0)))
            for name, how, at in project._conn.execute(
                "SELECT name, how, added_at FROM annotators ORDER BY name")]


def items_with_several_voters(project: Project) -> list[ItemId]:
    """Items two or more annotators decided on (where votes can differ): what the review
    queue reads the votes of, instead of every labeled item."""
    return [ItemId(r[0]) for r in project._conn.execute(
        "SELECT item_id FROM label_events WHERE action IN ('label', 'undo') "
        "GROUP BY item_id HAVING COUNT(DISTINCT annotator) >= 2")]
