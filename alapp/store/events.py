"""Reading the label history: recent decisions, the pace, and what the budget has paid for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alapp.core.errors import AlappError
from alapp.core.spans import TokenOffsets
from alapp.core.types import Action, EventId, ItemId, Selection, Source
from alapp.store import queue
from alapp.store.project import CURRENT_LABEL_SQL, Project
from alapp.store.spans import decode_tokens


@dataclass(frozen=True)
class Decision:
    item_id: ItemId
    text: str
    label: str | None
    action: str
    text_b: str | None = None  # the second text of a sentence pair
    tokens: TokenOffsets | None = None  # span projects: the item's stored tokens (issue 18)


def history(project: Project, annotator: str, limit: int = 20) -> list[Decision]:
    """The annotator's recent decisions, newest first, one per item; an undone one is not a
    decision any more (its item is back in the queue)."""
    rows = project._conn.execute(
        "SELECT e.item_id, i.text, e.label, e.action, i.text_b, t.offsets FROM label_events e "
        "JOIN items i ON i.id = e.item_id LEFT JOIN item_tokens t ON t.item_id = e.item_id "
        "WHERE e.annotator = ? AND e.action != 'undo' "
        "AND e.id IN (SELECT MAX(id) FROM label_events WHERE annotator = ? "
        "AND action != 'flag' GROUP BY item_id) ORDER BY e.id DESC LIMIT ?",
        (annotator, annotator, limit)).fetchall()
    return [Decision(ItemId(r[0]), r[1], r[2], r[3], r[4],
                     None if r[5] is None else decode_tokens(r[5])) for r in rows]


def recent_label_ms(project: Project, limit: int = 50) -> list[int]:
    """Active milliseconds of the latest timed labels made in the application."""
    return [int(r[0]) for r in project._conn.execute(
        "SELECT active_ms FROM label_events WHERE action = 'label' AND active_ms > 0 "
        "AND source != ? ORDER BY id DESC LIMIT ?", (Source.IMPORT, limit))]


def labels_paid(project: Project) -> tuple[int, int]:
    """(labels made in the application, their active milliseconds): what a budget pays."""
    count, ms, _ = labels_paid_since(project, 0)
    return count, ms


def labels_paid_since(project: Project, after_event: int) -> tuple[int, int, int]:
    """``labels_paid`` of the events after ``after_event`` only, and the last event counted
    (``after_event`` when none is new): a running count reads only what was added since (one
    read of the newest events by their key, not a sum over every event)."""
    count, ms, last = project._conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(active_ms), 0), COALESCE(MAX(id), ?) FROM label_events "
        "WHERE id > ? AND action = 'label' AND source != ?",
        (after_event, after_event, Source.IMPORT)).fetchone()
    return int(count), int(ms), int(last)


def annotators(project: Project) -> list[str]:
    return [r[0] for r in project._conn.execute(
        "SELECT DISTINCT annotator FROM label_events WHERE action = 'label' ORDER BY annotator")]



@dataclass(frozen=True)
class RelabelBatch:
    """Several items relabeled at once: the events written, to undo them as one step."""

    label: str
    events: tuple[tuple[ItemId, EventId], ...]

    def __len__(self) -> int:
        return len(self.events)


def relabel_many(project: Project, item_ids: Sequence[ItemId], label: str,
                 annotator: str) -> RelabelBatch:
    """Label every item in ``item_ids`` as ``label`` in one transaction (all or none), each
    event marked as a relabel; items that already have that label are left alone."""
    from alapp.al.task import task_for

    try:
        task_for(project.settings()).check_label(label, project.labels())
    except ValueError as e:
        raise AlappError(str(e)) from None
    if "|" in label:
        raise AlappError("relabel several items with one label at a time")
    if project.spans:  # issue 18: a span set belongs to one text
        raise AlappError("in a span project, label each text's spans on their own")
    written: list[tuple[ItemId, EventId]] = []
    with project.transaction() as conn:
        for item_id in dict.fromkeys(item_ids):  # each item once, in order
            if project.current_label(item_id) == label:
                continue
            event = project._insert_event(item_id, Action.LABEL, label, annotator, None, None,
                                          Selection(Source.RELABEL))
            queue.take_off(conn, item_id, annotator)
            written.append((ItemId(item_id), event))
    return RelabelBatch(label, tuple(written))


def undo_relabel(project: Project, batch: RelabelBatch, annotator: str) -> int:
    """Undo a ``relabel_many`` as one step: each item gets back the label it had before
    (none, if it had none), as undo events. An item changed again since is left as it is now.
    Returns how many items were restored."""
    restored = 0
    with project.transaction() as conn:
        for item_id, event in batch.events:
            latest = conn.execute(
                "SELECT MAX(id) FROM label_events WHERE item_id = ? AND annotator = ? AND "
                "action IN ('label', 'undo')", (item_id, annotator)).fetchone()[0]
            if latest != event:
                continue
            before = conn.execute(  # their own: another annotator's vote is theirs
                "SELECT label FROM label_events WHERE item_id = ? AND id < ? AND annotator = ? "
                "AND action IN ('label', 'undo') ORDER BY id DESC LIMIT 1",
                (item_id, event, annotator)).fetchone()
            project._insert_event(item_id, Action.UNDO, before[0] if before else None,
                                  annotator, None, None, None, undoes=event)
            restored += 1
    return restored


def who_chose(project: Project) -> dict[tuple[str, str | None], int]:
    """Labeled items outside the test split, counted by what first put each in front of an
    annotator: (source, strategy) of its first label event ("al" with the strategy, "random",
    "import", ...). What a replay on the project's labels inherits."""
    rows = project._conn.execute(
        "SELECT f.source, f.strategy, COUNT(*) FROM label_events f "
        "JOIN (SELECT item_id, MIN(id) AS id FROM label_events WHERE action = 'label' "
        "      GROUP BY item_id) first ON f.id = first.id "
        "JOIN items i ON i.id = f.item_id "
        f"WHERE i.split != 'test' AND f.item_id IN (SELECT item_id FROM ({CURRENT_LABEL_SQL})) "
        "GROUP BY f.source, f.strategy").fetchall()
    return {(str(r[0]), r[1]): int(r[2]) for r in rows}
