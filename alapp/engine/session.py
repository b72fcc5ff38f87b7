"""An annotator's session over a project: the queue, decisions, undo and retrain cadence.

No Qt here: the window calls these methods and shows what they return, and tests drive the
same code without a screen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from alapp.al.stopping import labels_to_reach, labels_to_stabilize
from alapp.core.types import EventId, ItemId, Selection, Split
from alapp.engine.round import RoundResult, save_round
from alapp.store.project import Project


@dataclass(frozen=True)
class QueueEntry:
    item_id: ItemId
    text: str
    strategy: str
    score: float | None
    is_random: bool
    predicted_cost: float | None
    round_id: int | None
    predicted: tuple[str, float] | None = None  # (label, confidence) from the latest model

    @property
    def reason(self) -> str:
        if self.strategy == "test-set":
            return "held-out test set (random; never used for training)"
        if self.strategy == "undo":
            return "back after undo"
        if self.is_random:
            return "random share (checks the sampler)"
        if self.score is None:
            return self.strategy
        return f"{self.strategy}, score {self.score:.3f}"


@dataclass(frozen=True)
class Decision:
    item_id: ItemId
    text: str
    label: str | None
    action: str


class LabelingSession:
    def __init__(self, project: Project, annotator: str) -> None:
        self.project = project
        self.annotator = annotator
        self.predicted: dict[ItemId, tuple[str, float]] = {}
        self.last_result: RoundResult | None = None
        self.labels_since_round = 0

    # -- the queue -------------------------------------------------------------------------------

    def queue(self) -> list[QueueEntry]:
        """The current batch, in order, without items decided since it was built."""
        rows = self.project.conn.execute(
            "SELECT q.item_id, i.text, q.strategy, q.score, q.is_random_share, q.predicted_cost, "
            "q.round_id FROM queue q JOIN items i ON i.id = q.item_id ORDER BY q.position"
        ).fetchall()
        return [QueueEntry(ItemId(r[0]), r[1], r[2], r[3], bool(r[4]), r[5], r[6],
                           self.predicted.get(ItemId(r[0]))) for r in rows]

    def current(self) -> QueueEntry | None:
        entries = self.queue()
        return entries[0] if entries else None

    def apply_round(self, result: RoundResult, keep: ItemId | None = None) -> int:
        round_id = save_round(self.project, result, keep)
        self.predicted = result.predicted
        self.last_result = result
        self.labels_since_round = 0
        return round_id

    def retrain_due(self) -> bool:
        """Every ``retrain_every`` labels, or manual (0); always when the batch runs out."""
        left = self.labels_until_retrain()
        return (left is not None and left == 0) or not self.queue()

    def labels_until_retrain(self) -> int | None:
        """None: retraining is manual."""
        every = self.project.settings().retrain_every
        return None if every <= 0 else max(0, every - self.labels_since_round)

    # -- the held-out test set ---------------------------------------------------------------------

    def test_set_status(self) -> dict[str, int]:
        """Test items labeled, and test items waiting in the queue."""
        labeled, queued = self.project.conn.execute(
            "SELECT (SELECT COUNT(*) FROM items i WHERE split = 'test' AND EXISTS "
            "(SELECT 1 FROM label_events e WHERE e.item_id = i.id AND action = 'label')), "
            "(SELECT COUNT(*) FROM queue WHERE strategy = 'test-set')").fetchone()
        return {"labeled": int(labeled), "queued": int(queued)}

    def start_test_set(self, size: int) -> int:
        """Move ``size`` random unlabeled pool items (seeded) to the test split and put them at
        the front of the queue: the learning curve and the stopping signals are only honest
        on items the strategy did not choose."""
        seed = self.project.settings().seed
        labeled = set(self.project.current_labels())
        candidates = [i for i in self.project.item_ids(Split.POOL) if i not in labeled]
        rng = np.random.default_rng(seed + 7919)  # not the stop set's draw
        chosen = sorted(rng.permutation(np.array(candidates, dtype=np.int64))[:size].tolist())
        with self.project.transaction() as conn:
            conn.executemany("UPDATE items SET split = 'test' WHERE id = ?",
                             [(i,) for i in chosen])
            conn.executemany("DELETE FROM queue WHERE item_id = ?", [(i,) for i in chosen])
            first = conn.execute("SELECT COALESCE(MIN(position), 0) FROM queue").fetchone()[0]
            conn.executemany(
                "INSERT INTO queue (position, item_id, strategy) VALUES (?, ?, 'test-set')",
                [(first - len(chosen) + k, i) for k, i in enumerate(chosen)])
        return len(chosen)

    def end_test_set(self) -> int:
        """Stop labeling the test set: its unlabeled items go back to the pool."""
        with self.project.transaction() as conn:
            waiting = [r[0] for r in conn.execute(
                "SELECT item_id FROM queue WHERE strategy = 'test-set'")]
            conn.executemany("UPDATE items SET split = 'pool' WHERE id = ?",
                             [(i,) for i in waiting])
            conn.execute("DELETE FROM queue WHERE strategy = 'test-set'")
        return len(waiting)

    # -- decisions -------------------------------------------------------------------------------

    def label(self, entry: QueueEntry, label: str, active_ms: int | None,
              started_at: float | None) -> EventId:
        selection = Selection(entry.strategy, entry.score, entry.predicted_cost, entry.is_random,
                              entry.round_id)
        event = self.project.label_item(entry.item_id, label, self.annotator, started_at,
                                        active_ms, selection)
        if entry.strategy != "test-set":  # test labels do not change the model
            self.labels_since_round += 1
        return event

    def relabel(self, item_id: ItemId, label: str) -> EventId:
        return self.project.label_item(item_id, label, self.annotator,
                                       selection=Selection("relabel"))

    def skip(self, entry: QueueEntry, active_ms: int | None, started_at: float | None,
             forever: bool = False) -> EventId:
        return self.project.skip_item(entry.item_id, self.annotator, forever, started_at,
                                      active_ms)

    def flag(self, entry: QueueEntry) -> EventId:
        return self.project.flag_item(entry.item_id, self.annotator, "flagged while labeling")

    def undo(self) -> ItemId | None:
        """Undo the latest label and put the item back at the front of the queue."""
        undone = self.project.undo_last(self.annotator)
        if undone is None:
            return None
        item_id, _ = undone
        with self.project.transaction() as conn:
            first = conn.execute("SELECT COALESCE(MIN(position), 0) - 1 FROM queue").fetchone()[0]
            conn.execute("INSERT OR IGNORE INTO queue (position, item_id, strategy) "
                         "VALUES (?, ?, 'undo')", (first, item_id))
        self.labels_since_round = max(0, self.labels_since_round - 1)
        return item_id

    def history(self, limit: int = 20) -> list[Decision]:
        """This annotator's recent decisions, newest first, one per item; an undone one is
        not a decision any more (its item is back in the queue)."""
        rows = self.project.conn.execute(
            "SELECT e.item_id, i.text, e.label, e.action FROM label_events e "
            "JOIN items i ON i.id = e.item_id WHERE e.annotator = ? AND e.action != 'undo' "
            "AND e.id IN (SELECT MAX(id) FROM label_events WHERE annotator = ? "
            "AND action != 'flag' GROUP BY item_id) ORDER BY e.id DESC LIMIT ?",
            (self.annotator, self.annotator, limit)).fetchall()
        return [Decision(ItemId(r[0]), r[1], r[2], r[3]) for r in rows]

    # -- numbers for the panels -------------------------------------------------------------------

    def forecast(self, queue: list[QueueEntry] | None = None,
                 numbers: dict[str, float] | None = None) -> dict[str, float | None]:
        """The next batch's predicted seconds, the pace so far and, with a budget, how many
        more labels it buys at that pace. ``queue`` and ``numbers`` (the budget) may be passed
        in when the caller has just read them."""
        queue = self.queue() if queue is None else queue
        next_batch = sum(e.predicted_cost or 0.0 for e in queue) if queue else 0.0
        recent = [r[0] for r in self.project.conn.execute(
            "SELECT active_ms FROM label_events WHERE action = 'label' AND active_ms > 0 "
            "AND annotator != 'import' ORDER BY id DESC LIMIT 50")]
        pace = float(np.mean(recent)) / 1000 if recent else None
        numbers = self.budget() if numbers is None else numbers
        s = self.project.settings()
        left: float | None = None
        if s.budget_amount > 0 and pace:
            remaining = numbers["remaining"]
            per_label = {"items": 1.0, "hours": pace / 3600,
                         "money": pace / 3600 * s.hourly_rate}.get(s.budget_unit, 1.0)
            left = remaining / per_label if per_label > 0 else None
        curve = self.model_history()
        done = curve[-1][0] if curve else 0
        to_target: float | None = None
        if s.target_accuracy > 0:
            points = [(n, m["accuracy"]) for n, m in curve if "accuracy" in m]
            if points:
                to_target = labels_to_reach([n for n, _ in points], [a for _, a in points],
                                            s.target_accuracy)
        kappas = [(n, m["signal_stabilizing"]) for n, m in curve if "signal_stabilizing" in m]
        to_stable = (labels_to_stabilize([n for n, _ in kappas], [k for _, k in kappas])
                     if kappas else None)

        def hours_until(labels: float | None) -> float | None:
            return None if labels is None or not pace else max(0.0, labels - done) * pace / 3600

        return {"next_batch_s": next_batch, "pace_s_per_label": pace,
                "labels_left_in_budget": left, "labels_to_target": to_target,
                "hours_to_target": hours_until(to_target), "labels_to_stable": to_stable,
                "hours_to_stable": hours_until(to_stable)}

    def model_history(self) -> list[tuple[int, dict[str, float]]]:
        """(labels trained on, metrics and signal values) of every model version, oldest first."""
        return [(int(n), json.loads(m or "{}")) for n, m in self.project.conn.execute(
            "SELECT n_labeled, metrics FROM models WHERE n_labeled > 0 ORDER BY version")]

    def budget(self) -> dict[str, float]:
        """Spent and remaining, in the project's budget unit, from the stored events."""
        s = self.project.settings()
        count, ms = self.project.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(active_ms), 0) FROM label_events "
            "WHERE action = 'label' AND annotator != 'import'").fetchone()
        hours = ms / 3_600_000
        spent = {"items": float(count), "hours": hours, "money": hours * s.hourly_rate}
        value = spent.get(s.budget_unit, float(count))
        remaining = max(0.0, s.budget_amount - value) if s.budget_amount > 0 else float("nan")
        return {"spent": value, "remaining": remaining, "budget": s.budget_amount,
                "labels": float(count), "hours": hours}
