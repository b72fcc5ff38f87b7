"""Each item's training label, resolved from every annotator's decisions (issue 19).

``item_labels`` holds, per item that anyone decided on, the label the model trains on and the
event that gave it; every reader of "the current label" reads it (``CURRENT_LABEL_SQL``), and
every write of a label, an undo or an adjudication updates its item in the same transaction.

How an item's label is found (``al/consensus.resolve_item`` decides; this gathers the votes):

1. A reviewer's adjudication wins; of several, the latest (by time, then by event identity: two
   reviewers on two machines are decided the same way in every copy). An adjudication with no
   label withdraws the decision.
2. Otherwise each annotator has one vote: their own latest label or undo on the item. On one
   workstation "latest" is that machine's sequence; between workstations of the same person,
   the later time. An undo gives back the person's own previous label (or none).
3. Labels that came with an imported file count only until a person decides on the item.
4. One voter's label stands; several vote by the project's rule (``training_label_rule``:
   the majority, or the most reliable annotator). A tie leaves the item without a training
   label ("tie": the review queue shows it, and no annotator is asked it again).

Nothing here depends on the order the events arrived in, so copies merged in any order train
on the same labels.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from alapp.al.consensus import How, ItemKey, Reliability, annotator_reliability, resolve_item
from alapp.core.types import Source
from alapp.store.postgres import execute_together

# ``How`` values stored in ``item_labels.how``; a tie is stored with a NULL label.
_VOTES_SQL = """
    SELECT id, item_id, action, label, annotator, workstation, seq, submitted_at, uid, source
    FROM label_events WHERE action IN ('label', 'undo', 'adjudication') AND item_id IN ({})
    ORDER BY item_id, id
"""
_CHUNK = 900  # parameters per statement, under SQLite's old limit of 999


@dataclass(frozen=True)
class _Event:
    id: int
    action: str
    label: str | None
    annotator: str
    workstation: str
    seq: int
    submitted_at: float
    uid: str
    source: str

    @property
    def when(self) -> tuple[float, str]:
        return self.submitted_at, self.uid


def votes_of(events: Sequence[_Event]) -> dict[str, _Event]:
    """Each annotator's standing decision on one item: the latest label or undo of each
    workstation by its sequence, then the latest of those by time. An undo to nothing or a
    label-less event is no vote."""
    per_machine: dict[tuple[str, str], _Event] = {}
    for event in events:
        if event.action == "adjudication":
            continue
        key = (event.annotator, event.workstation)
        if key not in per_machine or event.seq > per_machine[key].seq:
            per_machine[key] = event
    latest: dict[str, _Event] = {}
    for (annotator, _), event in per_machine.items():
        if annotator not in latest or event.when > latest[annotator].when:
            latest[annotator] = event
    votes = {a: e for a, e in latest.items() if e.label is not None}
    people = {a: e for a, e in votes.items() if e.source != Source.IMPORT}
    return people or votes  # an imported label counts until a person decides


def adjudication_of(events: Sequence[_Event]) -> _Event | None:
    decided = [e for e in events if e.action == "adjudication"]
    return max(decided, key=lambda e: e.when) if decided else None


def resolve(events: Sequence[_Event], rule: str,
            reliability: Mapping[str, Reliability]) -> tuple[int | None, str | None, str, int]:
    """(event, label, how, voters) for one item's events; how is "" when nothing stands."""
    votes = votes_of(events)
    final = adjudication_of(events)
    if final is not None and final.label is not None:
        return final.id, final.label, How.ADJUDICATED.value, len(votes)
    label, how = resolve_item({a: e.label or "" for a, e in votes.items()}, None, rule,
                              reliability)
    if how is None:
        return None, None, "", 0
    if label is None:
        return None, None, how.value, len(votes)
    giver = min((e for e in votes.values() if e.label == label), key=lambda e: e.when)
    return giver.id, label, how.value, len(votes)


def read_events(conn: sqlite3.Connection,
                item_ids: Iterable[int] | None = None) -> dict[int, list[_Event]]:
    """The deciding events of these items (None: of every item), by item, in id order."""
    by_item: dict[int, list[_Event]] = {}
    if item_ids is None:
        _group(conn.execute(_VOTES_SQL.replace("AND item_id IN ({})", "")), by_item)
        return by_item
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        _group(conn.execute(_VOTES_SQL.format(",".join("?" * len(chunk))), chunk), by_item)
    return by_item


def _group(rows: Iterable[tuple], by_item: dict[int, list[_Event]]) -> None:  # type: ignore[type-arg]
    """``_VOTES_SQL``'s rows added to ``by_item``, by item, in id order."""
    for row in rows:
        by_item.setdefault(int(row[1]), []).append(_Event(
            int(row[0]), row[2], row[3], row[4], row[5], int(row[6]), float(row[7]),
            row[8], row[9]))


