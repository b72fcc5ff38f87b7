"""The labeling window: glue between the session, the background rounds and the widgets."""

from __future__ import annotations

import gc
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from alapp.al.budget import SPENT_RULES
from alapp.app.encoder import encoder_due
from alapp.app.rounds import RoundJob
from alapp.app.session import (
    BudgetSpentError,
    Decision,
    LabelingSession,
    QueueEntry,
    RoundResult,
)
from alapp.core.errors import AlappError, Cancelled
from alapp.core.location import ServerAddress
from alapp.core.log import describe, log_error, one_line
from alapp.core.options import TaskKind
from alapp.core.timing import ActiveTimer
from alapp.core.types import join_labels
from alapp.ui import package_actions, preferences
from alapp.ui.background import Background
from alapp.ui.budget_banner import BudgetBanner, budget_dialog, waiting_text
from alapp.ui.guidelines import GuidelinesDialog
from alapp.ui.label_view import BANNER_STYLE, LabelView, cost_accuracy, literal, plain_label
from alapp.ui.side_panel import SidePanel
from alapp.ui.span_view import SpanView

TEST_SET_SIZE = 50
# The view that labels one item, per task kind (the span-labeling issue adds its own).
LABEL_VIEWS = {TaskKind.CLASSIFICATION: LabelView, TaskKind.SPANS: SpanView}


