"""The labeling window: glue between the session, the background rounds and the widgets."""

from __future__ import annotations

import gc
import getpass
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
)

from alapp.app.rounds import RoundJob
from alapp.app.session import Decision, LabelingSession, QueueEntry, RoundResult
from alapp.core.errors import AlappError
from alapp.core.options import TaskKind
from alapp.core.timing import ActiveTimer
from alapp.core.types import join_labels
from alapp.ui import preferences
from alapp.ui.background import Background
from alapp.ui.label_view import LabelView, cost_accuracy, literal
from alapp.ui.side_panel import SidePanel

TEST_SET_SIZE = 50
# The view that labels one item, per task kind (the span-labeling issue adds its own).
LABEL_VIEWS = {TaskKind.CLASSIFICATION: LabelView}


class MainWindow(QMainWindow):
    open_requested = Signal(object)  # a Path, or None for the start screen

    def __init__(self, project_path: Path, annotator: str | None = None) -> None:
        super().__init__()
        self.session = LabelingSession(project_path, annotator or getpass.getuser())
        settings = self.session.settings()
        self.multi_label = settings.multi_label
        self.timer = ActiveTimer(settings.idle_cutoff_s)
        self.entry: QueueEntry | None = None
        self.toggled: set[str] = set()  # multi-label: labels chosen for the current item
        self.history_index: int | None = None  # None: the queue; k: the k-th latest decision
        self.decisions: list[Decision] = []
        self.importing = False
        self.closed = False
        self.round_job = RoundJob(self.session)  # keeps the model warm between rounds

        self.work = Background("alapp-round", self)
        self.work.done.connect(self._round_done)
        self.work.failed.connect(self._round_failed)
        self.work.progress.connect(self._round_progress)
        self.work.idle.connect(self._round_finished)

        self.view = LABEL_VIEWS[TaskKind(settings.task)](self.session.labels(), self.multi_label)
        self.view.label_chosen.connect(self.press_label)
        self.view.test_set_start.clicked.connect(self.start_test_set)
        self.view.test_set_later.clicked.connect(lambda: self.view.offer_test_set(False))
        self.panel = SidePanel()
        self.panel.retrain.clicked.connect(self.request_round)
        self.panel.cancel.clicked.connect(self.work.cancel)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.setCentralWidget(splitter)
        self.setWindowTitle(f"alapp — {settings.name}")
        self.resize(1280, 800)
        geometry = preferences.store().value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        self._menus()
        self.shortcuts: list[QShortcut] = []
        self.bind_shortcuts()
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        preferences.remember_project(self.session.path)
        self.refresh()
        counts = self.session.count_items()
        if not any(counts.values()):
            QTimer.singleShot(0, self.import_dialog)  # an empty project: start with its items
        else:
            self.view.offer_test_set(counts["test"] == 0)
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
                       leave_history=self.leave_history)
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

        add("&File", [("&New or open project…", lambda: self.open_requested.emit(None), ""),
                      ("Open &project…", self.open_dialog, "Ctrl+O"), None,
                      ("&Import items…", self.import_dialog, "Ctrl+I"),
                      ("&Export labels…", self.export_dialog, "Ctrl+E"),
                      ("Export &model…", self.export_model_dialog, ""), None,
                      ("&Quit", self.close, "Ctrl+Q")])
        add("&Edit", [("&Browse and search items…", self.browse, "Ctrl+F"),
                      ("Label a held-out &test set…", self.start_test_set, ""),
                      ("&Settings…", self.settings_dialog, "Ctrl+,")])
        add("&Model", [("&Retrain now", self.request_round, "Ctrl+R"),
                       ("&Cancel training", self.work.cancel, ""),
                       ("&Compare strategies on my labels…", self.compare_strategies, ""),
                       ("Compare strategies on a labeled &file…", self.compare_on_file, "")])

    # -- decisions -----------------------------------------------------------------------------

    def press_label(self, label: str) -> None:
        """A label key: relabels in history mode, toggles in multi-label, else labels."""
        if self.history_index is not None:
            self.relabel_history(label)
        elif self.multi_label:
            self.toggled ^= {label}
            self.view.show_toggled(self.toggled)
        else:
            self.label_current(label)

    def label_current(self, label: str) -> None:
        if self.entry is None:
            return
        self.session.label(self.entry, label, self.timer.stop_ms(), self.timer.started_wall)
        self._after_decision()

    def accept(self) -> None:
        """Enter: confirm the multi-label choice, or take the model's prediction."""
        if self.history_index is not None:
            return
        if self.multi_label and self.toggled:
            self.label_current(join_labels(self.toggled, self.session.labels()))
        elif self.entry is not None and self.entry.predicted:
            self.label_current(self.entry.predicted[0])

    def skip(self) -> None:
        if self.entry is not None and self.history_index is None:
            self.session.skip(self.entry, self.timer.stop_ms(), self.timer.started_wall)
            self._after_decision()

    def flag(self) -> None:
        if self.entry is not None and self.history_index is None:
            self.session.flag(self.entry)
            self.statusBar().showMessage("Flagged for a second look", 3000)

    def undo(self) -> None:
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
        self.decisions = self.session.history(50)
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
        self.view.show_decision(decision, self.history_index + 1)

    def relabel_history(self, label: str) -> None:
        assert self.history_index is not None
        decision = self.decisions[self.history_index]
        if self.multi_label:
            current = set((decision.label or "").split("|")) - {""}
            label = join_labels(current ^ {label}, self.session.labels()) or label
        self.session.relabel(decision.item_id, label)
        self.decisions = self.session.history(50)
        self.history_index = next((k for k, d in enumerate(self.decisions)
                                   if d.item_id == decision.item_id), 0)
        self._show_history()
        self.panel.show_history(self.decisions[:15])
        self.statusBar().showMessage(f"Changed to {label}", 3000)

    # -- display -------------------------------------------------------------------------------

    def refresh(self, restart_timer: bool = True) -> None:
        entries = self.session.queue()
        shown_before = self.entry.item_id if self.entry else None
        self.entry = entries[0] if entries else None
        self.session.showing = self.entry.item_id if self.entry else None
        same_item = self.entry is not None and self.entry.item_id == shown_before
        waiting = ("Training and choosing the next batch…" if self.work.busy
                   else "The batch is done. Press Ctrl+R to choose a new one.")
        cost = self.session.last_result.cost if self.session.last_result else None
        self.view.show_entry(self.entry, waiting, cost)
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
        left = self.session.labels_until_retrain()
        if left is None:
            return "Retrains when you press Ctrl+R (or the batch runs out)"
        return f"Retrains after {left} more label{'' if left == 1 else 's'}"

    # -- background rounds -------------------------------------------------------------------------

    def request_round(self) -> None:
        if self.importing:
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
        QMessageBox.warning(self, "Training failed", literal(f"{type(error).__name__}: {error}"))

    def _round_finished(self) -> None:
        if self.closed:  # a result queued before the window closed
            return
        if not self.work.busy:
            self.panel.progress.setVisible(False)
            self.panel.cancel.setVisible(False)
            self.panel.next_retrain.setText(self._next_retrain())

    # -- dialogs -------------------------------------------------------------------------------

    def start_test_set(self, size: int | None = None) -> None:
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

    def import_dialog(self) -> None:
        """Window-modal and not blocking: labeling waits, background work goes on."""
        from alapp.ui.import_wizard import ImportWizard

        self.work.cancel()
        self.importing = True
        self.wizard = ImportWizard(self.session, self)
        self.wizard.finished.connect(self._import_finished)
        self.wizard.open()

    def _import_finished(self, result: int) -> None:
        self.importing = False
        if result and self.wizard.report is not None:
            self.statusBar().showMessage(self.wizard.message.text(), 8000)
            self.view.set_labels(self.session.labels(), self.multi_label)
            self.bind_shortcuts()
            self.view.offer_test_set(self.session.count_items()["test"] == 0)
        self.request_round()
        self.refresh()

    def browse(self) -> None:
        from alapp.ui.browse_dialog import BrowseDialog

        self.browser = BrowseDialog(self.session, self)
        self.browser.relabeled.connect(self.refresh)
        self.browser.show()

    def settings_dialog(self) -> None:
        from alapp.ui.settings_dialog import SettingsDialog

        self.settings_window = SettingsDialog(self.session.settings(),
                                              self.session.imported_vector_names(), self)
        self.settings_window.accepted.connect(self._settings_changed)
        self.settings_window.compare_requested.connect(self.compare_strategies)
        self.settings_window.open()

    def _settings_changed(self) -> None:
        self.bind_shortcuts()
        if self.settings_window.changes:
            self.session.update_settings(**self.settings_window.changes)
            self.timer.idle_cutoff = self.session.settings().idle_cutoff_s
            self.statusBar().showMessage("Settings saved; the next round uses them", 5000)
            self.request_round()
        self.refresh()

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
        self.session.update_settings(strategy=name)
        self.statusBar().showMessage(f"Next batches are chosen by {name}", 5000)
        self.request_round()

    def open_dialog(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a project", str(Path.home()),
                                                "alapp projects (*.alapp);;All files (*)")
        if chosen:
            self.open_requested.emit(Path(chosen))

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

    # -- activity and closing ------------------------------------------------------------------

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
        QApplication.instance().removeEventFilter(self)  # type: ignore[union-attr]
        self.closed = True  # results already queued to this thread are dropped
        self.work.blockSignals(True)  # and nothing more is emitted
        self.work.close()
        self.session.close()
        event.accept()
