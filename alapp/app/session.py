"""An annotator's session over a project: the queue, decisions, undo and the retrain cadence.

No Qt here: the window calls these commands and shows what they return, and tests drive the
same code without a screen. Writes go to the project's writer thread; the reads that fill the
window are short, indexed and run on the caller's read-only connection.
"""

from __future__ import annotations

import errno
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import numpy as np

from alapp.al.budget import SPENT_RULES, BudgetStatus
from alapp.al.budget import status as budget_status
from alapp.al.stopping import Forecast, Signal, labels_to_reach, labels_to_stabilize
from alapp.app.claims import SessionClaims
from alapp.app.presence import Heartbeat
from alapp.app.rounds import save_result
from alapp.app.writer import InlineWriter, ProjectWriter
from alapp.core import errors
from alapp.core.errors import AlappError, ProjectLockedError
from alapp.core.format import amount as format_amount
from alapp.core.location import Location, project_location
from alapp.core.log import is_database_error
from alapp.core.settings import ProjectSettings
from alapp.core.types import Action, EventId, ItemId, Selection, Source
from alapp.loop.round import RoundResult
from alapp.store import (
    browse,
    events,
    export,
    images,
    importer,
    packages,
    queue,
    rounds,
    vectors,
)
from alapp.store.browse import NONE_OF_THESE, UNLABELED, BrowseQuery, BrowseRow
from alapp.store.events import Decision
from alapp.store.events import RelabelBatch as RelabelBatch  # the token of relabel_many
from alapp.store.importer import ImportReport, ImportSpec
from alapp.store.project import Project
from alapp.store.queue import QueueEntry
from alapp.store.trainer import RoundOrigin

__all__ = ["UNLABELED", "BrowseQuery", "BrowseRow", "BudgetSpentError", "Change", "Decision",
           "LabelingSession", "QueueEntry", "ReadOnlySessionError", "ReadOnlyWriter",
           "RoundResult", "read_only_reason"]
__all__ += ["NONE_OF_THESE"]  # multi-label (issue 21)

T = TypeVar("T")

# Settings of a server project are read again once this old (another workstation may change
# them); a file's are kept (its lock makes this session the only writer).
SERVER_SETTINGS_TTL_S = 15.0


class ReadOnlySessionError(AlappError):
    """A write asked of a session opened read-only."""


class BudgetSpentError(AlappError):
    """A new label asked for when the project's budget is spent."""


class ReadOnlyWriter:
    """The writer of a session opened read-only: no thread, no lock, no writable connection;
    every write is refused with the reason the project is read-only."""

    def __init__(self, path: Location, reason: str) -> None:
        self.path = project_location(path)
        self.reason = reason

    def call(self, fn: Callable[[Project], T]) -> T:
        self._refuse()

    def submit(self, fn: Callable[[Project], T]) -> NoReturn:
        self._refuse()

    def _refuse(self) -> NoReturn:
        raise ReadOnlySessionError(f"{self.path}: opened read-only ({self.reason}); nothing "
                                   "can be changed")

    def close(self) -> None:
        """Nothing is held."""


def read_only_reason(error: BaseException, path: Location) -> str | None:
    """Why opening ``path`` for writing failed, when opening it read-only would work instead:
    another alapp process holds it ("open in another alapp window (pid N)"), or its folder
    or the file cannot be written (read-only media, no permission). None for other errors."""
    if isinstance(error, ProjectLockedError):
        pid = re.search(r"\(pid (\d+)\)", str(error))
        return f"open in another alapp window{f' (pid {pid.group(1)})' if pid else ''}"
    # The store's own one-line error for a file or folder it cannot write (where it has one).
    cannot_write = getattr(errors, "ProjectReadOnlyError", None)
    if cannot_write is not None and isinstance(error, cannot_write):
        return _what_cannot_be_written(path)
    causes = [error, error.__cause__, error.__context__]
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM,
                                                          errno.EROFS):
            return ("the folder cannot be written" if cause.errno == errno.EROFS
                    else _what_cannot_be_written(path))
        if cause is not None and is_database_error(cause) and "readonly" in str(cause):
            return "the file cannot be written"
    return None


