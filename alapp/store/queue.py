"""The batch waiting for the annotator: its order, what a round replaces and what it keeps.

One place holds the queue's rules: a new round replaces the batch, but undone items and a
held-out test set being labeled stay at the front; a decision takes its item off the queue.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alapp.al.batch import Pick
from alapp.core.types import ItemId, Source, Split

if TYPE_CHECKING:  # project.py writes decisions through take_off/put_first: no import cycle
    from alapp.store.project import Project

KEPT_BY_ROUNDS = (Source.UNDO, Source.TEST_SET)  # queue entries a new round does not replace


@dataclass(frozen=True)
class QueueEntry:
    item_id: ItemId
    text: str
    source: Source
    strategy: str | None
    score: float | None
    predicted_cost: float | None
    round_id: int | None
    predicted: tuple[str, float] | None = None  # (label, confidence) from the latest model

    @property
    def is_random(self) -> bool:
        return self.source == Source.RANDOM

    @property
    def reason(self) -> str:
        """Why this item is in front of the annotator, in words."""
        if self.source == Source.TEST_SET:
            return "held-out test set (random; never used for training)"
        if self.source == Source.UNDO:
            return "back after undo"
        if self.is_random:
            return "random share (checks the sampler)"
        name = self.strategy or "chosen"
        return name if self.score is None else f"{name}, score {self.score:.3f}"


def entries(project: Project) -> list[QueueEntry]:
    """The current batch, in order (decided items are already off it)."""
    rows = project._conn.execute(
        "SELECT q.item_id, i.text, q.source, q.strategy, q.score, q.predicted_cost, q.round_id "
        "FROM queue q JOIN items i ON i.id = q.item_id ORDER BY q.position").fetchall()
    return [QueueEntry(ItemId(r[0]), r[1], Source(r[2]), r[3], r[4], r[5], r[6]) for r in rows]


def replace_batch(conn: sqlite3.Connection, round_id: int, picks: Sequence[Pick],
                  keep: ItemId | None) -> None:
    """Inside the round's transaction: the new batch replaces the old one, but not what the
    annotator put first (undone items, a test set being labeled) nor the item on screen."""
    marks = ",".join("?" * len(KEPT_BY_ROUNDS))
    conn.execute(f"DELETE FROM queue WHERE source NOT IN ({marks}) AND item_id IS NOT ?",
                 (*KEPT_BY_ROUNDS, keep))
    kept = {r[0] for r in conn.execute("SELECT item_id FROM queue")}
    start = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM queue").fetchone()[0]
    conn.executemany(
        "INSERT INTO queue (position, item_id, round_id, source, strategy, score, "
        "predicted_cost, is_random_share) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(start + pos, p.item_id, round_id, Source.RANDOM if p.is_random else Source.AL,
          p.strategy, p.score, p.predicted_cost, int(p.is_random))
         for pos, p in enumerate(p for p in picks if p.item_id not in kept)])


def take_off(conn: sqlite3.Connection, item_id: ItemId) -> None:
    """Inside a decision's transaction: a decided item leaves the queue."""
    conn.execute("DELETE FROM queue WHERE item_id = ?", (item_id,))


def put_first(conn: sqlite3.Connection, item_id: ItemId, source: Source) -> None:
    """Inside an undo's transaction: the item goes back to the front of the queue."""
    first = conn.execute("SELECT COALESCE(MIN(position), 0) - 1 FROM queue").fetchone()[0]
    conn.execute("INSERT OR IGNORE INTO queue (position, item_id, source) VALUES (?, ?, ?)",
                 (first, item_id, source))


def test_set_status(project: Project) -> dict[str, int]:
    """Test items labeled, and test items waiting in the queue."""
    labeled, queued = project._conn.execute(
        "SELECT (SELECT COUNT(*) FROM items i WHERE split = 'test' AND EXISTS "
        "(SELECT 1 FROM label_events e WHERE e.item_id = i.id AND action = 'label')), "
        "(SELECT COUNT(*) FROM queue WHERE source = ?)", (Source.TEST_SET,)).fetchone()
    return {"labeled": int(labeled), "queued": int(queued)}


def start_test_set(project: Project, size: int) -> int:
    """Move ``size`` random unlabeled pool items (seeded) to the test split and put them at the
    front of the queue: the learning curve and the stopping signals are only honest on items
    the strategy did not choose."""
    seed = project.settings().seed
    labeled = set(project.current_labels())
    candidates = [i for i in project.item_ids(Split.POOL) if i not in labeled]
    rng = np.random.default_rng(seed + 7919)  # not the stop set's draw
    chosen = sorted(rng.permutation(np.array(candidates, dtype=np.int64))[:size].tolist())
    with project.transaction() as conn:
        conn.executemany("UPDATE items SET split = 'test' WHERE id = ?", [(i,) for i in chosen])
        conn.executemany("DELETE FROM queue WHERE item_id = ?", [(i,) for i in chosen])
        first = conn.execute("SELECT COALESCE(MIN(position), 0) FROM queue").fetchone()[0]
        conn.executemany(
            "INSERT INTO queue (position, item_id, source) VALUES (?, ?, ?)",
            [(first - len(chosen) + k, i, Source.TEST_SET) for k, i in enumerate(chosen)])
    return len(chosen)


def end_test_set(project: Project) -> int:
    """Stop labeling the test set: its unlabeled items go back to the pool."""
    with project.transaction() as conn:
        waiting = [r[0] for r in conn.execute("SELECT item_id FROM queue WHERE source = ?",
                                              (Source.TEST_SET,))]
        conn.executemany("UPDATE items SET split = 'pool' WHERE id = ?", [(i,) for i in waiting])
        conn.execute("DELETE FROM queue WHERE source = ?", (Source.TEST_SET,))
    return len(waiting)
