"""The batch, the budget meter and the model's state, always in view."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from alapp.engine.round import RoundResult
from alapp.engine.session import Decision, QueueEntry


class SidePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.batch = _list()
        self.history = _list()
        self.budget = QProgressBar()
        self.budget_text = QLabel()
        self.model_state = QLabel("No model yet")
        self.model_state.setWordWrap(True)
        self.model_state.setMinimumHeight(48)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel = QPushButton("Cancel training")
        self.cancel.setVisible(False)
        self.retrain = QPushButton("Retrain now")

        layout = QVBoxLayout(self)
        layout.addWidget(_group("Budget", self.budget, self.budget_text))
        layout.addWidget(_group("Model", self.model_state, self.progress, self.cancel,
                                self.retrain))
        layout.addWidget(_group("This batch", self.batch), 2)
        layout.addWidget(_group("Recent decisions", self.history), 1)

    def show_batch(self, entries: list[QueueEntry]) -> None:
        self.batch.clear()
        for entry in entries:
            first_line = entry.text.splitlines()[0] if entry.text else ""
            cost = f"~{entry.predicted_cost:.0f} s  " if entry.predicted_cost else ""
            marker = "[random] " if entry.is_random else ""
            self.batch.addItem(f"{cost}{marker}{first_line}")

    def show_history(self, decisions: list[Decision]) -> None:
        self.history.clear()
        for d in decisions:
            first_line = d.text.splitlines()[0] if d.text else ""
            what = d.label if d.action in ("label", "undo") and d.label else d.action
            self.history.addItem(f"{what}: {first_line}")

    def show_budget(self, numbers: dict[str, float], unit: str,
                    forecast: dict[str, float | None] | None = None) -> None:
        spent, budget = numbers["spent"], numbers["budget"]
        self.budget_text.setToolTip("")
        self.budget.setVisible(budget > 0)
        if budget > 0:
            self.budget.setRange(0, 1000)
            self.budget.setValue(int(1000 * min(1.0, spent / budget)))
            remaining = numbers["remaining"]
            self.budget_text.setText(f"Spent {spent:.4g} of {budget:.4g} {unit}; "
                                     f"{0 if math.isnan(remaining) else remaining:.4g} left")
        else:
            self.budget_text.setText(f"{int(numbers['labels'])} decisions, "
                                     f"{numbers['hours'] * 60:.1f} active minutes; no budget set")
        if forecast:
            pace = forecast["pace_s_per_label"]
            left = forecast["labels_left_in_budget"]
            lines = [f"Next batch: ~{(forecast['next_batch_s'] or 0) / 60:.1f} min"]
            if pace:
                lines.append(f"pace {pace:.0f} s/label")
            if left is not None:
                lines.append(f"~{left:.0f} labels left in budget")
            if forecast.get("labels_to_target") is not None:
                hours = forecast.get("hours_to_target")
                lines.append(f"target at ~{forecast['labels_to_target']:.0f} labels"
                             + (f" (~{hours:.1f} h)" if hours is not None else ""))
            if forecast.get("labels_to_stable") is not None:
                hours = forecast.get("hours_to_stable")
                lines.append(f"predictions stable at ~{forecast['labels_to_stable']:.0f} labels"
                             + (f" (~{hours:.1f} h)" if hours is not None else ""))
            self.budget_text.setText(self.budget_text.text() + "\n" + "; ".join(lines))

    def show_model(self, result: RoundResult | None, training: str = "") -> None:
        if training:
            self.model_state.setText(training)
            return
        if result is None:
            self.model_state.setText("No model yet")
            return
        accuracy = ("–" if result.test_accuracy is None
                    else f"{result.test_accuracy:.1%} on the test set")
        if result.n_labeled == 0:
            self.model_state.setText("No labels yet: this batch is cluster centres of the pool "
                                     "(cold start). The first model trains after your first "
                                     "labels.")
            return
        text = (f"Round {result.round_index}: trained on {result.n_labeled} labels; accuracy "
                f"{accuracy}; batch by {result.strategy}")
        if result.cost is not None:
            c = result.cost
            error = (f", held-out error {c.mae_s:.0f} s ({c.relative_error:.0%})"
                     if c.mae_s is not None and c.relative_error is not None else "")
            text += (f"\nCost model: {c.model}, trust {c.trust} "
                     f"({c.n_measured} timed labels{error})")
        for signal in result.signals:
            mark = "STOP: " if signal.reached else ""
            text += f"\n{mark}{signal.name}: {signal.detail}"
        self.model_state.setText(text)


def _list() -> QListWidget:
    """One line per item, cut with an ellipsis rather than scrolled sideways."""
    widget = QListWidget()
    widget.setTextElideMode(Qt.TextElideMode.ElideRight)
    widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    widget.setUniformItemSizes(True)
    return widget


def _group(title: str, *widgets: QWidget) -> QGroupBox:
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    return box
