"""The labeling view's stop when the budget is spent: what was spent, what still works, and
"Extend budget…", which asks for the new amount (the window saves it through the session)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QInputDialog, QPushButton, QWidget

from alapp.core.format import amount
from alapp.core.options import BudgetUnit
from alapp.ui.label_view import BANNER_STYLE, plain_label

STOPPED = "Labeling has stopped."


class BudgetBanner(QFrame):
    """Shown over the labeling view while the budget is spent."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet(BANNER_STYLE)
        row = QHBoxLayout(self)
        self.text = plain_label()
        self.text.setWordWrap(True)  # a banner that does not wrap sets the window's width
        row.addWidget(self.text, 1)
        self.extend = QPushButton("Extend budget…")
        self.extend.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row.addWidget(self.extend)
        self.setVisible(False)

    def show_stop(self, detail: str | None, rules: str = "") -> None:
        """``detail``: the budget signal's line ("The budget is spent: 100 of 100 labels");
        None hides the banner."""
        if detail is None:
            self.setVisible(False)
            return
        self.text.setText(f"{detail}. {STOPPED} {rules}".strip())
        self.setVisible(True)


def waiting_text(detail: str) -> str:
    """What the labeling view shows in place of an item while the budget is spent."""
    return (f"{detail}.\n\n{STOPPED} No new items are shown until the budget is extended "
            "(the button above, or Edit › Extend budget…). The labels so far are saved; "
            "export them, browse them, or go back to earlier decisions (←) to change them.")


def budget_dialog(parent: QWidget, unit: str, current: float, spent: float,
                  currency: str) -> QInputDialog:
    """A window-modal dialog for the new budget, in its unit, starting above what is spent;
    the caller connects ``finished`` and calls ``open()``."""
    unit_kind = BudgetUnit(unit)
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("Extend the budget")
    what = {BudgetUnit.ITEMS: "labels", BudgetUnit.HOURS: "hours of active labeling time",
            BudgetUnit.MONEY: currency}[unit_kind]
    dialog.setLabelText(f"New budget, in {what}. Spent so far: "
                        f"{amount(spent, unit_kind, currency)} of "
                        f"{amount(current, unit_kind, currency)}.")
    dialog.setInputMode(QInputDialog.InputMode.DoubleInput)
    decimals = 0 if unit_kind is BudgetUnit.ITEMS else 2
    dialog.setDoubleDecimals(decimals)
    step = 1.0 if unit_kind is BudgetUnit.ITEMS else 0.01
    dialog.setDoubleRange(spent + step, 1e12)
    suggested = max(current * 1.5, spent + max(step, 0.5 * current))
    dialog.setDoubleValue(round(suggested, decimals))
    return dialog
