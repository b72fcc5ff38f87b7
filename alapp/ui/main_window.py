"""The labeling window: glue between the session, the background rounds and the widgets."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
)

from alapp.core.errors import AlappError
from alapp.core.timing import ActiveTimer
from alapp.engine.jobs import CoalescingRunner
from alapp.engine.progress import Progress
from alapp.engine.round import RoundResult, RoundRunner, Snapshot
from alapp.engine.session import LabelingSession, QueueEntry
from alapp.store.export import export_labels
from alapp.store.project import Project
from alapp.ui.label_view import LabelView
from alapp.ui.side_panel import SidePanel


class _Bridge(QObject):
    """Carries worker-thread callbacks to the GUI thread (signals queue across threads)."""

    done = Signal(object)
    failed = Signal(object)
    progress = Signal(str, float)


class MainWindow(QMainWindow):
    def __init__(self, project_path: Path, annotator: str | None = None) -> None:
        super().__init__()
        self.project = Project.open(project_path)
        self.session = LabelingSession(self.project, annotator or getpass.getuser())
        settings = self.project.settings()
        self.timer = ActiveTimer(settings.idle_cutoff_s)
        self.entry: QueueEntry | None = None
        self.rounds = RoundRunner()  # used by one background round at a time

        self.bridge = _Bridge()
        self.bridge.done.connect(self._round_done)
        self.bridge.failed.connect(self._round_failed)
        self.bridge.progress.connect(self._round_progress)
        self.runner = CoalescingRunner(self.bridge.done.emit, self.bridge.failed.emit,
                                       self.bridge.progress.emit, name="alapp-round")

        self.view = LabelView(self.project.labels())
        self.view.label_chosen.connect(self.label_current)
        self.panel = SidePanel()
        self.panel.retrain.clicked.connect(self.request_round)
        self.panel.cancel.clicked.connect(self.runner.cancel)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)
        self.setWindowTitle(f"alapp — {settings.name}")
        self.resize(1200, 760)
        self._menus()
        self._shortcuts()
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        self.refresh()
        self.request_round()

    # -- keyboard and menus ------------------------------------------------------------------------

    def _shortcuts(self) -> None:
        bindings: list[tuple[str, Callable[[], None]]] = [
            (str(i + 1), lambda n=name: self.label_current(n))  # type: ignore[misc]
            for i, name in enumerate(self.project.labels()[:9])]
        bindings += [("Return", self.accept_prediction), ("Enter", self.accept_prediction),
                     ("Backspace", self.undo), ("Ctrl+Z", self.undo), ("S", self.skip),
                     ("F", self.flag)]
        for keys, slot in bindings:
            QShortcut(QKeySequence(keys), self).activated.connect(slot)

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        export = QAction("&Export labels…", self)
        export.triggered.connect(self.export_dialog)
        file_menu.addAction(export)
        close = QAction("&Quit", self)
        close.setShortcut(QKeySequence.StandardKey.Quit)
        close.triggered.connect(self.close)
        file_menu.addAction(close)
        model_menu = self.menuBar().addMenu("&Model")
        retrain = QAction("&Retrain now", self, shortcut=QKeySequence("Ctrl+R"))
        retrain.triggered.connect(self.request_round)
        model_menu.addAction(retrain)
        compare = QAction("&Compare strategies on my labels…", self)
        compare.triggered.connect(self.compare_strategies)
        model_menu.addAction(compare)

    def compare_strategies(self) -> None:
        from alapp.ui.simulation_dialog import SimulationDialog

        self.simulation = SimulationDialog(self.project.path, self)
        self.simulation.use_strategy.connect(self._use_strategy)
        self.simulation.show()

    def _use_strategy(self, name: str) -> None:
        self.project.update_settings(strategy=name)
        self.statusBar().showMessage(f"Next batches are chosen by {name}", 5000)
        self.request_round()

    # -- decisions -----------------------------------------------------------------------------

    def label_current(self, label: str) -> None:
        if self.entry is None:
            return
        self.session.label(self.entry, label, self.timer.stop_ms(), self.timer.started_wall)
        self._after_decision()

    def accept_prediction(self) -> None:
        if self.entry is not None and self.entry.predicted:
            self.label_current(self.entry.predicted[0])

    def skip(self) -> None:
        if self.entry is not None:
            self.session.skip(self.entry, self.timer.stop_ms(), self.timer.started_wall)
            self._after_decision()

    def flag(self) -> None:
        if self.entry is not None:
            self.session.flag(self.entry)
            self.statusBar().showMessage("Flagged for a second look", 3000)

    def undo(self) -> None:
        if self.session.undo() is None:
            self.statusBar().showMessage("Nothing to undo", 3000)
        self.refresh()

    def _after_decision(self) -> None:
        self.refresh()
        if self.session.retrain_due():
            self.request_round()

    # -- display -------------------------------------------------------------------------------

    def refresh(self) -> None:
        entries = self.session.queue()
        self.entry = entries[0] if entries else None
        self.view.show_entry(self.entry)
        if self.entry is not None:
            self.timer.start()
        self.panel.show_batch(entries)
        self.panel.show_history(self.session.history(15))
        numbers = self.session.budget()
        self.panel.show_budget(numbers, self.project.settings().budget_unit,
                               self.session.forecast(entries, numbers))

    # -- background rounds -------------------------------------------------------------------------

    def request_round(self) -> None:
        path = self.project.path

        def work(progress: Progress) -> RoundResult:
            return self.rounds.run(Snapshot.read(path), progress)

        self.runner.submit(work)
        self.panel.progress.setVisible(True)
        self.panel.cancel.setVisible(True)

    def _round_progress(self, stage: str, fraction: float) -> None:
        self.panel.progress.setValue(int(100 * fraction))
        self.panel.show_model(None, training=f"{stage}…")

    def _round_done(self, result: RoundResult) -> None:
        self.session.apply_round(result)
        self._round_finished()
        self.panel.show_model(result)
        self.refresh()

    def _round_failed(self, error: BaseException) -> None:
        self._round_finished()
        self.panel.show_model(self.session.last_result)
        QMessageBox.warning(self, "Training failed", f"{type(error).__name__}: {error}")

    def _round_finished(self) -> None:
        if not self.runner.busy:
            self.panel.progress.setVisible(False)
            self.panel.cancel.setVisible(False)

    # -- files ---------------------------------------------------------------------------------

    def export_dialog(self) -> None:
        out, _ = QFileDialog.getSaveFileName(self, "Export labels", str(Path.home()),
                                             "JSONL (*.jsonl);;CSV (*.csv)")
        if out:
            try:
                # The dialog already asked whether to replace an existing file.
                count = export_labels(self.project, out, overwrite=True)
                self.statusBar().showMessage(f"Exported {count} labels to {out}", 5000)
            except AlappError as e:
                QMessageBox.warning(self, "Export failed", str(e))

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
        QApplication.instance().removeEventFilter(self)  # type: ignore[union-attr]
        self.runner.close()
        self.project.close()
        event.accept()

