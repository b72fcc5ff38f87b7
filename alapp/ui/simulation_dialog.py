"""Compare strategies on the project's labeled items, in the background, and show the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Signal
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import QDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from alapp.app.plot_svg import learning_curves_svg
from alapp.app.simulate_file import simulate_file, simulate_project
from alapp.core.progress import Progress
from alapp.loop.simulate import SimulationConfig
from alapp.store.importer import ImportSpec
from alapp.store.project import Project
from alapp.ui.background import Background

STRATEGIES = ["random", "margin", "entropy", "uncertainty-cluster"]
FILE_BUDGET = 300  # labels replayed from a file: enough to see the curves separate


def _embedding_featurizer(name: str) -> str:
    """Simulation replays on embeddings; TF-IDF and imported vectors fall back to auto."""
    return "auto" if name == "tfidf" or name.startswith("vectors:") else name


class SimulationDialog(QDialog):
    use_strategy = Signal(str)

    def __init__(self, project_path: Path, parent: QWidget | None = None,
                 labeled_file: Path | None = None) -> None:
        """On the project's labeled items, or on a labeled file (text and label columns)."""
        super().__init__(parent)
        self.setWindowTitle("Compare strategies on your labels")
        self.resize(820, 560)
        source = labeled_file.name if labeled_file else "the labeled items"
        self.status = QLabel(f"Replaying the loop on {source} (5 seeds)…")
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
        path = project_path

        def work(progress: Progress) -> dict[str, Any]:
            def step(fraction: float, what: str) -> None:
                progress.report(what, fraction)  # raises Cancelled when the dialog closes

            if labeled_file is not None:
                with Project.open(path, read_only=True, take_lock=False) as project:
                    featurizer = _embedding_featurizer(project.settings().featurizer)
                cfg = SimulationConfig(STRATEGIES, batch=10, budget=FILE_BUDGET, seeds=5)
                return simulate_file(labeled_file, ImportSpec(), cfg, featurizer, None, 0, 0,
                                     step)
            with Project.open(path, read_only=True) as project:
                n = len(project.current_labels())
                budget = max(20, int(n * 0.8) // 10 * 10)
                cfg = SimulationConfig(STRATEGIES, batch=10, budget=budget, seeds=5)
                featurizer = _embedding_featurizer(project.settings().featurizer)
                return simulate_project(project, cfg, featurizer, n // 5, 0, step)

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
            f"Recommended: <b>{result['recommendation_detail']['text']}</b>. Largest area under "
            f"the learning curve, replaying the loop on {result['data']['pool']} labeled items "
            f"and testing on {result['data']['test']}.")
        self.recommended = best
        self.use.setEnabled(True)

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)
