"""The batch, the budget meter and the model's state, always in view."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from alapp.al.stopping import Forecast, precision_line
from alapp.app.session import Decision, QueueEntry, RoundResult
from alapp.core.format import METER_STEPS, budget_line, duration, hours_range, labels_range

# pyqtgraph takes 0.3-0.5 s to import: here, with the window's module, while a project opens
# and before the window shows, not on the first open of the Model tab (a visible freeze).
# Importing it on a background thread instead crashed (segfaults in 2 of 3 runs, PySide6 6.12:
# pyqtgraph creates Qt enum types while the round thread imports modules).
from alapp.ui.charts import ConfusionTable, LearningCurve
from alapp.ui.label_view import IMAGE_ONLY, ElidedGroupBox, literal, plain_label


class SidePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.batch = _list()
        self.history = _list()
        self.budget = QProgressBar()
        self.budget_text = plain_label()
        self.budget_text.setWordWrap(True)
        self.forecast_text = plain_label()  # pace, what the budget buys, when signals fire
        self.forecast_text.setWordWrap(True)
        self.model_state = plain_label("No model yet")  # errors and label names may show here
        self.model_state.setWordWrap(True)
        self.model_state.setMinimumHeight(48)
        self.model_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_retrain = plain_label()
        self.next_retrain.setWordWrap(True)  # unwrapped, it made the Model tab wider than its view
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel = QPushButton("Cancel training")
        self.cancel.setVisible(False)
        self.retrain = QPushButton("Retrain now")
        # Made when the event loop first idles (about 30 ms), placed on the Model tab's first
        # show in two slices (one event-loop turn each): opening the tab never stalls.
        self.curve: LearningCurve | None = None
        self.confusion: ConfusionTable | None = None
        self._charts: tuple[LearningCurve, ConfusionTable] | None = None
        self._building = False
        QTimer.singleShot(0, self._make_charts)
        self.signals = plain_label()
        self.signals.setWordWrap(True)

        self.tabs = QTabWidget()
        batch_page = QWidget()
        batch_layout = QVBoxLayout(batch_page)
        self.batch_box = _group("This batch (estimated labeling time)", self.batch)
        batch_layout.addWidget(self.batch_box, 2)
        self.history_box = _group("Recent decisions", self.history)
        batch_layout.addWidget(self.history_box, 1)
        self.show_history_keys("Left", "Right")
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
        # The model tab scrolls rather than making the window taller than a 768-pixel screen.
        self.model_scroll = QScrollArea()
        self.model_scroll.setWidget(self.model_page)
        self.model_scroll.setWidgetResizable(True)
        self.model_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.model_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tabs.addTab(self.model_scroll, "Model")
        self.tabs.currentChanged.connect(lambda _: self._ensure_charts())

        layout = QVBoxLayout(self)
        layout.addWidget(_group("Budget", self.budget, self.budget_text, self.forecast_text))
        layout.addWidget(self.tabs, 1)
        self._history: list[tuple[int, dict[str, Any]]] = []

    def _make_charts(self) -> tuple[LearningCurve, ConfusionTable]:
        if self._charts is None:
            curve = LearningCurve()
            curve.resize(360, 220)
            # Painted once off screen, on the next turn: the first paint on the tab is cheap.
            QTimer.singleShot(0, curve, lambda: curve.grab())
            self._charts = (curve, ConfusionTable())
        return self._charts

    def _ensure_charts(self) -> None:
        """Place the charts in slices of one event-loop turn each (the curve, then the table
        and the drawing), so the window keeps responding while the tab opens."""
        if self.curve is not None or self._building \
                or self.tabs.currentWidget() is not self.model_scroll:
            return
        self._building = True
        QTimer.singleShot(0, self._place_curve)

    def _place_curve(self) -> None:
        curve, _ = self._make_charts()
        self.model_layout.takeAt(self.model_layout.count() - 1)  # the stretch
        self.curve_box = _group("Learning curve (test set)", curve, curve.key)
        self.model_layout.addWidget(self.curve_box, 3)
        QTimer.singleShot(0, self._place_confusion)

    def _place_confusion(self) -> None:
        curve, confusion = self._make_charts()
        self.confusion_box = _group("Confusion matrix (test set)", confusion)
        self.model_layout.addWidget(self.confusion_box, 2)
        self.curve, self.confusion = curve, confusion
        self._building = False
        self._draw_charts()

    def show_history_chart(self, history: list[tuple[int, dict[str, Any]]]) -> None:
        self._history = history
        self._draw_charts()

    def _draw_charts(self) -> None:
        if self.curve is None or self.confusion is None:
            return
        self.curve.show_history(self._history)
        last = next((m for _, m in reversed(self._history)
                     if "confusion" in m or "per_label" in m), None)
        if last is not None and "per_label" in last:  # multi-label (issue 21)
            self.confusion.show_per_label(last["per_label"], last.get("test_items"))
            self.confusion_box.setTitle(f"Per label ({self.confusion.caption})")
            return
        self.confusion.show_confusion(last["confusion"] if last else None,
                                      last.get("test_items") if last else None)
        self.confusion_box.setTitle(f"Confusion matrix ({self.confusion.caption})")

    def show_batch(self, entries: list[QueueEntry], cost_accuracy: str = "") -> None:
        self.batch.clear()
        self.batch_box.setTitle("This batch (estimated labeling time"
                                + (f"; {cost_accuracy.split(': ', 1)[-1]})" if cost_accuracy
                                   else ")"))
        for entry in entries:
            first_line = entry.text.splitlines()[0] if entry.text else IMAGE_ONLY
            cost = f"~{entry.predicted_cost:.0f} s  " if entry.predicted_cost else ""
            marker = "[random] " if entry.is_random else ""
            self.batch.addItem(f"{cost}{marker}{first_line}")
            self.batch.item(self.batch.count() - 1).setToolTip(literal(f"Why: {entry.reason}"))

    def show_history_keys(self, back: str, forward: str) -> None:
        """Name the keys that revisit decisions, as bound now ("" when unbound)."""
        keys = [QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText)
                for k in (back, forward) if k]
        self.history_box.setTitle(f"Recent decisions ({' / '.join(keys)} to revisit)" if keys
                                  else "Recent decisions (no key bound to revisit them)")

    def show_history(self, decisions: list[Decision]) -> None:
        self.history.clear()
        for d in decisions:
            first_line = d.text.splitlines()[0] if d.text else IMAGE_ONLY
            what = d.label if d.action in ("label", "undo") and d.label else d.action
            if d.action == "label" and d.label == "":  # multi-label: the empty set
                what = "none of these"
            self.history.addItem(f"{what}: {first_line}")

    def show_budget(self, numbers: dict[str, float], unit: str,
                    forecast: dict[str, Any] | None = None) -> None:
        """The meter (in steps of 0.01 % of the budget, so each label moves it) and its line,
        in the budget's unit and currency; then the pace and the forecasts."""
        spent, budget = numbers["spent"], numbers["budget"]
        currency = str((forecast or {}).get("currency") or "EUR")
        self.budget_text.setToolTip("")
        self.budget.setVisible(budget > 0)
        if budget > 0:
            line = budget_line(unit, spent, budget, numbers["remaining"], currency)
            self.budget.setRange(0, METER_STEPS)
            self.budget.setValue(line.meter)
            stopped = spent >= budget * (1 - 1e-9)
            self.budget.setFormat(f"{line.meter_text} · labeling stopped" if stopped
                                  else line.meter_text)
            self.budget.setToolTip("The budget is spent: Edit › Extend budget… to label more"
                                   if stopped else "")
            self.budget_text.setText(line.text)
        else:
            labels = int(numbers["labels"])
            self.budget_text.setText(f"{labels:,} decision{'' if labels == 1 else 's'}, "
                                     f"{duration(numbers['hours'])} h active time; "
                                     "no budget set")
        self.forecast_text.setText("\n".join(_forecast_lines(forecast)) if forecast else "")

    def show_model(self, result: RoundResult | None, training: str = "") -> None:
        if training:
            self.model_state.setText(training)
            return
        if result is None:
            self.model_state.setText("No model yet")
            return
        interval = precision_line(result.metrics)
        accuracy = ("–" if result.test_accuracy is None
                    else f"{result.test_accuracy:.1%} on the test set")
        if result.n_labeled == 0 and result.strategy.startswith("passive phase"):
            self.model_state.setText(f"No labels yet: this batch is random ({result.strategy}). "
                                     "The first model trains after your first labels.")
            return
        m = result.metrics
        if "sentence_accuracy" in m:  # spans (issue 18): entities matched exactly
            accuracy = (f"(entity micro-F1) {m['micro_f1']:.2f}: precision "
                        f"{m['precision']:.2f}, recall {m['recall']:.2f}, macro-F1 "
                        f"{m['macro_f1']:.2f}; {m['sentence_accuracy']:.1%} of test sentences "
                        "exactly right")
        elif "micro_f1" in m:  # multi-label (issue 21)
            accuracy = (f"(exact set) {m['accuracy']:.1%}, micro-F1 {m['micro_f1']:.2f}, "
                        f"macro-F1 {m['macro_f1']:.2f}, Hamming loss {m['hamming_loss']:.3f} "
                        "on the test set")
        features = f"\nFeatures: {result.features_line}" if result.features_line else ""
        if result.n_labeled == 0:
            chosen = ("the most typical item of each dense region of the pool (TypiClust)"
                      if result.strategy == "typiclust" else "cluster centres of the pool")
            self.model_state.setText(f"No labels yet: this batch is {chosen} (cold start). The "
                                     f"first model trains after your first labels.{features}")
            return
        text = (f"Round {result.round_index}: trained on {result.n_labeled} labels; accuracy "
                f"{accuracy}; batch by {result.strategy}")
        if interval:
            text += f"\nTest set: {interval}"
        text += features
        text += "".join(f"\nNote: {note}" for note in result.notes)
        if result.encoder:  # issue 17: which encoder the features came from
            text += f"\nEncoder: {result.encoder}"
        if result.pseudo_label_text():  # issue 17: self-training
            text += f"\n{result.pseudo_label_text()}"
        if result.cost is not None:
            c = result.cost
            on = f" on {c.error_basis}" if c.error_basis else ""
            error = (f", held-out error{on} {c.mae_s:.0f} s ({c.relative_error:.0%})"
                     if c.mae_s is not None and c.relative_error is not None else "")
            text += (f"\nCost model: {c.model}, trust {c.trust} "
                     f"({c.n_measured} timed labels{error})")
        self.model_state.setText(text)
        self.signals.setText("\n".join(
            f"{REACHED.get(s.name, '● STOP ') if s.reached else '○ '}{s.name}: {s.detail}"
            for s in result.signals)
            or "Computed from the second round on.")


