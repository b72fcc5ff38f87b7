"""Browse and search the project's items; relabel from here."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from alapp.app.session import UNLABELED, BrowseQuery, BrowseRow, LabelingSession
from alapp.core.types import ItemId
from alapp.ui.label_view import button_text, literal, plain_label

ANY = "(any)"
LIMIT = 1000


class BrowseDialog(QDialog):
    relabeled = Signal()

    def __init__(self, session: LabelingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Browse items")
        self.resize(1000, 640)
        self.session = session
        labels = session.labels()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the text…")
        self.label = _combo([ANY, UNLABELED, *labels])
        self.annotator = _combo([ANY, *session.annotators()])
        self.predicted = _combo([ANY, *labels])
        self.split = _combo([ANY, "pool", "test", "seed"])
        self.uncertainty = QDoubleSpinBox()
        self.uncertainty.setRange(0, 1)
        self.uncertainty.setSingleStep(0.1)
        self.uncertainty.setPrefix("uncertainty ≥ ")
        self.search.returnPressed.connect(self.refresh)
        for combo in (self.label, self.annotator, self.predicted, self.split):
            combo.currentIndexChanged.connect(self.refresh)
        self.uncertainty.valueChanged.connect(self.refresh)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        for caption, widget in (("Label", self.label), ("Annotator", self.annotator),
                                ("Predicted", self.predicted), ("Split", self.split)):
            filters.addWidget(QLabel(caption))
            filters.addWidget(widget, 1)
        filters.addWidget(self.uncertainty)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Text", "Label", "Annotator", "Predicted",
                                              "Confidence", "Split"])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(0, 520)
        self.count = plain_label()
        relabel_row = QHBoxLayout()
        relabel_row.addWidget(self.count, 1)
        relabel_row.addWidget(QLabel("Relabel selected as"))
        self.relabel_buttons = []
        for name in labels:
            button = QPushButton(button_text(name))
            button.clicked.connect(lambda _=False, n=name: self.relabel(n))
            relabel_row.addWidget(button)
            self.relabel_buttons.append(button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(relabel_row)
        self.rows: list[BrowseRow] = []
        self.refresh()

    def query(self) -> BrowseQuery:
        def pick(combo: QComboBox) -> str:
            return "" if combo.currentText() == ANY else combo.currentText()

        return BrowseQuery(text=self.search.text().strip(), label=pick(self.label),
                           annotator=pick(self.annotator), predicted=pick(self.predicted),
                           min_uncertainty=self.uncertainty.value(), split=pick(self.split))

    def refresh(self) -> None:
        self.rows = self.session.find(self.query(), LIMIT)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            cells = [row.text.replace("\n", " ")[:400], row.label or "", row.annotator or "",
                     row.predicted or "",
                     "" if row.confidence is None else f"{row.confidence:.0%}", row.split]
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if c == 0:
                    item.setToolTip(literal(row.text[:2000]))
                    item.setData(Qt.ItemDataRole.UserRole, int(row.item_id))
                self.table.setItem(r, c, item)
        more = " (first 1,000 shown; narrow the search)" if len(self.rows) >= LIMIT else ""
        self.count.setText(f"{len(self.rows):,} items{more}")

    def selected_ids(self) -> list[ItemId]:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return [self.rows[r].item_id for r in sorted(rows)]

    def relabel(self, label: str) -> None:
        for item_id in self.selected_ids():
            self.session.relabel(item_id, label)
        self.relabeled.emit()
        self.refresh()


def _combo(items: list[str]) -> QComboBox:
    combo = QComboBox()
    combo.addItems(items)
    return combo
