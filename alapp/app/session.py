"""An annotator's session over a project: the queue, decisions, undo and the retrain cadence.

No Qt here: the window calls these commands and shows what they return, and tests drive the
same code without a screen. Writes go to the project's writer thread; the reads that fill the
window are short, indexed and run on the caller's read-only connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from alapp.al.stopping import labels_to_reach, labels_to_stabilize
from alapp.app.rounds import save_result
from alapp.app.writer import InlineWriter, ProjectWriter
from alapp.core.settings import ProjectSettings
from alapp.core.types import Action, EventId, ItemId, Selection, Source
from alapp.loop.round import RoundResult
from alapp.store import browse, events, export, importer, queue, rounds, vectors
from alapp.store.browse import UNLABELED, BrowseQuery, BrowseRow
from alapp.store.events import Decision
from alapp.store.importer import ImportReport, ImportSpec
from alapp.store.project import Project
from alapp.store.queue import QueueEntry

__all__ = ["UNLABELED", "BrowseQuery", "BrowseRow", "Change", "Decision", "LabelingSession",
           "QueueEntry", "RoundResult"]


@dataclass(frozen=True)
class Change:
    """What a command changed: the event written, the item it touched, and whether a new
    round is due now."""

    item_id: ItemId | None
    event_id: EventId | None
    action: Action
    label: str | None = None
    retrain_due: bool = False


class LabelingSession:
    def __init__(self, path: Path, annotator: str,
                 writer: ProjectWriter | InlineWriter | None = None) -> None:
        self._owns_writer = writer is None
        self.writer = writer or ProjectWriter(Path(path))
        try:
            self.reader = Project.open(path, read_only=True)
        except BaseException:
            if self._owns_writer:
                self.writer.close()
            raise
        self.path = self.reader.path
        self.annotator = annotator
        self.predicted: dict[ItemId, tuple[str, float]] = {}
        self.last_result: RoundResult | None = None
        self.labels_since_round = 0
        self.showing: ItemId | None = None  # the item on screen: a new batch keeps it first

    @classmethod
    def inline(cls, project: Project, annotator: str) -> LabelingSession:
        """A session writing on the calling thread to ``project`` (scripts, tests)."""
        return cls(project.path, annotator, InlineWriter(project))

    def close(self) -> None:
        self.reader.close()
        if self._owns_writer:
            self.writer.close()

    def __enter__(self) -> LabelingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the project -----------------------------------------------------------------------------

    def settings(self) -> ProjectSettings:
        return self.reader.settings()

    def labels(self) -> list[str]:
        return self.reader.labels()

    def update_settings(self, **changes: Any) -> ProjectSettings:
        return self.writer.call(lambda p: p.update_settings(**changes))

    def count_items(self) -> dict[str, int]:
        return self.reader.count_items()

    def round_count(self) -> int:
        return rounds.round_count(self.reader)

    # -- the queue -------------------------------------------------------------------------------

    def queue(self) -> list[QueueEntry]:
        """The current batch, in order, each with the latest model's prediction."""
        return [replace(e, predicted=self.predicted.get(e.item_id))
                for e in queue.entries(self.reader)]

    def current(self) -> QueueEntry | None:
        entries = self.queue()
        return entries[0] if entries else None

    def save_round(self, result: RoundResult) -> int:
        """Write a round's model version and batch (on the writer thread); the item on screen
        stays first, so a round never swaps it mid-read."""
        keep = self.showing
        return self.writer.call(lambda p: save_result(p, result, keep))

    def finish_round(self, result: RoundResult) -> int:
        """Save a round and show its predictions: what a round thread and the window do
        between them, in one call for scripts."""
        round_id = self.save_round(result)
        self.apply_round(result)
        return round_id

    def apply_round(self, result: RoundResult) -> None:
        """Take a saved round's predictions for display."""
        self.predicted = result.predicted
        self.last_result = result
        self.labels_since_round = 0

    def retrain_due(self) -> bool:
        """Every ``retrain_every`` labels, or manual (0); always when the batch runs out."""
        left = self.labels_until_retrain()
        return (left is not None and left == 0) or not queue.entries(self.reader)

    def labels_until_retrain(self) -> int | None:
        """None: retraining is manual."""
        every = self.settings().retrain_every
        return None if every <= 0 else max(0, every - self.labels_since_round)

    # -- the held-out test set -------------------------------------------------------------------

    def test_set_status(self) -> dict[str, int]:
        return queue.test_set_status(self.reader)

    def start_test_set(self, size: int) -> int:
        return self.writer.call(lambda p: queue.start_test_set(p, size))

    def end_test_set(self) -> int:
        return self.writer.call(queue.end_test_set)

    # -- decisions -------------------------------------------------------------------------------

    def label(self, entry: QueueEntry, label: str, active_ms: int | None,
              started_at: float | None) -> Change:
        selection = _selection(entry)
        event = self.writer.call(lambda p: p.label_item(
            entry.item_id, label, self.annotator, started_at, active_ms, selection))
        if entry.source != Source.TEST_SET:  # test labels do not change the model
            self.labels_since_round += 1
        return Change(entry.item_id, event, Action.LABEL, label, self.retrain_due())

    def relabel(self, item_id: ItemId, label: str) -> Change:
        event = self.writer.call(lambda p: p.label_item(
            item_id, label, self.annotator, selection=Selection(Source.RELABEL)))
        return Change(item_id, event, Action.LABEL, label)

    def skip(self, entry: QueueEntry, active_ms: int | None, started_at: float | None,
             forever: bool = False) -> Change:
        event = self.writer.call(lambda p: p.skip_item(
            entry.item_id, self.annotator, forever, started_at, active_ms, _selection(entry)))
        action = Action.SKIP_FOREVER if forever else Action.SKIP
        return Change(entry.item_id, event, action, None, self.retrain_due())

    def flag(self, entry: QueueEntry) -> Change:
        event = self.writer.call(lambda p: p.flag_item(
            entry.item_id, self.annotator, "flagged while labeling", _selection(entry)))
        return Change(entry.item_id, event, Action.FLAG)

    def undo(self) -> Change | None:
        """Undo the latest label; its item goes back to the front of the queue."""
        undone = self.writer.call(lambda p: p.undo_last(self.annotator))
        if undone is None:
            return None
        item_id, event = undone
        self.labels_since_round = max(0, self.labels_since_round - 1)
        return Change(item_id, event, Action.UNDO)

    def history(self, limit: int = 20) -> list[Decision]:
        return events.history(self.reader, self.annotator, limit)

    def imported_vector_names(self) -> list[str]:
        return vectors.imported_vector_names(self.reader)

    def export_labels(self, out: Path, overwrite: bool = False) -> int:
        """Every labeled item, to JSONL or CSV by the file name (written atomically)."""
        return export.export_labels(self.reader, out, overwrite=overwrite)

    def export_model(self, out: Path) -> dict[str, Any]:
        from alapp.app.export_model import export_model

        return export_model(self.reader, out, overwrite=False)

    # -- finding and importing items -------------------------------------------------------------

    def find(self, query: BrowseQuery, limit: int = 500) -> list[BrowseRow]:
        return browse.find_items(self.reader, query, self.predicted, limit)

    def annotators(self) -> list[str]:
        return events.annotators(self.reader)

    def import_file(self, path: Path, spec: ImportSpec,
                    progress: Callable[[int, int], bool] | None = None,
                    dry_run: bool = False) -> ImportReport:
        """All or nothing, on the writer thread (labels wait while it runs); ``progress``
        (bytes read, total) is called there and stops the import by raising ``Cancelled``."""
        return self.writer.call(lambda p: importer.import_file(
            p, path, spec, progress=progress, parallel=None, dry_run=dry_run))

    # -- numbers for the panels ------------------------------------------------------------------

    def forecast(self, entries: list[QueueEntry] | None = None,
                 numbers: dict[str, float] | None = None) -> dict[str, float | None]:
        """The next batch's predicted seconds, the pace so far and, with a budget, how many
        more labels it buys at that pace. ``entries`` and ``numbers`` (the budget) may be
        passed in when the caller has just read them."""
        from alapp.al.budget import labels_left

        entries = self.queue() if entries is None else entries
        next_batch = sum(e.predicted_cost or 0.0 for e in entries) if entries else 0.0
        recent = events.recent_label_ms(self.reader)
        pace = float(np.mean(recent)) / 1000 if recent else None
        numbers = self.budget() if numbers is None else numbers
        s = self.settings()
        left = labels_left(s.budget_unit, numbers["remaining"], pace, s.hourly_rate) \
            if s.budget_amount > 0 else None
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
        return rounds.model_history(self.reader)

    def budget(self) -> dict[str, float]:
        """Spent and remaining, in the project's budget unit, from the stored events."""
        from alapp.al.budget import status

        s = self.settings()
        count, ms = events.labels_paid(self.reader)
        now = status(s.budget_unit, s.budget_amount, count, ms / 3_600_000, s.hourly_rate)
        return {"spent": now.spent, "remaining": now.remaining, "budget": now.amount,
                "labels": float(now.labels), "hours": now.hours}


def _selection(entry: QueueEntry) -> Selection:
    return Selection(entry.source, entry.strategy, entry.score, entry.predicted_cost,
                     entry.round_id)
