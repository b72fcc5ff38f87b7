"""Compare strategies on the project's labeled items, in the background, and show the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Signal
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import QDialog, QProgressBar, QPushButton, QVBoxLayout, QWidget

from alapp.app.compare import SimulationConfig, compare_strategies
from alapp.app.plot_svg import learning_curves_svg
from alapp.core.progress import Progress
from alapp.ui.background import Background
from alapp.ui.label_view import plain_label


class SimulationDialog(QDialog):
    use_strategy = Signal(str)

    def __init__(self, project_path: Path, parent: QWidget | None = None,
                 labeled_file: Path | None = None,
                 config: SimulationConfig | None = None) -> None:
        """On the project's labeled items, or on a labeled file (text and label columns).
        ``config`` replaces the defaults (five seeds of four strategies)."""
        super().__init__(parent)
        self.setWindowTitle("Compare strategies on your labels")
        self.resize(820, 560)
        source = labeled_file.name if labeled_file else "the labeled items"
        seeds = config.seeds if config else 5
        self.status = plain_label(f"Replaying the loop on {source} ({seeds} seeds)…")
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.chart = QSvgWidget()
        self.chart.setMinimumHeight(440)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        self.use = QPushButton("Use the recommended strategy")
        self.use.setEnabled(False)
        self.recommended = ""
        self.use.clicked.connect(lambda: self.use_strategy.emit(self.recommended))
        layout = QVBoxLayout(self)
        for widget in (self.status, self.bar, self.chart, self.use, close):
            layout.addWidget(widget)
        self.work = Background("alapp-simulation", self)
        self.work.done.connect(self._show)
        self.work.failed.connect(lambda e: self.status.setText(
            f"Could not simulate: {e}. A labeled file needs \"text\" and \"label\" columns."
            if labeled_file else f"Could not simulate: {e}"))
        self.work.progress.connect(self._progress)
        def work(progress: Progress) -> dict[str, Any]:
            return compare_strategies(project_path, labeled_file, config, progress)

        self.work.submit(work)

    def _progress(self, what: str, fraction: float) -> None:
        self.bar.setValue(int(100 * fraction))
        self.bar.setFormat(f"%p%  {what}")

    def _show(self, result: dict[str, Any]) -> None:
        self.bar.setValue(100)
        self.bar.setFormat("%p%")
        self.chart.load(QByteArray(learning_curves_svg(result, "Your labels").encode("utf-8")))
        best = result["recommendation"]
        self.status.setText(
            f"Recommended: {result['recommendation_detail']['text']}. Largest area under "
            f"the learning curve, replaying the loop on {result['data']['pool']} labeled items "
            f"and testing on {result['data']['test']}.")
        self.recommended = best
        self.use.setEnabled(True)

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)