class MainWindow(QMainWindow):
    open_requested = Signal(object)  # a Path, or None for the start screen

    def __init__(self, project_path: Path, annotator: str | None = None,
                 read_only: str | None = None) -> None:
        """``read_only``: why the project cannot be written (another alapp process holds it,
        its folder is read-only): the window then browses, shows and exports, and writes
        nothing (no writer thread, no rounds)."""
        super().__init__()
        self.read_only = read_only
        # Who labels: given, else the name remembered for this project, else the login (and
        # a banner asks once: keep it, or set a name, with the login filled in: ask_name).
        remembered = preferences.annotator(project_path)
        self.ask_name_first = annotator is None and remembered is None and not read_only
        name = annotator or remembered or getpass.getuser()
        self.session = (LabelingSession.open_read_only(project_path, name, read_only)
                        if read_only else LabelingSession(project_path, name))
        try:
            self._build()
        except BaseException:  # the writer thread must not keep the project locked
            self.session.close()
            raise

    def _build(self) -> None:
        read_only = self.read_only
        settings = self.session.settings()
        self.multi_label = settings.multi_label
        self.timer = ActiveTimer(settings.idle_cutoff_s)
        self.entry: QueueEntry | None = None
        self.toggled: set[str] = set()  # multi-label: labels chosen for the current item
        self.history_index: int | None = None  # None: the queue; k: the k-th latest decision
        self.decisions: list[Decision] = []
        self.importing = False
        self.closed = False
        self.guidelines_window: GuidelinesDialog | None = None  # issue 19 (F1)
        self.round_job = RoundJob(self.session)  # keeps the model warm between rounds

        self.work = Background("alapp-round", self)
        self.work.done.connect(self._round_done)
        self.work.failed.connect(self._round_failed)
        self.work.progress.connect(self._round_progress)
        self.work.idle.connect(self._round_finished)
        # A large backlog of embeddings runs on a thread of its own (the rounds meanwhile use
        # stand-in features): RoundJob.embedding, with counts and an ETA in the status bar.
        self.embedding = Background("alapp-embed", self)
        self.embedding.done.connect(self._embedding_done)
        self.embedding.failed.connect(self._embedding_failed)
        self.embedding.progress.connect(self._embedding_progress)
        self.embedding.idle.connect(self._embedding_idle)
        # issue 17: contrastive fine-tuning of the encoder, when due, on a thread of its own;
        # its progress shares the status bar's embedding line.
        self.encoder = Background("alapp-encoder", self)
        self.encoder.done.connect(self._encoder_done)
        self.encoder.failed.connect(self._encoder_failed)
        self.encoder.progress.connect(self._embedding_progress)
        self.encoder.idle.connect(self._embedding_idle)

        self.view = LABEL_VIEWS[TaskKind(settings.task)](self.session.labels(), self.multi_label)
        self._show_descriptions()  # issue 17: label descriptions as tooltips
        self.view.label_chosen.connect(self.press_label)
        self.view.guidelines_button.clicked.connect(self.show_guidelines)  # issue 19
        self.view.test_set_start.clicked.connect(self.start_test_set)
        self.view.test_set_later.clicked.connect(lambda: self.view.offer_test_set(False))
        self.view.name_change.clicked.connect(lambda: self._name_offered(keep=False))
        self.view.name_keep.clicked.connect(lambda: self._name_offered(keep=True))
        self.view.offer_name(self.ask_name_first, self.session.annotator)
        self.budget_banner = BudgetBanner()  # over the labeling view while the budget is spent
        self.budget_banner.extend.clicked.connect(self.extend_budget)
        view_layout = self.view.layout()
        assert isinstance(view_layout, QVBoxLayout)
        view_layout.insertWidget(0, self.budget_banner)
        self.panel = SidePanel()
        self.panel.retrain.clicked.connect(self.request_round)
        self.panel.cancel.clicked.connect(self.work.cancel)
        self.splitter = splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setCollapsible(0, False)  # the item being labeled never goes
        splitter.setCollapsible(1, True)  # the side panel does (dragged shut, or View menu)
        splitter.splitterMoved.connect(lambda *_: self._panel_toggled_by_drag())
        self.setCentralWidget(self._with_read_only_banner(splitter))
        server = f" — on {self._server_host()}" if self._server_host() else ""  # issue 20
        self.setWindowTitle(f"alapp — {settings.name}{server}"
                            f"{' (read-only)' if read_only else ''}")
        screen = self.screen().availableGeometry()  # a 1366x768 laptop has less than 800
        self.resize(min(1280, screen.width()), min(800, screen.height()))
        geometry = preferences.store().value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self._menus()
        self._status_bar()
        self.show_side_panel(preferences.side_panel_shown())
        self.shortcuts: list[QShortcut] = []
        self.bind_shortcuts()
        self._warm_settings_dialog()
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        preferences.remember_project(self.session.path)
        self.refresh()
        counts = self.session.count_items()
        if self.read_only:
            self._disable_writes()
        elif not any(counts.values()):
            QTimer.singleShot(0, self.import_dialog)  # an empty project: start with its items
        else:
            self.view.offer_test_set(self.session.offers_test_set())
            self.request_round()

    # -- keyboard and menus ------------------------------------------------------------------------

    def bind_shortcuts(self) -> None:
        """(Re)bind every action to the keys in the preferences; remappable in Settings."""
        for old in self.shortcuts:
            old.setParent(None)
            old.deleteLater()
        labels = self.session.labels()
        actions: dict[str, Callable[[], None]] = {
            f"label_{i + 1}": partial(self.press_label, name)
            for i, name in enumerate(labels[:9])}
        actions.update(accept=self.accept, undo=self.undo, undo_alt=self.undo, skip=self.skip,
                       flag=self.flag, back=self.history_back, forward=self.history_forward,
                       leave_history=self.leave_history, guidelines=self.show_guidelines)
        if self.multi_label:  # issue 21
            actions["none_of_these"] = self.none_of_these
        actions = self.view.route_actions(actions)  # a span project: keys edit the spans
        keys = {}
        self.shortcuts = []
        for action, slot in actions.items():
            sequence = preferences.shortcut(action)
            if not sequence:
                continue
            keys[action] = sequence
            shortcut = QShortcut(QKeySequence(sequence), self)
            shortcut.activated.connect(slot)
            self.shortcuts.append(shortcut)
            if sequence == "Return":  # the keypad's Enter too
                extra = QShortcut(QKeySequence("Enter"), self)
                extra.activated.connect(slot)
                self.shortcuts.append(extra)
        self.view.show_keys(keys)
        self.panel.show_history_keys(*self.view.history_keys(keys))

    def _menus(self) -> None:
        Entry = tuple[str, Callable[[], object], str] | None  # None: a separator

        def add(menu_name: str, entries: list[Entry]) -> None:
            menu = self.menuBar().addMenu(menu_name)
            for entry in entries:
                if entry is None:
                    menu.addSeparator()
                    continue
                text, slot, keys = entry
                action = QAction(text, self)
                if keys:
                    action.setShortcut(QKeySequence(keys))
                action.triggered.connect(slot)
                menu.addAction(action)
                self.menu_actions[text] = action

        self.menu_actions: dict[str, QAction] = {}

        add("&File", [("&New or open project…", lambda: self.open_requested.emit(None), ""),
                      ("Open &project…", self.open_dialog, "Ctrl+O"),
                      ("Open from a &server…", self.server_dialog, ""), None,  # issue 20
                      ("&Import items…", self.import_dialog, "Ctrl+I"),
                      ("&Export labels…", self.export_dialog, "Ctrl+E"),
                      ("Export &model…", self.export_model_dialog, ""), None,
                      # exchange packages (issue 19): ui/package_actions.py
                      ("Open pac&kage…", lambda: package_actions.open_package_dialog(self), ""),
                      ("Send labels &back…", lambda: package_actions.send_back_dialog(self), ""),
                      ("Mer&ge package…", lambda: package_actions.merge_package_dialog(self), ""),
                      None,
                      ("&Quit", self.close, "Ctrl+Q")])
        add("&Edit", [("&Browse and search items…", self.browse, "Ctrl+F"),
                      ("Label a held-out &test set…", self.start_test_set, ""),
                      ("Extend &budget…", self.extend_budget, ""),
                      ("&Settings…", self.settings_dialog, "Ctrl+,"),
                      ("Labeling &guidelines…", self.show_guidelines, ""), None,
                      ("Set your &name…", lambda: self.ask_name(), "")])
        view = self.menuBar().addMenu("&View")
        self.side_panel_action = QAction("Side &panel", self)
        self.side_panel_action.setCheckable(True)
        self.side_panel_action.setShortcut(QKeySequence("F9"))
        self.side_panel_action.toggled.connect(self.show_side_panel)
        view.addAction(self.side_panel_action)
        self.menu_actions["Side &panel"] = self.side_panel_action
        add("&Model", [("&Retrain now", self.request_round, "Ctrl+R"),
                       ("&Cancel training", self.work.cancel, ""),
                       ("&Compare strategies on my labels…", lambda: self.compare_strategies(), ""),
                       ("Compare strategies on a labeled &file…", self.compare_on_file, "")])
        add("&Team", [("&Team and agreement…", self.team_view, ""),  # issue 19
                      ("&Review and adjudicate…", self.review_dialog, "")])

    # -- decisions -----------------------------------------------------------------------------

    def press_label(self, label: str) -> None:
        """A label key: relabels in history mode, toggles in multi-label, else labels."""
        if not self._writable():
            return
        if self.history_index is not None:
            self.relabel_history(label)
        elif self.multi_label:
            self.toggled ^= {label}
            self.view.show_toggled(self.toggled)
        else:
            self.label_current(label)

    def none_of_these(self) -> None:
        """Multi-label: the item has none of the labels (an explicit empty set)."""
        if not self.multi_label or not self._writable():
            return
        if self.history_index is not None:
            self.relabel_history(None)
        else:
            self.label_current("")

    def label_current(self, label: str) -> None:
        if self.entry is None or not self._writable():
            return
        try:
            self.session.label(self.entry, label, self.timer.stop_ms(), self.timer.started_wall)
        except BudgetSpentError as e:  # spent since the item was shown: the stop shows now
            self.statusBar().showMessage(str(e), 8000)
            self.refresh()
            return
        self._after_decision()

    def accept(self) -> None:
        """Enter: confirm the multi-label choice, or take the model's prediction."""
        if self.history_index is not None or not self._writable():
            return
        if self.multi_label and self.toggled:
            self.label_current(join_labels(self.toggled, self.session.labels()))
        elif self.entry is not None and self.entry.predicted:
            self.label_current(self.entry.predicted[0])

    def skip(self) -> None:
        if self.entry is not None and self.history_index is None and self._writable():
            self.session.skip(self.entry, self.timer.stop_ms(), self.timer.started_wall)
            self._after_decision()

    def flag(self) -> None:
        """F: flag the item for a second look, with an optional short comment; Enter on an
        empty comment flags without one, Cancel flags nothing. Browse > Status finds it."""
        if self.entry is None or self.history_index is not None or not self._writable():
            return
        entry = self.entry  # flagged even if the queue moves while the dialog is open
        note, ok = QInputDialog.getText(self, "Flag for a second look",
                                        "Comment (optional), e.g. what is unclear:")
        if not ok:
            return
        self.session.flag(entry, note)
        self.statusBar().showMessage("Flagged for a second look"
                                     + (" with a comment" if note.strip() else "")
                                     + " (Browse > Status: flagged finds it)", 3000)

    def undo(self) -> None:
        if not self._writable():
            return
        self.history_index = None
        if self.session.undo() is None:
            self.statusBar().showMessage("Nothing to undo", 3000)
        self.refresh()

    def _after_decision(self) -> None:
        self.refresh()
        if self.session.retrain_due():
            self.request_round()

    # -- history: recent decisions stay editable ---------------------------------------------------

    def history_back(self) -> None:
        if self.history_index is None:  # entering history: this list, in this order, until
            self.decisions = self.session.history(50)  # back at the queue (see relabel_history)
        index = 0 if self.history_index is None else self.history_index + 1
        if index < len(self.decisions):
            self.history_index = index
            self.session.showing = None  # reading history: a new batch may reorder the queue
            self._show_history()

    def history_forward(self) -> None:
        if self.history_index is None:
            return
        self.history_index -= 1
        if self.history_index < 0:
            self.leave_history()
        else:
            self._show_history()

    def leave_history(self) -> None:
        if self.history_index is not None:
            self.history_index = None
            self.refresh()

    def _show_history(self) -> None:
        assert self.history_index is not None
        decision = self.decisions[self.history_index]
        self.view.show_decision(decision, self.history_index + 1,
                                self.session.image(decision.item_id))
        self._disable_label_buttons()

    def relabel_history(self, label: str | None) -> None:
        """A label key on an earlier decision: sets that label (toggles it in a multi-label
        set); ``None`` (multi-label): none of these."""
        assert self.history_index is not None
        if not self._writable():
            return
        decision = self.decisions[self.history_index]
        if self.multi_label:
            current = set((decision.label or "").split("|")) - {""}
            label = "" if label is None else join_labels(current ^ {label},
                                                         self.session.labels())
        assert label is not None
        # A change is a decision: it costs its active time, and the budget counts it.
        self.session.relabel(decision.item_id, label, self.timer.stop_ms())
        self.timer.start()
        # The changed decision stays where it is in the list being walked: re-reading the
        # history would move it to the front (a relabel is its newest event), and ← → would
        # then jump to other items. Esc goes back to the queue.
        self.decisions[self.history_index] = replace(decision, label=label, action="label")
        self._show_history()
        self.panel.show_history(self.session.history(15))
        self.statusBar().showMessage(f"Changed to {label or 'none of these'}", 3000)

    # -- display -------------------------------------------------------------------------------

    def refresh(self, restart_timer: bool = True) -> None:
        entries = self.session.queue()
        shown_before = self.entry.item_id if self.entry else None
        stop = None if self.read_only else self.session.budget_stop()
        self.budget_banner.show_stop(stop.detail if stop else None, SPENT_RULES)
        self.entry = entries[0] if entries and stop is None else None
        self.session.showing = self.entry.item_id if self.entry else None
        same_item = self.entry is not None and self.entry.item_id == shown_before
        waiting = ("Training and choosing the next batch…" if self.work.busy
                   else "The batch is done. Press Ctrl+R to choose a new one.")
        if self.read_only:
            waiting = f"Read-only ({self.read_only}): no batch to label here."
        elif stop is not None:
            waiting = waiting_text(stop.detail)
        cost = self.session.last_result.cost if self.session.last_result else None
        image = self.session.image(self.entry.item_id) if self.entry is not None else None
        self.view.show_entry(self.entry, waiting, cost, image)
        if self.multi_label:  # issue 21: each toggle shows the model's probability
            result = self.session.last_result
            self.view.show_label_probs(result.label_probs_of(self.entry.item_id)
                                       if result is not None and self.entry else None)
        self._disable_label_buttons()
        if not same_item:
            self.toggled = set()  # multi-label choices belong to the item they were made on
        self.view.show_toggled(self.toggled)  # a round's refresh keeps them on the same item
        if self.entry is not None and (restart_timer or not same_item):
            self.timer.start()  # a new item; a round's refresh keeps the one being read timed
        self.panel.show_batch(entries, cost_accuracy(cost))
        self.panel.show_history(self.session.history(15))
        numbers = self.session.budget()
        self.panel.show_budget(numbers, self.session.settings().budget_unit,
                               self.session.forecast(entries, numbers))
        self.panel.next_retrain.setText("Training now" if self.work.busy
                                        else self._next_retrain())

    def _next_retrain(self) -> str:
        if self.read_only:
            return "Read-only: no training here"
        left = self.session.labels_until_retrain()
        if left is None:
            return "Retrains when you press Ctrl+R (or the batch runs out)"
        return f"Retrains after {left} more label{'' if left == 1 else 's'}"

    # -- background rounds -------------------------------------------------------------------------

    def request_round(self) -> None:
        if self.importing or self.read_only:
            return
        self.round_number = self.session.round_count() + 1
        self.work.submit(self.round_job)
        self.panel.progress.setVisible(True)
        self.panel.cancel.setVisible(True)
        self.panel.next_retrain.setText("Training now")

    def _round_progress(self, stage: str, fraction: float) -> None:
        if self.closed:  # a result queued before the window closed
            return
        self.panel.progress.setValue(int(100 * fraction))
        self.panel.show_model(None, training=f"Round {self.round_number}: {stage}…")

    def _round_done(self, result: RoundResult) -> None:
        if self.closed:  # a result queued before the window closed
            return
        if self.importing:  # the import holds the write lock: this round is stale anyway
            return
        self.session.apply_round(result)  # saved by the round job, through the writer
        if result.pending_embeddings and not self.read_only:
            self.embedding.submit(self.round_job.embedding)  # coalesces with a running one
        elif (not self.read_only and not self.encoder.busy
              and encoder_due(self.session.settings(), self.session.path, result.n_labeled)):
            self.encoder.submit(self.round_job.encoder)  # issue 17
        self.panel.show_model(result)
        self.panel.show_history_chart(self.session.model_history())
        # The round left long-lived data (features, model, predictions for the whole pool).
        # Freezing it keeps the collector from walking it: a full collection over a 100k
        # project held the GIL for 70-130 ms, stalling this thread (bench/bench_gui.py).
        # Frozen objects are still freed by reference counting when dropped.
        gc.freeze()
        if self.history_index is None:
            self.refresh(restart_timer=False)

    def _round_failed(self, error: BaseException) -> None:
        if self.closed:  # a result queued before the window closed
            return
        self.panel.show_model(self.session.last_result)
        QMessageBox.warning(self, "Training failed", literal(self._failure_line(error)))

    def _failure_line(self, error: BaseException) -> str:
        """One line for a background job's failure; a bug's traceback goes to the log."""
        message = describe(error, self.session.path)
        if message is not None:
            return message
        log = log_error(error, f"background job in the window of {self.session.path}")
        if log is not None:
            self.statusBar().showMessage(f"Details of the failure are in {log}", 15000)
        return one_line(f"{type(error).__name__}: {error}")

    def _log_failure(self, error: BaseException) -> None:
        """A job whose dialog shows its own failure (the import): its traceback, if a bug."""
        if not isinstance(error, AlappError | Cancelled) and describe(error) is None:
            log_error(error, f"background job in the window of {self.session.path}")

    def _round_finished(self) -> None:
        if self.closed:  # a result queued before the window closed
            return
        if not self.work.busy:
            self.panel.progress.setVisible(False)
            self.panel.cancel.setVisible(False)
            self.panel.next_retrain.setText(self._next_retrain())

    # -- embeddings computed in the background -------------------------------------------------

    def _embedding_progress(self, stage: str, fraction: float) -> None:
        if self.closed:
            return
        self.embedding_text.setText(stage)  # "embedding 3,200 of 16,000 texts, about 3 min left"
        self.embedding_bar.setValue(int(1000 * fraction))
        self.embedding_text.setVisible(True)
        self.embedding_bar.setVisible(True)

    def _embedding_done(self, count: int) -> None:
        if self.closed:
            return
        if count:
            self.statusBar().showMessage(f"Embeddings ready ({count:,} texts): the model "
                                         "retrains on them now", 8000)
            self.request_round()  # the model catches up

    def _embedding_failed(self, error: BaseException) -> None:
        if self.closed:
            return
        line = self._failure_line(error)
        if getattr(self, "_embedding_warned", False):  # once a window: rounds retry it
            self.statusBar().showMessage(f"Computing the embeddings failed again: {line}", 8000)
            return
        self._embedding_warned = True
        QMessageBox.warning(self, "Computing the embeddings failed",
                            literal(line + "\nRounds go on with TF-IDF features; the next "
                                    "round tries the embeddings again."))

    def _encoder_done(self, count: int) -> None:  # issue 17
        if self.closed:
            return
        self.statusBar().showMessage(
            f"Fine-tuned encoder in use ({count:,} texts embedded): the model retrains on it now"
            if count else "Encoder fine-tuned, but it did not help the held-out labels enough: "
            "kept the current one", 8000)
        if count:
            self.request_round()

    def _encoder_failed(self, error: BaseException) -> None:  # issue 17
        if self.closed:
            return
        self.statusBar().showMessage(
            f"Fine-tuning the encoder failed: {self._failure_line(error)}", 15000)

    def _embedding_idle(self) -> None:
        if self.closed:
            return
        if not self.embedding.busy and not self.encoder.busy:
            self.embedding_text.setVisible(False)
            self.embedding_bar.setVisible(False)

    # -- the annotator, the status bar and the side panel ------------------------------------------

    def _status_bar(self) -> None:
        bar = self.statusBar()
        self.embedding_text = plain_label()
        self.embedding_text.setToolTip("Until the embeddings are ready, rounds use TF-IDF "
                                       "features (the first batch is random)")
        self.embedding_bar = QProgressBar()
        self.embedding_bar.setRange(0, 1000)
        self.embedding_bar.setMaximumWidth(160)
        self.embedding_bar.setTextVisible(False)
        for widget in (self.embedding_text, self.embedding_bar):
            widget.setVisible(False)
            bar.addPermanentWidget(widget)
        # issue 20: who else labels a server project ("Also labeling: Ana (2 min ago), ...")
        self.presence_label = plain_label()
        self.presence_label.setToolTip("Others connected to this project in the last two "
                                       "minutes, and what they do")
        self.presence_label.setContentsMargins(0, 0, 16, 0)  # apart from "Labeling as"
        self.presence_label.setVisible(False)
        bar.addPermanentWidget(self.presence_label)
        self.presence_timer = QTimer(self)
        self.presence_timer.setInterval(15_000)
        self.presence_timer.timeout.connect(self.show_presence)
        if self.session.presence is not None:
            self.presence_timer.start()
            QTimer.singleShot(1_000, self.show_presence)  # once this session's row is in
        self.annotator_label = plain_label()
        bar.addPermanentWidget(self.annotator_label)
        self._show_annotator()

    def show_presence(self) -> None:
        heartbeat = self.session.presence
        if self.closed or heartbeat is None:
            return
        try:
            line = heartbeat.line()
        except Exception as e:  # a lost network: the next tick tries again
            line = ""
            self.statusBar().showMessage(f"Who else is labeling is not known now: "
                                         f"{one_line(str(e))}", 5000)
        self.presence_label.setText(line)
        self.presence_label.setVisible(bool(line))

    def _show_annotator(self) -> None:
        text = f"Labeling as {self.session.annotator}"
        shown = self.annotator_label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight,
                                                              260)  # a long name: cut, not wide
        self.annotator_label.setText(shown)
        self.annotator_label.setToolTip(("" if shown == text else literal(text) + "\n")
                                        + "Recorded with every label; Edit › Set your name… "
                                        "changes it")

    def _name_offered(self, keep: bool) -> None:
        """The first open's banner answered: "Keep" remembers the name shown (the login),
        "Set your name…" asks for another. Either way it is not offered again."""
        self.ask_name_first = False
        self.view.offer_name(False)
        if keep:
            self.set_annotator(self.session.annotator)
        else:
            self.ask_name()

    def ask_name(self, then: Callable[[], object] | None = None) -> None:
        """Ask the annotator's name (the name so far, at first the login, filled in);
        window-modal, not blocking. Cancel keeps the name as it is."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Your name")
        dialog.setLabelText("The name recorded with every label you make in this project "
                            "(remembered on this computer):")
        dialog.setTextValue(self.session.annotator)
        dialog.finished.connect(lambda result: self._name_chosen(dialog, result, then))
        self.name_dialog = dialog
        dialog.open()

    def _name_chosen(self, dialog: QInputDialog, result: int,
                     then: Callable[[], object] | None) -> None:
        if self.closed:
            return
        typed = dialog.textValue() if result else ""
        self.set_annotator(typed if typed.strip() else self.session.annotator)
        if then is not None:
            then()

    def set_annotator(self, name: str) -> None:
        """Label as ``name`` from now on, in this project (remembered in the preferences)."""
        try:
            name = self.session.set_annotator(name)
        except AlappError as e:
            self.statusBar().showMessage(str(e), 4000)
            return
        preferences.set_annotator(self.session.path, name)
        self.ask_name_first = False
        self.view.offer_name(False)
        self._show_annotator()
        self.history_index = None  # the history is the annotator's own
        self.refresh()

    def show_side_panel(self, shown: bool) -> None:
        """The View menu's toggle (F9); the panel can also be dragged shut."""
        self.side_panel_action.blockSignals(True)
        self.side_panel_action.setChecked(shown)
        self.side_panel_action.blockSignals(False)
        self.panel.setVisible(shown)
        if shown and self.splitter.isVisible() and self.splitter.sizes()[1] == 0:
            width = max(self.splitter.width(), 2)
            self.splitter.setSizes([width * 3 // 5, width * 2 // 5])
        preferences.set_side_panel_shown(shown)

    def _panel_toggled_by_drag(self) -> None:
        shown = self.splitter.sizes()[1] > 0
        if shown != self.side_panel_action.isChecked():
            self.side_panel_action.blockSignals(True)
            self.side_panel_action.setChecked(shown)
            self.side_panel_action.blockSignals(False)
            preferences.set_side_panel_shown(shown)

    # -- dialogs -------------------------------------------------------------------------------

    def start_test_set(self, size: int | None = None) -> None:
        if not self._writable():
            return
        if size is None:
            status = self.session.test_set_status()
            size, ok = QInputDialog.getInt(
                self, "Held-out test set",
                "Label random items first, kept out of training, so the learning curve and "
                f"the stopping signals are honest ({status['labeled']} labeled so far).\n"
                "How many?", TEST_SET_SIZE, 1, 5000)
            if not ok:
                return
        self.session.start_test_set(size)
        self.view.offer_test_set(False)
        self.refresh()

    def extend_budget(self) -> None:
        """Ask for a new budget amount (window-modal, not blocking); saved through the
        session's writer like any settings change, and labeling goes on if it is enough."""
        if not self._writable():
            return
        s, numbers = self.session.settings(), self.session.budget()
        self.budget_window = budget_dialog(self, s.budget_unit, s.budget_amount,
                                           numbers["spent"], s.currency)
        self.budget_window.finished.connect(self._budget_chosen)
        self.budget_window.open()

    def _budget_chosen(self, result: int) -> None:
        if self.closed or not result:
            return
        try:
            self.session.extend_budget(self.budget_window.doubleValue())
        except AlappError as e:
            QMessageBox.warning(self, "Budget not changed", literal(str(e)))
            return
        self.statusBar().showMessage("Budget extended; labeling goes on", 5000)
        self.refresh()

    def import_dialog(self) -> None:
        """Window-modal and not blocking: labeling waits, background work goes on."""
        from alapp.ui.import_wizard import ImportWizard

        if not self._writable():
            return
        self.work.cancel()
        self.embedding.cancel()  # the round after the import starts it again for every item
        self.importing = True
        with self._building():
            self.wizard = ImportWizard(self.session, self)
        self.wizard.finished.connect(self._import_finished)
        self.wizard.work.failed.connect(self._log_failure)
        self.wizard.open()

    def _show_descriptions(self) -> None:
        show = getattr(self.view, "show_descriptions", None)  # views with label buttons
        if show is not None:
            show(self.session.label_descriptions())

    def _import_finished(self, result: int) -> None:
        self.importing = False
        if result and self.wizard.report is not None:
            self.statusBar().showMessage(self.wizard.message.text(), 8000)
            self.view.set_labels(self.session.labels(), self.multi_label)
            self._show_descriptions()
            self.bind_shortcuts()
            self.view.offer_test_set(self.session.offers_test_set())
        self.request_round()
        self.refresh()

    def browse(self) -> None:
        from alapp.ui.browse_dialog import BrowseDialog

        with self._building():
            self.browser = BrowseDialog(self.session, self)
        self.browser.relabeled.connect(self.refresh)
        for button in self.browser.relabel_buttons if self.read_only else []:
            button.setEnabled(False)
            button.setToolTip(f"Read-only: {self.read_only}")
        self.browser.show()

    # -- the team (issue 19) ---------------------------------------------------------------------

    def team_view(self) -> None:
        from alapp.ui.team_dialogs import TeamDialog

        with self._building():
            self.team_window = TeamDialog(self.session, self)
        self.team_window.review_requested.connect(self.review_dialog)
        self.team_window.rule_changed.connect(self._training_labels_changed)
        self.team_window.show()

    def review_dialog(self) -> None:
        from alapp.ui.team_dialogs import ReviewDialog

        with self._building():
            self.review_window = ReviewDialog(self.session, self)
        self.review_window.decided.connect(self._training_labels_changed)
        self.review_window.show()

    def _training_labels_changed(self) -> None:
        """A decision or a new rule changed training labels: the next round uses them."""
        self.statusBar().showMessage("Training labels changed; the next round uses them", 4000)
        self.refresh()

    def settings_dialog(self) -> None:
        from alapp.ui.settings_dialog import SettingsDialog

        with self._building():
            described = self.session.label_descriptions()  # issue 19: edited there
            self.settings_window = SettingsDialog(self.session.settings(),
                                                  self.session.imported_vector_names(), self,
                                                  meta_keys=self.session.meta_keys(),
                                                  labels=[(name, described.get(name, ""))
                                                          for name in self.session.labels()],
                                                  server=self._server_host())
        self.settings_window.accepted.connect(self._settings_changed)
        self.settings_window.compare_requested.connect(self.compare_strategies)
        buttons = self.settings_window.findChild(QDialogButtonBox)
        save = buttons.button(QDialogButtonBox.StandardButton.Ok) if buttons else None
        if self.read_only and save is not None:  # shown, not saved
            save.setEnabled(False)
            save.setToolTip(f"Read-only: {self.read_only}")
        self.settings_window.open()

    def _server_host(self) -> str:
        """The server's host when the project is on one (issue 20), else ""."""
        place = self.session.path
        return place.host if isinstance(place, ServerAddress) else ""

    def _settings_changed(self) -> None:
        self.bind_shortcuts()
        described = self.settings_window.description_changes  # issue 19
        if described and self._writable():
            try:  # the dialog checked them; the session checks again before writing
                self.session.describe_labels(described)
                self.statusBar().showMessage("Label descriptions saved", 5000)
            except AlappError as e:
                QMessageBox.warning(self, "Descriptions not saved", literal(str(e)))
                described = {}
            self._show_descriptions()
        if self.settings_window.changes and self._writable():
            if "featurizer" in self.settings_window.changes:
                self.embedding.cancel()  # the next round asks for the new featurizer's
            self.session.update_settings(**self.settings_window.changes)
            self.timer.idle_cutoff = self.session.settings().idle_cutoff_s
            self.statusBar().showMessage("Settings saved; the next round uses them", 5000)
        if (set(self.settings_window.changes) - {"guidelines"} or described) \
                and self._writable():  # guidelines alone change no model
            self.request_round()
        if self.guidelines_window is not None:
            self.guidelines_window.show_guidelines(self.session.settings().guidelines)
        self.refresh()

    def show_guidelines(self) -> None:
        """The team's guidelines beside the window, not modal (F1; issue 19)."""
        if self.guidelines_window is None:
            self.guidelines_window = GuidelinesDialog(self)
        self.guidelines_window.show_guidelines(self.session.settings().guidelines)
        self.guidelines_window.show()
        self.guidelines_window.raise_()
        self.guidelines_window.activateWindow()

    def compare_on_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "A labeled file (text and label columns)", str(Path.home()),
            "Text data (*.csv *.tsv *.jsonl *.json *.txt);;All files (*)")
        if chosen:
            self.compare_strategies(Path(chosen))

    def compare_strategies(self, labeled_file: Path | None = None) -> None:
        from alapp.ui.simulation_dialog import SimulationDialog

        self.simulation = SimulationDialog(self.session.path, self, labeled_file)
        self.simulation.use_strategy.connect(self._use_strategy)
        self.simulation.show()

    def _use_strategy(self, name: str) -> None:
        if not self._writable():
            return
        self.session.update_settings(strategy=name)
        self.statusBar().showMessage(f"Next batches are chosen by {name}", 5000)
        self.request_round()

    def open_dialog(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a project", str(Path.home()),
                                                "alapp projects (*.alapp);;All files (*)")
        if chosen:
            self.open_requested.emit(Path(chosen))

    def server_dialog(self) -> None:
        from alapp.ui.server_dialog import ask_server_address

        address = ask_server_address(self)
        if address is not None:
            self.open_requested.emit(address)

    def export_dialog(self) -> None:
        out, _ = QFileDialog.getSaveFileName(self, "Export labels", str(Path.home()),
                                             "JSONL (*.jsonl);;CSV (*.csv)")
        if out:
            self.export_to(Path(out))

    def export_to(self, out: Path) -> int | None:
        try:
            # The dialog already asked whether to replace an existing file.
            count = self.session.export_labels(out, overwrite=True)
        except AlappError as e:
            QMessageBox.warning(self, "Export failed", literal(str(e)))
            return None
        self.statusBar().showMessage(f"Exported {count} labels to {out}", 5000)
        return count

    def export_model_dialog(self) -> None:
        out = QFileDialog.getExistingDirectory(self, "Export the current model to a new folder")
        if not out:
            return
        try:
            info = self.session.export_model(Path(out) / "alapp-model")
        except AlappError as e:
            QMessageBox.warning(self, "Export failed", literal(str(e)))
            return
        self.statusBar().showMessage(f"Model exported: {info}", 8000)

    # -- read-only ----------------------------------------------------------------------------

    def _with_read_only_banner(self, body: QWidget) -> QWidget:
        """The window's body; read-only, with a banner on top saying why and a way out."""
        if not self.read_only:
            return body
        self.read_only_banner = QFrame()
        self.read_only_banner.setObjectName("banner")
        self.read_only_banner.setStyleSheet(BANNER_STYLE)
        row = QHBoxLayout(self.read_only_banner)
        self.read_only_text = plain_label(f"Read-only: {self.read_only}. Browse, statistics, "
                                          "export and strategy comparison work; labeling, "
                                          "import, settings and training are off.")
        self.read_only_text.setWordWrap(True)
        row.addWidget(self.read_only_text, 1)
        self.try_writable = QPushButton("Try again writable")
        self.try_writable.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.try_writable.clicked.connect(lambda: self.open_requested.emit(self.session.path))
        row.addWidget(self.try_writable)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.read_only_banner)
        layout.addWidget(body, 1)
        return page

    def _disable_writes(self) -> None:
        for text in ("&Import items…", "Label a held-out &test set…", "&Retrain now",
                     "&Cancel training"):
            if text in self.menu_actions:
                self.menu_actions[text].setEnabled(False)
        self.panel.retrain.setEnabled(False)
        self.panel.retrain.setToolTip(f"Read-only: {self.read_only}")
        self.view.offer_test_set(False)

    def _disable_label_buttons(self) -> None:
        """Read-only: the label buttons show the labels and take no clicks."""
        for button in self.view.buttons.values() if self.read_only else []:
            button.setEnabled(False)

    def _writable(self) -> bool:
        """False, with a word in the status bar, when the project is open read-only."""
        if self.read_only:
            self.statusBar().showMessage(
                f"Read-only: {self.read_only}. Nothing was changed.", 4000)
        return not self.read_only

    # -- activity and closing ------------------------------------------------------------------

    def _warm_settings_dialog(self) -> None:
        """Build and drop one Settings dialog before the window shows: the first instance of
        its widget kinds costs Qt about 25 ms of one-time setup, which was half of the first
        open's stall (bench/bench_gui.py); paid here, while nothing is on screen yet."""
        from alapp.ui.settings_dialog import SettingsDialog

        SettingsDialog(self.session.settings(), [], self).deleteLater()

    @contextmanager
    def _building(self) -> Iterator[None]:
        """A dialog under construction posts thousands of events (child added, polish,
        layout), none of them the user's; the app-wide activity filter below would run
        Python for each (about 10 ms for Settings), so it steps aside meanwhile."""
        app = QApplication.instance()
        assert app is not None
        app.removeEventFilter(self)
        try:
            yield
        finally:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove,
                    QEvent.Type.Wheel):
            self.timer.activity()
        elif kind == QEvent.Type.ApplicationDeactivate:
            self.timer.pause()
        elif kind == QEvent.Type.ApplicationActivate:
            self.timer.resume()
        return False

    def closeEvent(self, event: QCloseEvent) -> None:
        preferences.store().setValue("window/geometry", self.saveGeometry())
        if self.ask_name_first:  # offered once: the name labeled under is kept
            preferences.set_annotator(self.session.path, self.session.annotator)
        QApplication.instance().removeEventFilter(self)  # type: ignore[union-attr]
        self.closed = True  # results already queued to this thread are dropped
        self.presence_timer.stop()
        self.work.blockSignals(True)  # and nothing more is emitted
        self.embedding.blockSignals(True)
        self.encoder.blockSignals(True)
        self.work.close()
        self.embedding.close()
        self.encoder.close()
        for dialog in (getattr(self, "team_window", None), getattr(self, "review_window", None)):
            if dialog is not None:  # issue 19: their background reads end before the session
                dialog.work.blockSignals(True)
                dialog.work.close()
        self.session.close()
        event.accept()
