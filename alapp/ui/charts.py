"""The learning curve (a real, zoomable chart) and the confusion matrix."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from alapp.ui.label_view import literal

pg.setConfigOptions(antialias=True, background="w", foreground="k")


class LearningCurve(pg.PlotWidget):  # type: ignore[misc]
    """Test accuracy against labels, with the random-share baseline: the same model trained
    on the batches' random share alone, i.e. what random sampling buys with that many labels."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(180)
        self.setLabel("bottom", "labels")
        self.setLabel("left", "test accuracy")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setYRange(0, 1)
        self.addLegend(offset=(-10, -10))  # bottom right: the curves rise away from it
        self.model_line = self.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o",
                                    symbolSize=5, name="active learning")
        self.baseline_line = self.plot([], [], pen=pg.mkPen("#999999", width=2,
                                                            style=pg.QtCore.Qt.PenStyle.DashLine),
                                       symbol="t", symbolSize=5, name="random share only")
        self.f1_line = self.plot([], [], pen=pg.mkPen("#ff7f0e", width=1), name="macro-F1")

    def show_history(self, history: list[tuple[int, dict[str, Any]]]) -> None:
        points = [(n, m) for n, m in history if "accuracy" in m]
        self.model_line.setData([n for n, _ in points], [m["accuracy"] for _, m in points])
        self.f1_line.setData([n for n, _ in points], [m["macro_f1"] for _, m in points])
        base = [(m["random_baseline_labels"], m["random_baseline_accuracy"])
                for _, m in points if "random_baseline_accuracy" in m]
        self.baseline_line.setData([n for n, _ in base], [a for _, a in base])


class ConfusionTable(QTableWidget):
    """Rows: the true label on the test set; columns: the prediction. Shaded by row share."""

    def show_confusion(self, confusion: dict[str, Any] | None) -> None:
        self.clear()
        if not confusion:
            self.setRowCount(0)
            self.setColumnCount(0)
            return
        labels, matrix = confusion["labels"], confusion["matrix"]
        self.setRowCount(len(labels))
        self.setColumnCount(len(labels))
        self.setHorizontalHeaderLabels(labels)
        self.setVerticalHeaderLabels(labels)
        self.setToolTip("Rows: the true label; columns: the model's prediction")
        for r, row in enumerate(matrix):
            total = max(sum(row), 1)
            for c, count in enumerate(row):
                cell = QTableWidgetItem(str(count))
                share = count / total
                good = r == c
                cell.setBackground(QColor.fromHsvF(0.33 if good else 0.0, 0.6 * share, 1.0))
                cell.setToolTip(literal(f"true {labels[r]}, predicted {labels[c]}: {count} "
                                        f"({share:.0%} of {labels[r]})"))
                self.setItem(r, c, cell)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
