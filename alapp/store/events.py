"""Reading the label history: recent decisions, the pace, and what the budget has paid for."""

from __future__ import annotations

from dataclasses import dataclass

from alapp.core.types import ItemId, Source
from alapp.store.project import Project


@dataclass(frozen=True)
class Decision:
    item_id: ItemId
    text: str
    label: str | None
    action: str


def history(project: Project, annotator: str, limit: int = 20) -> list[Decision]:
    """The annotator's recent decisions, newest first, one per item; an undone one is not a
    decision any more (its item is back in the queue)."""
    rows = project._conn.execute(
        "SELECT e.item_id, i.text, e.label, e.action FROM label_events e "
        "JOIN items i ON i.id = e.item_id WHERE e.annotator = ? AND e.action != 'undo' "
        "AND e.id IN (SELECT MAX(id) FROM label_events WHERE annotator = ? "
        "AND action != 'flag' GROUP BY item_id) ORDER BY e.id DESC LIMIT ?",
        (annotator, annotator, limit)).fetchall()
    return [Decision(ItemId(r[0]), r[1], r[2], r[3]) for r in rows]


def recent_label_ms(project: Project, limit: int = 50) -> list[int]:
    """Active milliseconds of the latest timed labels made in the application."""
    return [int(r[0]) for r in project._conn.execute(
        "SELECT active_ms FROM label_events WHERE action = 'label' AND active_ms > 0 "
        "AND source != ? ORDER BY id DESC LIMIT ?", (Source.IMPORT, limit))]


def labels_paid(project: Project) -> tuple[int, int]:
    """(labels made in the application, their active milliseconds): what a budget pays."""
    count, ms = project._conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(active_ms), 0) FROM label_events "
        "WHERE action = 'label' AND source != ?", (Source.IMPORT,)).fetchone()
    return int(count), int(ms)


def annotators(project: Project) -> list[str]:
    return [r[0] for r in project._conn.execute(
        "SELECT DISTINCT annotator FROM label_events WHERE action = 'label' ORDER BY annotator")]

