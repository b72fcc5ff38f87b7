"""The item being labeled: its text, what the model thinks, why it was chosen, the labels."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from alapp.engine.session import QueueEntry
from alapp.ui.resources import text_font


class LabelView(QWidget):
    label_chosen = Signal(str)

    def __init__(self, labels: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QTextBrowser()
        self.text.setFont(text_font(16))
        self.text.setOpenLinks(False)
        self.text.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
        self.prediction = QLabel()
        self.reason = QLabel()
        self.cost = QLabel()
        for widget in (self.prediction, self.reason, self.cost):
            widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info = QHBoxLayout()
        info.addWidget(self.prediction, 2)
        info.addWidget(self.reason, 2)
        info.addWidget(self.cost, 1)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for i, name in enumerate(labels):
            key = str(i + 1) if i < 9 else ""
            button = QPushButton(f"{key}  {name}" if key else name)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setMinimumHeight(40)
            button.clicked.connect(lambda _=False, n=name: self.label_chosen.emit(n))
            grid.addWidget(button, i // 5, i % 5)
            self.buttons[name] = button
        self.hint = QLabel("Enter: accept prediction · Backspace/Ctrl+Z: undo · S: skip · "
                           "F: flag")
        self.hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(info)
        layout.addLayout(grid)
        layout.addWidget(self.hint)

    def show_entry(self, entry: QueueEntry | None, waiting: str = "") -> None:
        if entry is None:
            self.text.setPlainText(waiting or "The batch is done. A new one is being chosen.")
            for widget in (self.prediction, self.reason, self.cost):
                widget.clear()
            self._enable(False)
            return
        self.text.setPlainText(entry.text)
        if entry.predicted:
            label, confidence = entry.predicted
            self.prediction.setText(f"Model: <b>{label}</b> ({confidence:.0%})")
        else:
            self.prediction.setText("Model: no prediction yet")
        self.reason.setText(f"Why: {entry.reason}")
        self.cost.setText("Est. cost: " + (f"{entry.predicted_cost:.0f} s"
                                           if entry.predicted_cost else "n/a"))
        self._enable(True)
        for name, button in self.buttons.items():
            button.setDefault(bool(entry.predicted and entry.predicted[0] == name))

    def _enable(self, on: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(on)
