"""The batch, the budget meter and the model's state, always in view."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from alapp.app.session import Decision, QueueEntry, RoundResult
from alapp.ui.label_view import plain_label


class SidePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.batch = _list()
        self.history = _list()
        self.budget = QProgressBar()
        self.budget_text = plain_label()
        self.budget_text.setWordWrap(True)
        self.model_state = plain_label("No model yet")  # errors and label names may show here
        self.model_state.setWordWrap(True)
        self.model_state.setMinimumHeight(48)
        self.model_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_retrain = plain_label()
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel = QPushButton("Cancel training")
        self.cancel.setVisible(False)
        self.retrain = QPushButton("Retrain now")
        self.curve: QWidget | None = None  # built on first show: pyqtgraph loads in ~0.5 s
        self.confusion: QWidget | None = None
        self.signals = plain_label()
        self.signals.setWordWrap(True)

        self.tabs = QTabWidget()
        batch_page = QWidget()
        batch_layout = QVBoxLayout(batch_page)
        self.batch_box = _group("This batch (estimated labeling time)", self.batch)
        batch_layout.addWidget(self.batch_box, 2)
        batch_layout.addWidget(_group("Recent decisions (← → to revisit)", self.history), 1)
        self.model_page = QWidget()
        self.model_layout = QVBoxLayout(self.model_page)
        self.model_layout.addWidget(self.model_state)
        self.model_layout.addWidget(self.progress)
        buttons = QHBoxLayout()
        buttons.addWidget(self.next_retrain, 1)
        buttons.addWidget(self.cancel)
        buttons.addWidget(self.retrain)
        self.model_layout.addLayout(buttons)
        self.model_layout.addWidget(_group("Stopping signals", self.signals))
        self.model_layout.addStretch(1)  # until the charts take the room
        self.tabs.addTab(batch_page, "Batch")
        self.tabs.addTab(self.model_page, "Model")
        self.tabs.currentChanged.connect(lambda _: self._ensure_charts())

        layout = QVBoxLayout(self)
        layout.addWidget(_group("Budget", self.budget, self.budget_text))
        layout.addWidget(self.tabs, 1)
        self._history: list[tuple[int, dict[str, Any]]] = []

    def _ensure_charts(self) -> None:
        if self.curve is not None or self.tabs.currentWidget() is not self.model_page:
            return
        from alapp.ui.charts import ConfusionTable, LearningCurve

        self.curve = LearningCurve()
        self.confusion = ConfusionTable()
        self.model_layout.takeAt(self.model_layout.count() - 1)  # the stretch
        self.model_layout.addWidget(_group("Learning curve (test set)", self.curve), 3)
        self.model_layout.addWidget(_group("Confusion matrix (test set)", self.confusion), 2)
        self._draw_charts()

    def show_history_chart(self, history: list[tuple[int, dict[str, Any]]]) -> None:
        self._history = history
        self._draw_charts()

    def _draw_charts(self) -> None:
        if self.curve is None or self.confusion is None:
            return
        self.curve.show_history(self._history)  # type: ignore[attr-defined]
        last = next((m for _, m in reversed(self._history) if "confusion" in m), None)
        self.confusion.show_confusion(last["confusion"] if last else None)  # type: ignore[attr-defined]

    def show_batch(self, entries: list[QueueEntry], cost_accuracy: str = "") -> None:
        self.batch.clear()
        self.batch_box.setTitle("This batch (estimated labeling time"
                                + (f"; {cost_accuracy.split(': ', 1)[-1]})" if cost_accuracy
                                   else ")"))
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
                lines.append(f"pace {pace:.2g} s/label")
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
        self.model_state.setText(text)
        self.signals.setText("\n".join(
            f"{'● STOP ' if s.reached else '○ '}{s.name}: {s.detail}" for s in result.signals)
            or "Computed from the second round on.")


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
