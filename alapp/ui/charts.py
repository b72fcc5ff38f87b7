"""The learning curve (a real, zoomable chart) and the confusion matrix.

pyqtgraph takes 0.3-0.5 s to import: the side panel imports this module with the window (before
it shows) and builds the charts in slices on the Model tab's first open, so opening it never
stalls the window.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QWidget

from alapp.ui.label_view import literal

pg.setConfigOptions(antialias=True, background="w", foreground="k")

MIN_BASELINE_POINTS = 2  # a baseline of one point is not a curve
ROW_HEIGHT = 17  # the confusion matrix's smallest row: one line of the table's font


class LearningCurve(pg.PlotWidget):  # type: ignore[misc]
    """Test accuracy against labels, with the random-share baseline: the same model trained
    on the batches' random share alone, i.e. what random sampling buys with that many labels.
    The key is a line of text under the chart (``key``, placed by the caller), never over the
    lines, however small the chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setLabel("bottom", "labels")
        self.setLabel("left", "accuracy")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setYRange(0, 1)
        self.model_line = self.plot([], [], pen=pg.mkPen("#1f77b4", width=2), symbol="o",
                                    symbolSize=5)
        self.baseline_line = self.plot([], [], pen=pg.mkPen("#999999", width=2,
                                                            style=pg.QtCore.Qt.PenStyle.DashLine),
                                       symbol="t", symbolSize=5)
        self.f1_line = self.plot([], [], pen=pg.mkPen("#ff7f0e", width=1))
        self.key = QLabel()  # fixed words and colours, no user data: rich text
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.key.setWordWrap(True)
        self.baseline_name = ""
        self._legend(0)

    def sizeHint(self) -> QSize:
        """Modest: in the model tab's scroll area the preferred heights add up, and a tall
        chart would push the confusion matrix out of view."""
        return QSize(320, 190)

    def _legend(self, baseline_points: int) -> None:
        name = ("random share" if baseline_points >= MIN_BASELINE_POINTS
                else "random share (too few labels yet)")
        if name == self.baseline_name:
            return
        self.baseline_name = name
        self.key.setText(
            '<span style="color:#1f77b4">━●</span> active learning &nbsp; '
            f'<span style="color:#999999">╍▼</span> {name} &nbsp; '
            '<span style="color:#ff7f0e">━</span> macro-F1')

    def show_history(self, history: list[tuple[int, dict[str, Any]]]) -> None:
        points = [(n, m) for n, m in history if "accuracy" in m]
        # multi-label (issue 21): the main line is micro-F1 (subset accuracy is too harsh)
        measure = "micro_f1" if any("micro_f1" in m for _, m in points) else "accuracy"
        points = [(n, m) for n, m in points if measure in m]
        self.setLabel("left", "micro-F1" if measure == "micro_f1" else "accuracy")
        self.model_line.setData([n for n, _ in points], [m[measure] for _, m in points])
        self.f1_line.setData([n for n, _ in points], [m["macro_f1"] for _, m in points])
        base = [(m["random_baseline_labels"], m[f"random_baseline_{measure}"])
                for _, m in points if f"random_baseline_{measure}" in m]
        shown = base if len(base) >= MIN_BASELINE_POINTS else []
        self.baseline_line.setData([n for n, _ in shown], [a for _, a in shown])
        self._legend(len(base))


# Multi-label columns, each header short enough for a quarter of the side panel and
# explained on hover; a row's true and false positives and negatives are in its tooltips
# (seven columns did not fit at 1366x768: "upport", "recisio").
PER_LABEL: dict[str, tuple[str, str]] = {
    "support": ("items", "support: test items that have the label"),
    "precision": ("prec.", "precision: of the items the model gave the label, the share that "
                           "have it (TP / (TP + FP))"),
    "recall": ("recall", "recall: of the items that have the label, the share the model found "
                         "(TP / (TP + FN))"),
    "f1": ("F1", "F1: the harmonic mean of precision and recall")}


