"""Compare strategies on the project's labeled items, in the background, and show the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Signal
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from alapp.app.compare import (
    Replay,
    SimulationConfig,
    compare_strategies,
    comparison_svg,
    describe_replay,
)
from alapp.core.errors import AlappError
from alapp.core.progress import Progress
from alapp.ui.background import Background
from alapp.ui.label_view import plain_label

FILE_FILTER = "Text data (*.csv *.tsv *.jsonl *.json *.txt);;All files (*)"


class SimulationDialog(QDialog):
    use_strategy = Signal(str)

    def __init__(self, project_path: Path, parent: QWidget | None = None,
                 labeled_file: Path | None = None,
                 config: SimulationConfig | None = None) -> None:
        """On the project's labeled items, or on a labeled file (text and label columns).
        ``config`` replaces the defaults (five seeds of four strategies)."""
        super().__init__(parent)
        self.project_path = project_path
        self.labeled_file = labeled_file
        self.config = config
        self.setWindowTitle("Compare strategies on a labeled file" if labeled_file
                            else "Compare strategies on your labels")
        self.resize(820, 640)
        # What the replay rests on is counted in the background too: on a large project the
        # counts took longer than a frame on the GUI thread.
        self.replay: Replay | None = None
        seeds = config.seeds if config else 5
        self.explain = plain_label("Counting what the replay rests on…")
        self.explain.setWordWrap(True)
        self.status = plain_label(f"Replaying ({seeds} seeds per strategy)…")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.chart = QSvgWidget()
        self.chart.setMinimumHeight(400)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        self.use = QPushButton("Use the recommended strategy")
        self.use.setEnabled(False)
        self.recommended = ""
        self.use.clicked.connect(lambda: self.use_strategy.emit(self.recommended))
        self.on_file = QPushButton("Compare on a labeled file instead (unbiased)…")
        self.on_file.setToolTip("A file with text and label columns whose items were not "
                                "chosen by active learning, e.g. a random sample you labeled")
        self.on_file.clicked.connect(self.choose_file)
        self.on_file.setVisible(labeled_file is None)
        self.file_comparison: SimulationDialog | None = None
        buttons = QHBoxLayout()
        buttons.addWidget(self.use)
        buttons.addWidget(self.on_file)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        for widget in (self.explain, self.status, self.bar, self.chart):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self.work = Background("alapp-simulation", self)
        self.work.done.connect(self._finished)
        self.work.failed.connect(lambda e: self.status.setText(
            f"Could not simulate: {e}. A labeled file needs \"text\" and \"label\" columns."
            if labeled_file else f"Could not simulate: {e}"))
        self.work.progress.connect(self._progress)

        def describe(_: Progress) -> Replay | None:
            try:
                return describe_replay(project_path, labeled_file)
            except AlappError:
                return None  # the simulation's own failure says what is wrong

        self.work.submit(describe)

    def _finished(self, result: Any) -> None:
        """First the description of the replay, then the simulation (one job at a time)."""
        if result is None or isinstance(result, Replay):
            self.replay = result
            self.explain.setText("" if result is None else
                                 "\n".join(t for t in (result.what, result.bias) if t))
            project_path, labeled_file, config = (self.project_path, self.labeled_file,
                                                  self.config)

            def simulate(progress: Progress) -> dict[str, Any]:
                return compare_strategies(project_path, labeled_file, config, progress)

            self.work.submit(simulate)
        else:
            self._show(result)

    def choose_file(self) -> None:
        """The unbiased option: the same comparison on a labeled file."""
        chosen, _ = QFileDialog.getOpenFileName(
            self, "A labeled file (text and label columns)", str(Path.home()), FILE_FILTER)
        if chosen:
            self.open_file_comparison(Path(chosen))

    def open_file_comparison(self, path: Path) -> SimulationDialog:
        dialog = SimulationDialog(self.project_path, self.parentWidget(), path, self.config)
        dialog.use_strategy.connect(self.use_strategy.emit)
        self.file_comparison = dialog
        dialog.show()
        return dialog

    def _progress(self, what: str, fraction: float) -> None:
        self.bar.setValue(int(100 * fraction))
        self.bar.setFormat(f"%p%  {what}")

    def _show(self, result: dict[str, Any]) -> None:
        self.bar.setValue(100)
        self.bar.setFormat("%p%")
        title = self.labeled_file.name if self.labeled_file else "Your labels"
        replay = self.replay or Replay("", "", False, 0, "full pool")
        self.chart.load(QByteArray(comparison_svg(result, title, replay).encode("utf-8")))
        best = result["recommendation"]
        data = result["data"]
        on = (f"{data['pool']} rows of {self.labeled_file.name}" if self.labeled_file
              else f"the {data['pool']} labeled items (not the full pool)")
        self.status.setText(
            f"Recommended: {result['recommendation_detail']['text']}. Largest area under "
            f"the learning curve, replaying the loop on {on} and testing on {data['test']}."
            + (" Active learning chose many of these labels: see above before trusting it."
               if replay.biased else ""))
        self.recommended = best
        self.use.setEnabled(True)

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)