_RELIABILITY_SQL = "SELECT value FROM identity WHERE key = 'reliability'"
_RULE_SQL = "SELECT value FROM settings WHERE key = 'training_label_rule'"


def stored_reliability(conn: sqlite3.Connection) -> dict[str, Reliability]:
    return _reliability_of(conn.execute(_RELIABILITY_SQL).fetchone())


def _reliability_of(row: tuple[str] | None) -> dict[str, Reliability]:
    if row is None:
        return {}
    return {name: Reliability(float(score), int(items))
            for name, (score, items) in json.loads(row[0]).items()}


def _rule(conn: sqlite3.Connection) -> str:
    return _rule_of(conn.execute(_RULE_SQL).fetchone())


def _rule_of(row: tuple[str] | None) -> str:
    return "majority" if row is None else str(json.loads(row[0]))


def _write(conn: sqlite3.Connection, ids: Sequence[int], by_item: Mapping[int, list[_Event]],
           rule: str, reliability: Mapping[str, Reliability]) -> None:
    rows, gone = [], []
    for item_id in ids:
        event, label, how, voters = resolve(by_item.get(item_id, []), rule, reliability)
        if how:
            rows.append((item_id, event, label, how, voters))
        else:
            gone.append((item_id,))
    conn.executemany("DELETE FROM item_labels WHERE item_id = ?", gone)
    conn.executemany("INSERT OR REPLACE INTO item_labels (item_id, event_id, label, how, voters) "
                     "VALUES (?, ?, ?, ?, ?)", rows)


def update_items(conn: sqlite3.Connection, item_ids: Iterable[int]) -> None:
    """Resolve these items again (inside the caller's transaction)."""
    ids = sorted(set(item_ids))
    if len(ids) > _CHUNK:
        _write(conn, ids, read_events(conn, ids), _rule(conn), stored_reliability(conn))
    elif ids:  # a decision's item: its votes, the rule and the reliabilities, read together
        # (one round trip to a server, inside the decision's transaction: the writer lock)
        votes, rule, reliability = execute_together(conn, [
            (_VOTES_SQL.format(",".join("?" * len(ids))), ids), (_RULE_SQL, ()),
            (_RELIABILITY_SQL, ())])
        by_item: dict[int, list[_Event]] = {}
        _group(votes.fetchall(), by_item)
        _write(conn, ids, by_item, _rule_of(rule.fetchone()),
               _reliability_of(reliability.fetchone()))


def add_new_items(conn: sqlite3.Connection, after_event: int) -> None:
    """Items imported with their labels (one event each, on items new to the project): their
    label stands alone; far faster than resolving them one by one."""
    conn.execute("INSERT OR REPLACE INTO item_labels (item_id, event_id, label, how, voters) "
                 "SELECT item_id, id, label, 'single', 1 FROM label_events "
                 "WHERE id > ? AND action = 'label' AND label IS NOT NULL", (after_event,))


def _standing(by_item: Mapping[int, list[_Event]]
              ) -> tuple[dict[ItemKey, dict[str, str]], dict[ItemKey, str]]:
    votes: dict[ItemKey, dict[str, str]] = {}
    adjudicated: dict[ItemKey, str] = {}
    for item_id, events in by_item.items():
        given = {a: e.label for a, e in votes_of(events).items() if e.label is not None}
        if given:
            votes[item_id] = given
        final = adjudication_of(events)
        if final is not None and final.label is not None:
            adjudicated[item_id] = final.label
    return votes, adjudicated


def all_votes(conn: sqlite3.Connection
              ) -> tuple[dict[ItemKey, dict[str, str]], dict[ItemKey, str]]:
    """Every item's standing votes (annotator -> label) and adjudicated labels."""
    return _standing(read_events(conn))


def rebuild(conn: sqlite3.Connection) -> None:
    """Every item again, with each annotator's reliability estimated anew (the "reliable"
    rule uses it): after a merge, a change of rule, or an upgrade of an older file."""
    by_item = read_events(conn)
    votes, adjudicated = _standing(by_item)
    reliability = annotator_reliability(votes, adjudicated)
    conn.execute("INSERT OR REPLACE INTO identity (key, value) VALUES ('reliability', ?)",
                 (json.dumps({a: [r.score, r.items] for a, r in sorted(reliability.items())}),))
    conn.execute("DELETE FROM item_labels")
    _write(conn, sorted(by_item), by_item, _rule(conn), reliability)