class ConfusionTable(QTableWidget):
    """Rows: the true label on the test set; columns: the prediction. Every label of the
    project is a row and a column; cells show counts, shaded by their share of the row.

    Headers stay readable in a narrow side panel (1366x768): when the label names do not fit
    their columns, the columns are numbered and each row name carries its number ("1 Спорт");
    every header's tooltip (and ``Qt.UserRole``) holds the whole name."""

    caption = "no test-set predictions yet"
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []  # the confusion matrix's labels (rows and columns)
        self.numbered = False

    def sizeHint(self) -> QSize:
        return QSize(320, max(self.minimumHeight(), 60))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # long label names never squeeze the numbers: cut with "…" (whole on hover)
        self.verticalHeader().setMaximumWidth(max(60, int(self.width() * 0.45)))
        self._fit_headers()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_headers()

    def _fit_headers(self) -> None:
        """Names in the column headers when each fits its share of the width, else numbers."""
        if not self.names:
            return
        metrics = self.horizontalHeader().fontMetrics()
        room = (self.width() - self.verticalHeader().width() - 2 * self.frameWidth()) \
            / len(self.names)
        numbered = max(metrics.horizontalAdvance(n) for n in self.names) + 12 > room
        if numbered == self.numbered and self.horizontalHeaderItem(0) is not None:
            return
        self.numbered = numbered
        for i, name in enumerate(self.names):
            self.setHorizontalHeaderItem(i, _header(str(i + 1) if numbered else name, name,
                                                    f"predicted: {name}"))
            self.setVerticalHeaderItem(i, _header(f"{i + 1} {name}" if numbered else name, name,
                                                  f"true label: {name}"))

    def show_confusion(self, confusion: dict[str, Any] | None,
                       test_items: float | None = None) -> None:
        self.clear()
        if not confusion:
            self.setRowCount(0)
            self.setColumnCount(0)
            self.caption = "no test-set predictions yet"
            return
        labels, matrix = confusion["labels"], confusion["matrix"]
        total_items = sum(map(sum, matrix)) if test_items is None else int(test_items)
        self.caption = (f"{total_items} test item{'' if total_items == 1 else 's'}; rows: true "
                        "label")
        self.setRowCount(len(labels))
        self.setColumnCount(len(labels))
        self.names, self.numbered = list(labels), False
        if self.isVisible():  # else the first resize fits them, at the width they will have
            self._fit_headers()
        self.setToolTip("Rows: the true label; columns: the model's prediction; colour: the "
                        "cell's share of its row")
        for r, row in enumerate(matrix):
            total = sum(row)
            for c, count in enumerate(row):
                cell = QTableWidgetItem(str(count))
                share = count / total if total else 0.0
                good = r == c
                cell.setBackground(QColor.fromHsvF(0.33 if good else 0.0, 0.6 * share, 1.0))
                cell.setToolTip(literal(
                    f"true {labels[r]}, predicted {labels[c]}: {count} "
                    + (f"({share:.0%} of {labels[r]})" if total
                       else f"(no test item is {labels[r]})")))
                self.setItem(r, c, cell)
        # Every row and column in view, however many labels: the cells share the room, and
        # the table asks for the height its rows need.
        row = max(ROW_HEIGHT, self.fontMetrics().height() + 2)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setMinimumSectionSize(row)
        self.setMinimumHeight(self.horizontalHeader().sizeHint().height()
                              + row * len(labels) + 2 * self.frameWidth() + 2)

    def show_per_label(self, table: dict[str, Any], test_items: float | None = None) -> None:
        """Multi-label (issue 21): one row per label with its test-set support, precision,
        recall and F1; its true and false positives and false negatives on hover."""
        self.clear()
        self.names = []  # the columns are the measures, not the labels
        labels = table["labels"]
        keys = list(PER_LABEL)
        n = int(test_items) if test_items is not None else 0
        self.caption = f"{n} test item{'' if n == 1 else 's'}; one row per label"
        self.setRowCount(len(labels))
        self.setColumnCount(len(keys))
        for c, key in enumerate(keys):
            short, meaning = PER_LABEL[key]
            self.setHorizontalHeaderItem(c, _header(short, key, meaning))
        for r, name in enumerate(labels):
            self.setVerticalHeaderItem(r, _header(name, name, name))
        self.setToolTip("Per label on the test set: items that have it (support), precision, "
                        "recall, F1; hover a row for its true and false positives and false "
                        "negatives")
        for r in range(len(labels)):
            counts = literal(f"{labels[r]}: {table['support'][r]} test items have it; "
                             f"TP {table['tp'][r]}, FP {table['fp'][r]}, FN {table['fn'][r]}")
            for c, key in enumerate(keys):
                value = table[key][r]
                cell = QTableWidgetItem(f"{value:.2f}" if isinstance(value, float)
                                        else str(value))
                cell.setToolTip(counts)
                if key == "f1":
                    cell.setBackground(QColor.fromHsvF(0.33 * value, 0.5, 1.0))
                self.setItem(r, c, cell)
        row = max(ROW_HEIGHT, self.fontMetrics().height() + 2)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
            header.setMinimumSectionSize(row)
        # a value ("0.89") never cut: past that the table scrolls sideways instead
        self.horizontalHeader().setMinimumSectionSize(
            self.fontMetrics().horizontalAdvance("0.00") + 10)
        self.setMinimumHeight(self.horizontalHeader().sizeHint().height()
                              + row * len(labels) + 2 * self.frameWidth() + 2)


def _header(text: str, name: str, tip: str) -> QTableWidgetItem:
    """A header cell: ``text`` shown, the whole ``name`` in ``Qt.UserRole``, ``tip`` on hover
    (label names are user data: shown literally)."""
    item = QTableWidgetItem(text)
    item.setData(Qt.ItemDataRole.UserRole, name)
    item.setToolTip(literal(tip))
    return item
