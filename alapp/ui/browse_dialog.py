"""Browse and search the project's items; relabel from here."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from alapp.app.session import (
    NONE_OF_THESE,
    UNLABELED,
    BrowseQuery,
    BrowseRow,
    LabelingSession,
    RelabelBatch,
)
from alapp.core.types import ItemId
from alapp.ui.label_view import IMAGE_ONLY, button_text, literal, plain_label

ANY = "(any)"
DISPUTED = "(disputed)"  # a tie between annotators (issue 19)
LIMIT = 1000
FLAG_COLUMN = 6
_TOP = QModelIndex()  # the table's rows hang from the invisible root
HEADERS = ["Text", "Label", "Annotator", "Predicted", "Confidence", "Split", "Flag"]


class BrowseModel(QAbstractTableModel):
    """The found rows, drawn on demand: the view asks only for the cells it shows, so
    opening Browse on a 100k-item project costs the same as on a small one (a table widget
    built 7,000 cell objects up front and stalled the window)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[BrowseRow] = []

    def show_rows(self, rows: list[BrowseRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _TOP) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _cells(row)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return literal(row.text[:2000])
            if column == FLAG_COLUMN and row.flag_note:
                return literal(row.flag_note)
        if role == Qt.ItemDataRole.UserRole and column == 0:
            return int(row.item_id)
        return None


def _cells(row: BrowseRow) -> list[str]:
    label = NONE_OF_THESE if row.label == "" else row.label or ""  # "": an empty set
    if row.how == "tie":  # issue 19: the annotators disagree, no training label until review
        label = DISPUTED
    return [row.text.replace("\n", " ")[:400] or IMAGE_ONLY, label,
            row.annotator or "", row.predicted or "",
            "" if row.confidence is None else f"{row.confidence:.0%}",
            row.split, _flag_cell(row.flag_note)]


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
        # A multi-label project's explicit empty sets are found as "(none of these)".
        none = [NONE_OF_THESE] if session.settings().multi_label else []
        self.label = _combo([ANY, UNLABELED, *none, *labels])
        self.annotator = _combo([ANY, *session.annotators()])
        self.predicted = _combo([ANY, *labels])
        self.split = _combo([ANY, "pool", "test", "seed"])
        self.status = _combo([ANY, "flagged", "skipped", "disputed"])  # BrowseQuery.status
        self.status.setToolTip("Flagged: items flagged for a second look (F), with the latest "
                               "comment. Skipped: items whose latest decision is a skip. "
                               "Disputed: the annotators disagree and the training-label rule "
                               "cannot decide (Team › Review decides).")
        self.annotator.setToolTip("Items this annotator labeled (their own label, whatever "
                                  "the team's final label is)")
        self.uncertainty = QDoubleSpinBox()
        self.uncertainty.setRange(0, 1)
        self.uncertainty.setSingleStep(0.1)
        self.uncertainty.setPrefix("uncertainty ≥ ")
        self.search.returnPressed.connect(self.refresh)
        for combo in (self.label, self.annotator, self.predicted, self.split, self.status):
            combo.currentIndexChanged.connect(self.refresh)
        self.uncertainty.valueChanged.connect(self.refresh)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        for caption, widget in (("Label", self.label), ("Labeled by", self.annotator),
                                ("Predicted", self.predicted), ("Split", self.split),
                                ("Status", self.status)):
            filters.addWidget(QLabel(caption))
            filters.addWidget(widget, 1)
        filters.addWidget(self.uncertainty)
        self.model = BrowseModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        rows = self.table.verticalHeader()
        rows.setDefaultSectionSize(self.table.fontMetrics().height() + 8)  # one line per row
        rows.hide()  # row numbers say nothing here, and sizing 1,000 of them stalled the window
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
        self.undo_button = QPushButton("Undo relabel")
        self.undo_button.setToolTip("Give the items of the latest relabel back the labels "
                                    "they had before (Ctrl+Z)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_relabel)
        relabel_row.addWidget(self.undo_button)
        # Enter belongs to the search box: no button here is clicked by Enter.
        for button in (*self.relabel_buttons, self.undo_button):
            button.setAutoDefault(False)
            button.setDefault(False)
        self.undo_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self)
        self.undo_shortcut.activated.connect(self.undo_relabel)
        self.message = plain_label()
        self.message.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(relabel_row)
        layout.addWidget(self.message)
        self.rows: list[BrowseRow] = []
        self.undo_stack: list[RelabelBatch] = []  # latest last: each undone as one step
        self.refresh()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter searches (the search box's own signal) and never relabels; Esc closes."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

    def query(self) -> BrowseQuery:
        def pick(combo: QComboBox) -> str:
            return "" if combo.currentText() == ANY else combo.currentText()

        return BrowseQuery(text=self.search.text().strip(), label=pick(self.label),
                           annotator=pick(self.annotator), predicted=pick(self.predicted),
                           min_uncertainty=self.uncertainty.value(), split=pick(self.split),
                           status=pick(self.status))

    def refresh(self) -> None:
        self.rows = self.session.find(self.query(), LIMIT)
        self.model.show_rows(self.rows)
        more = " (first 1,000 shown; narrow the search)" if len(self.rows) >= LIMIT else ""
        self.count.setText(f"{len(self.rows):,} items{more}")

    def selected_ids(self) -> list[ItemId]:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return [self.rows[r].item_id for r in sorted(rows)]

    def relabel(self, label: str) -> None:
        """Relabel the selected rows as ``label``: several items only after a confirmation
        that names how many; undoable as one step."""
        ids = self.selected_ids()
        if not ids:
            self.message.setText("Select the rows to relabel first.")
            return
        if len(ids) > 1 and not self.confirm(len(ids), label):
            self.message.setText("Nothing was relabeled.")
            return
        batch = self.session.relabel_many(ids, label)
        if len(batch):
            self.undo_stack.append(batch)
        self._show_undo()
        unchanged = len(ids) - len(batch)
        self.message.setText(f"Relabeled {_items(len(batch))} as {label}"
                             + (f" ({_items(unchanged)} had it already)" if unchanged else "")
                             + (". Undo relabel (Ctrl+Z) puts the labels back."
                                if len(batch) else "."))
        self.relabeled.emit()
        self.refresh()

    def confirm(self, count: int, label: str) -> bool:
        """Ask before relabeling several items; No is the default answer."""
        box = QMessageBox(QMessageBox.Icon.Question, "Relabel items",
                          f"Relabel {_items(count)} as {label}?", parent=self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # label names are user data
        box.setInformativeText("Each item's label is replaced. Undo relabel (Ctrl+Z) in this "
                               "window puts the previous labels back.")
        yes = box.addButton(f"Relabel {_items(count)}", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.confirm_box = box
        box.exec()
        return box.clickedButton() is yes

    def undo_relabel(self) -> None:
        if not self.undo_stack:
            self.message.setText("No relabel to undo.")
            return
        batch = self.undo_stack.pop()
        restored = self.session.undo_relabel(batch)
        changed = len(batch) - restored
        self.message.setText(f"Undid the relabel as {batch.label}: {_items(restored)} got "
                             "their previous label back"
                             + (f"; {_items(changed)} changed since kept the newer label"
                                if changed else "") + ".")
        self._show_undo()
        self.relabeled.emit()
        self.refresh()

    def _show_undo(self) -> None:
        self.undo_button.setEnabled(bool(self.undo_stack))
        self.undo_button.setText(f"Undo relabel ({_items(len(self.undo_stack[-1]))})"
                                 if self.undo_stack else "Undo relabel")


def _flag_cell(note: str | None) -> str:
    """The latest flag's comment; "flagged" for a flag without one; empty when not flagged."""
    if note is None:
        return ""
    return note or "flagged"


def _items(n: int) -> str:
    return f"{n:,} item{'' if n == 1 else 's'}"


def _combo(items: list[str]) -> QComboBox:
    combo = QComboBox()
    combo.addItems(items)
    return combo