# Signals whose "reached" is not a reason to stop labeling (issue 16): drift asks for a look.
REACHED = {"drift": "▲ CHECK "}


def _forecast_lines(forecast: dict[str, Any]) -> list[str]:
    """The pace, what the budget still buys, and when the target and stable predictions are
    expected: a range with what it rests on, or why there is no forecast yet."""
    lines = [f"Next batch: about {(forecast.get('next_batch_s') or 0) / 60:.1f} min"]
    pace = forecast.get("pace_s_per_label")
    if pace:
        lines[0] += f" · pace {pace:.0f} s per label" if pace >= 1 else " · pace under 1 s a label"
    left = forecast.get("labels_left_in_budget")
    if left is not None:
        lines.append(f"The budget buys about {left:,.0f} more labels at this pace")
    for key, what in (("target", "Target accuracy"), ("stable", "Stable predictions")):
        f = forecast.get(key)
        if isinstance(f, Forecast):
            lines.append(f"{what}: {_forecast_text(f, forecast.get(key + '_hours'))}")
    return lines


def _forecast_text(f: Forecast, hours: tuple[float, float] | None) -> str:
    if f.reached and f.low is not None:
        return f"reached at {f.low:,.0f} labels"
    if f.low is None or f.high is None:
        return f.note or "not enough data yet"
    more = f", {hours_range(*hours)} more at this pace" if hours else ""
    return f"expected at {labels_range(f.low, f.high)} ({f.basis}{more})"


def _list() -> QListWidget:
    """One line per item, cut with an ellipsis rather than scrolled sideways."""
    widget = QListWidget()
    widget.setTextElideMode(Qt.TextElideMode.ElideRight)
    widget.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    widget.setUniformItemSizes(True)
    return widget


def _group(title: str, *widgets: QWidget) -> QGroupBox:
    box = ElidedGroupBox(title)  # a long title is cut with "…", never widening the window
    layout = QVBoxLayout(box)
    for widget in widgets:
        layout.addWidget(widget)
    return box