def _what_cannot_be_written(path: Location) -> str:
    """The file itself when only it is read-only; else its folder (read-only media, no
    permission to make the lock file and SQLite's log beside it)."""
    if not isinstance(path, Path):  # a server project (issue 20)
        return "the server does not let this login write"
    folder_ok = os.access(path.parent, os.W_OK)
    if folder_ok and path.exists() and not os.access(path, os.W_OK):
        return "the file cannot be written"
    return "the folder cannot be written"


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
    read_only: str | None = None  # why the session cannot write (opened with open_read_only)

    def __init__(self, path: Location, annotator: str,
                 writer: ProjectWriter | InlineWriter | ReadOnlyWriter | None = None,
                 role: str = "gui") -> None:
        self._owns_writer = writer is None
        self._settings: ProjectSettings | None = None
        self._settings_read = 0.0  # time.monotonic() of the last read
        self._counts: dict[str, int] | None = None
        # The items' metadata keys, read once: only an import changes them (and an import
        # from outside needs the lock this session holds). Settings opens without a scan.
        self._meta_keys: list[str] | None = None
        # labels_paid as last counted, and the event it was counted up to: a new count reads
        # only the events after it (events are only ever added, numbered in commit order)
        self._paid: tuple[int, int] | None = None
        self._paid_upto = 0
        self._paid_stale = True  # until this session writes a decision
        self.writer = writer or ProjectWriter(project_location(path))
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
        # issue 20: the items this session holds, hidden from every other session
        self.claims = SessionClaims(self.reader, None if isinstance(self.writer, ReadOnlyWriter)
                                    else self.writer.call, self.settings)
        if isinstance(self.writer, ProjectWriter):  # renewed while the app is open
            self.claims.keep_alive(self.writer.submit)
        # issue 20: on a server project, who else is connected and what this session does
        self.presence: Heartbeat | None = None
        if self.reader.on_server and isinstance(self.writer, ProjectWriter):
            self.presence = Heartbeat(self.writer, self.reader, lambda: self.annotator,
                                      role).start()

    @classmethod
    def open_read_only(cls, path: Path, annotator: str,
                       reason: str = "opened read-only") -> LabelingSession:
        """A session that reads (the queue, history, browse, statistics, exports) and writes
        nothing: no writer thread and no lock, so it opens a project another process holds
        for writing or one on read-only media. Every write command raises
        ``ReadOnlySessionError``; ``read_only`` says why, for the window's banner."""
        session = cls(path, annotator, ReadOnlyWriter(project_location(path), reason))
        session.read_only = reason
        return session

    @classmethod
    def inline(cls, project: Project, annotator: str) -> LabelingSession:
        """A session writing on the calling thread to ``project`` (scripts, tests)."""
        return cls(project.path, annotator, InlineWriter(project))

    def close(self) -> None:
        self.claims.release()  # issue 20: its items are free for the other sessions now
        if self.presence is not None:
            self.presence.stop()
        self.reader.close()
        if self._owns_writer:
            self.writer.close()

    def set_annotator(self, name: str) -> str:
        """Who labels from now on, recorded with every decision (events store it); the
        window asks for it per project. Returns the name as kept (one line, trimmed)."""
        name = " ".join(str(name).split())
        if not name:
            raise AlappError("the annotator's name is empty")
        self.annotator = name[:100]
        return self.annotator

    def __enter__(self) -> LabelingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the project -----------------------------------------------------------------------------

    def settings(self) -> ProjectSettings:
        """Kept between calls: a decision's refresh asks for them half a dozen times. On a
        file only this session's writer changes them (the lock keeps every other writer out);
        on a server (issue 20) another workstation may (the budget, the claims' window and
        lease, the guidelines), so there they are read again once they are
        ``SERVER_SETTINGS_TTL_S`` old."""
        stale = self.reader.on_server and \
            time.monotonic() - self._settings_read > SERVER_SETTINGS_TTL_S
        if self._settings is None or stale:
            self._settings = self.reader.settings()
            self._settings_read = time.monotonic()
        return self._settings

    def labels(self) -> list[str]:
        return self.reader.labels()

    def label_descriptions(self) -> dict[str, str]:
        """Each label's description, for those that have one (issue 17)."""
        return self.reader.label_descriptions()

    def update_settings(self, **changes: Any) -> ProjectSettings:
        self._settings = None
        self._settings = self.writer.call(lambda p: p.update_settings(**changes))
        self._settings_read = time.monotonic()
        return self._settings

    def count_items(self) -> dict[str, int]:
        """Items per split, kept between calls: counting 100k rows takes ~30 ms, and only an
        import or the test set (both through this session) change them."""
        if self._counts is None:
            self._counts = self.reader.count_items()
        return self._counts

    def round_count(self) -> int:
        return rounds.round_count(self.reader)

    # -- the queue -------------------------------------------------------------------------------

    def queue(self) -> list[QueueEntry]:
        """The current batch, in order, each with the latest model's prediction: the one
        stored with the queue (issue 20: the newest round's, wherever it was trained), else
        this session's round's (span and multi-label projects store none)."""
        visible = self.claims.visible(queue.entries(self.reader), self.annotator)  # issue 20
        return [self._with_model_view(
            e if e.predicted is not None else replace(e, predicted=self.predicted.get(e.item_id)))
            for e in visible]

    def current(self) -> QueueEntry | None:
        entries = self.queue()
        return entries[0] if entries else None

    def save_round(self, result: RoundResult, origin: RoundOrigin | None = None) -> int:
        """Write a round's model version and batch (on the writer thread); the item on screen
        stays first, so a round never swaps it mid-read. ``origin``: who trained it (20)."""
        keep = self.showing
        return self.writer.call(lambda p: save_result(p, result, keep, origin))

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
        """Every ``retrain_every`` labels, or manual (0); always when the batch runs out for
        this annotator (overlap items they decided wait for others, not for them: issue 20)."""
        left = self.labels_until_retrain()
        return (left is not None and left == 0) or \
            not queue.has_entries(self.reader, self.annotator)

    def labels_until_retrain(self) -> int | None:
        """None: retraining is manual."""
        every = self.settings().retrain_every
        return None if every <= 0 else max(0, every - self.labels_since_round)

    # -- the held-out test set -------------------------------------------------------------------

    def test_set_status(self) -> dict[str, int]:
        return queue.test_set_status(self.reader)

    def offers_test_set(self) -> bool:
        """Whether to offer a held-out test set: none yet, and not an opened package."""
        return self.count_items()["test"] == 0 and \
            "package_for" not in packages.package_identity(self.reader)

    def start_test_set(self, size: int) -> int:
        self._counts = None
        return self.writer.call(lambda p: queue.start_test_set(p, size))

    def end_test_set(self) -> int:
        self._counts = None
        return self.writer.call(queue.end_test_set)

    # -- decisions -------------------------------------------------------------------------------

    def label(self, entry: QueueEntry, label: str, active_ms: int | None,
              started_at: float | None) -> Change:
        """Label a queued item; refused with ``BudgetSpentError`` once the budget is spent
        (``relabel`` and ``undo`` stay allowed: see ``al/budget.py``)."""
        self._refuse_when_spent()
        selection = _selection(entry)
        self._paid_stale = True
        claim = self.claims.request(self.annotator)  # issue 20: the next items, same commit
        event = self.writer.call(lambda p: p.label_item(
            entry.item_id, label, self.annotator, started_at, active_ms, selection, claim))
        if entry.source != Source.TEST_SET:  # test labels do not change the model
            self.labels_since_round += 1
        return Change(entry.item_id, event, Action.LABEL, label, self.retrain_due())

    def relabel(self, item_id: ItemId, label: str, active_ms: int | None = None) -> Change:
        """Change an earlier decision; allowed when the budget is spent, and counted in it
        (one decision, ``active_ms`` of time)."""
        self._paid_stale = True
        event = self.writer.call(lambda p: p.label_item(
            item_id, label, self.annotator, active_ms=active_ms,
            selection=Selection(Source.RELABEL)))
        return Change(item_id, event, Action.LABEL, label)

    def relabel_many(self, item_ids: list[ItemId], label: str) -> RelabelBatch:
        """Relabel several items as ``label`` in one write (all or none); the returned token
        undoes them as one step (``undo_relabel``)."""
        self._paid_stale = True
        return self.writer.call(lambda p: events.relabel_many(p, item_ids, label,
                                                              self.annotator))

    def undo_relabel(self, token: RelabelBatch) -> int:
        """Give each item of a ``relabel_many`` back the label it had before (as undo events);
        an item changed again since keeps its newer label. Returns how many were restored."""
        return self.writer.call(lambda p: events.undo_relabel(p, token, self.annotator))

    def _with_model_view(self, entry: QueueEntry) -> QueueEntry:
        """``entry`` with what the strategy saw when a round of this session queued it (its
        two likeliest labels, its cluster); an item kept across rounds (the one on screen, a
        waiting random pick) keeps the view of the round that chose it. The two likeliest
        labels stored with the queue (issue 20) come first: the newest round's, also when it
        was trained elsewhere."""
        result = self.last_result
        if result is None:
            return entry
        cached: tuple[RoundResult, dict[ItemId, tuple[Any, Any]]] | None = getattr(
            self, "_model_views", None)
        if cached is None or cached[0] is not result:
            views = dict(cached[1]) if cached is not None else {}
            for pick in result.picks:
                views.pop(ItemId(pick.item_id), None)  # re-added last: the newest are kept
                views[ItemId(pick.item_id)] = (result.top_two.get(ItemId(pick.item_id)),
                                               pick.cluster)
            while len(views) > 5_000:  # a long session: forget the oldest
                views.pop(next(iter(views)))
            cached = (result, views)
            self._model_views = cached
        top_two, cluster = cached[1].get(entry.item_id, (None, None))
        # span projects (issue 18): each token's uncertainty under the latest model
        uncertain = result.token_uncertainty.get(entry.item_id, entry.token_uncertainty)
        return replace(entry, top_two=entry.top_two or top_two, cluster=cluster,
                       token_uncertainty=uncertain)

    def skip(self, entry: QueueEntry, active_ms: int | None, started_at: float | None,
             forever: bool = False) -> Change:
        claim = self.claims.request(self.annotator)  # issue 20: the next items, same commit
        event = self.writer.call(lambda p: p.skip_item(
            entry.item_id, self.annotator, forever, started_at, active_ms, _selection(entry),
            claim))
        action = Action.SKIP_FOREVER if forever else Action.SKIP
        return Change(entry.item_id, event, action, None, self.retrain_due())

    def flag(self, entry: QueueEntry, note: str = "") -> Change:
        """Flag the item for a second look, with an optional short comment (its ``note``)."""
        note = " ".join(note.split())[:browse.FLAG_NOTE_MAX]
        event = self.writer.call(lambda p: p.flag_item(
            entry.item_id, self.annotator, note, _selection(entry)))
        return Change(entry.item_id, event, Action.FLAG)

    def undo(self) -> Change | None:
        """Undo the latest label; its item goes back to the front of the queue."""
        def undo(p: Project) -> tuple[ItemId, EventId] | None:
            back = p.undo_last(self.annotator)
            if back is not None:  # issue 20: the item back at the front is this session's
                self.claims.refill_step(self.annotator, first=back[0])(p)
            return back

        undone = self.writer.call(undo)
        if undone is None:
            return None
        item_id, event = undone
        self.labels_since_round = max(0, self.labels_since_round - 1)
        return Change(item_id, event, Action.UNDO)

    def history(self, limit: int = 20) -> list[Decision]:
        return events.history(self.reader, self.annotator, limit)

    def imported_vector_names(self) -> list[str]:
        return vectors.imported_vector_names(self.reader)

    def image(self, item_id: ItemId) -> bytes | None:
        """The item's image bytes (imported with it), or None: one indexed read."""
        return images.image_of(self.reader, item_id)

    def meta_keys(self) -> list[str]:
        """The items' metadata keys: what the random share may be stratified by."""
        from alapp.store.stream import meta_keys

        if self._meta_keys is None:
            self._meta_keys = meta_keys(self.reader)
        return list(self._meta_keys)

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
        self._counts = None
        self._paid_stale = True
        self._meta_keys = None
        return self.writer.call(lambda p: importer.import_file(
            p, path, spec, progress=progress, parallel=None, dry_run=dry_run))

    # -- numbers for the panels ------------------------------------------------------------------

    def forecast(self, entries: list[QueueEntry] | None = None,
                 numbers: dict[str, float] | None = None) -> dict[str, Any]:
        """The next batch's predicted seconds, the pace so far and, with a budget, how many
        more labels it buys at that pace. ``entries`` and ``numbers`` (the budget) may be
        passed in when the caller has just read them.

        ``target`` (with a target accuracy set) and ``stable`` are ``Forecast`` ranges of
        labels, credible or saying why not (``al.stopping``); ``target_hours`` and
        ``stable_hours`` the active hours from now to either end of a credible range at the
        current pace. ``labels_to_*`` and ``hours_to_*`` are the ranges' centres, None unless
        credible. ``currency`` and ``unit`` are the budget's, for its wording."""
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
        counts = self.count_items()
        pool = float(sum(n for split, n in counts.items() if split != "test"))
        target = None
        if s.target_accuracy > 0:
            # The stop fires when the interval's lower bound clears the target: forecast that.
            points = [(n, m.get("accuracy_low", m["accuracy"])) for n, m in curve
                      if "accuracy" in m]
            target = labels_to_reach([n for n, _ in points], [a for _, a in points],
                                     s.target_accuracy, pool=pool)
        kappas = [(n, m["signal_stabilizing"]) for n, m in curve if "signal_stabilizing" in m]
        stable = labels_to_stabilize([n for n, _ in kappas], [k for _, k in kappas], pool=pool)

        def hours_until(labels: float | None) -> float | None:
            return None if labels is None or not pace else max(0.0, labels - done) * pace / 3600

        def hours_range(f: Forecast | None) -> tuple[float, float] | None:
            if f is None or not f.credible or f.reached or not pace:
                return None
            low, high = hours_until(f.low), hours_until(f.high)
            return None if low is None or high is None else (low, high)

        def centre(f: Forecast | None) -> float | None:
            return None if f is None or f.reached else f.centre

        return {"next_batch_s": next_batch, "pace_s_per_label": pace,
                "labels_left_in_budget": left, "target": target, "stable": stable,
                "target_hours": hours_range(target), "stable_hours": hours_range(stable),
                "labels_to_target": centre(target),
                "hours_to_target": hours_until(centre(target)),
                "labels_to_stable": centre(stable),
                "hours_to_stable": hours_until(centre(stable)),
                "unit": s.budget_unit, "currency": s.currency}

    def model_history(self) -> list[tuple[int, dict[str, float]]]:
        """(labels trained on, metrics and signal values) of every model version, oldest first."""
        return rounds.model_history(self.reader)

    def budget(self) -> dict[str, float]:
        """Spent and remaining, in the project's budget unit, from the stored events."""
        now = self._budget_status()
        return {"spent": now.spent, "remaining": now.remaining, "budget": now.amount,
                "labels": float(now.labels), "hours": now.hours}

    def _budget_status(self) -> BudgetStatus:
        """What is spent, from the events; counted again only after this session writes a
        decision (so a key press counts it once), and then only the events added since."""
        s = self.settings()
        if self._paid is None or self._paid_stale:
            count, ms, self._paid_upto = events.labels_paid_since(self.reader, self._paid_upto)
            before = self._paid or (0, 0)
            self._paid = (before[0] + count, before[1] + ms)
            self._paid_stale = False
        count, ms = self._paid
        return budget_status(s.budget_unit, s.budget_amount, count, ms / 3_600_000,
                             s.hourly_rate)

    def budget_stop(self) -> Signal | None:
        """The budget's stopping signal when it has fired (the budget is spent), else None."""
        signal = self._budget_status().signal(self.settings().currency)
        return signal if signal.reached else None

    def _refuse_when_spent(self) -> None:
        if self.settings().budget_amount <= 0:  # no budget: nothing to count (issue 20)
            return
        stop = self.budget_stop()
        if stop is not None:
            raise BudgetSpentError(f"{self.path}: {stop.detail[0].lower()}{stop.detail[1:]}; "
                                   f"no new labels. {SPENT_RULES}")

    def extend_budget(self, amount: float) -> ProjectSettings:
        """Set a new budget (in its unit), through the writer like any settings change; it
        must be above what is spent already (or 0: no budget), else labeling stays stopped."""
        now = self._budget_status()
        if amount != 0 and amount <= now.spent:
            unit, currency = self.settings().budget_unit, self.settings().currency
            raise AlappError(f"budget_amount={amount:g} is not more than what is spent "
                             f"already ({format_amount(now.spent, unit, currency)}); give a "
                             "larger amount, or 0 for no budget")
        return self.update_settings(budget_amount=float(amount))

    def budget_report(self) -> dict[str, Any]:
        """The budget for ``alapp stats --json``: unit, amount, spent, remaining, fraction (None
        without a budget), whether it is spent, the labels and hours it paid for, and the
        forecasts (what the rest buys at the current pace; when the target and stable
        predictions are expected, each a range of labels or why not)."""
        s = self.settings()
        now = self._budget_status()
        ahead = self.forecast(entries=[], numbers=self.budget())

        def forecast_of(f: Forecast | None) -> dict[str, Any] | None:
            if f is None:
                return None
            return {"low": f.low, "high": f.high, "reached": f.reached,
                    "credible": f.credible, "basis": f.basis, "note": f.note}

        return {"unit": s.budget_unit, "amount": now.amount,
                "currency": s.currency if s.budget_unit == "money" else None,
                "hourly_rate": s.hourly_rate, "spent": now.spent,
                "remaining": None if math.isnan(now.remaining) else now.remaining,
                "fraction": now.fraction, "exhausted": now.exhausted,
                "labels_paid": now.labels, "active_hours": now.hours,
                "forecast": {"pace_s_per_label": ahead["pace_s_per_label"],
                             "labels_left_in_budget": ahead["labels_left_in_budget"],
                             "target": forecast_of(ahead["target"]),
                             "stable": forecast_of(ahead["stable"])}}

    def describe_labels(self, descriptions: dict[str, str]) -> dict[str, str]:
        """Set label descriptions (name -> text; "" clears one) on the writer thread, every
        one checked before any is written (issue 19: edited in Settings, as `alapp labels
        --describe` does); returns every description now stored."""
        from alapp.store.project import MAX_DESCRIPTION

        known = self.labels()
        for name, text in descriptions.items():
            if name not in known:
                raise AlappError(f"no label {name!r}; labels are {', '.join(known)}")
            if len(" ".join(text.split())) > MAX_DESCRIPTION:
                raise AlappError(f"the description of {name!r} is longer than "
                                 f"{MAX_DESCRIPTION} characters")

        def write(project: Project) -> dict[str, str]:
            for name, text in descriptions.items():
                project.describe_label(name, text)
            return project.label_descriptions()
        return self.writer.call(write)


def _selection(entry: QueueEntry) -> Selection:
    return Selection(entry.source, entry.strategy, entry.score, entry.predicted_cost,
                     entry.round_id)
