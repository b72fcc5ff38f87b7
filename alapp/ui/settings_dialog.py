"""Project settings (stored in the project) and keyboard shortcuts (stored per user)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from alapp.al.registry import STRATEGIES
from alapp.app.projects import check_model_folder
from alapp.core.errors import AlappError
from alapp.core.featurizer import KEYWORDS, VECTORS_PREFIX, FeaturizerSpec, PartKind
from alapp.core.options import (
    BudgetUnit,
    Classifier,
    CostModel,
    Device,
    MultiLabelModel,  # multi-label (issue 21)
)
from alapp.core.settings import ProjectSettings
from alapp.ui import preferences

FEATURIZERS = list(KEYWORDS)
CLASSIFIER_HELP = {Classifier.LOGREG: "logistic regression (fast, the default)",
                   Classifier.MLP: "small neural head with MC dropout",
                   Classifier.COMMITTEE: "bagged committee (for vote entropy, consensus KL)",
                   Classifier.FINETUNE: "fine-tune the transformer (slow on CPU)"}


class SettingsDialog(QDialog):
    compare_requested = Signal()  # "which strategy suits my data?": the simulation
    def __init__(self, settings: ProjectSettings, vector_sets: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(640, 620)
        self.changes: dict[str, Any] = {}
        s = settings

        self.strategy = QComboBox()
        for name, spec in STRATEGIES.items():
            self.strategy.addItem(name)
            self.strategy.setItemData(self.strategy.count() - 1, spec.summary)
        self.strategy.setCurrentText(s.strategy)
        self.strategy_help = QLabel()
        self.strategy_help.setTextFormat(Qt.TextFormat.PlainText)
        self.strategy_help.setWordWrap(True)
        self.strategy.currentIndexChanged.connect(self._explain)
        self._explain()
        self.batch_size = _spin(1, 1000, s.batch_size)
        self.random_share = _real(0, 1, s.random_share, 0.05)
        self.retrain_every = _spin(0, 10_000, s.retrain_every)
        self.retrain_every.setSpecialValueText("manual (Ctrl+R)")  # shown for 0
        self.retrain_every.setSuffix(" labels")
        self.cost_model = _choice([CostModel.LEARNED, CostModel.LENGTH, CostModel.EQUAL],
                                  s.cost_model)
        self.cost_aware = QCheckBox("Rank by value per second (ROI)")
        self.cost_aware.setChecked(s.cost_aware)
        self.price_cap = _real(0, 3600, s.price_cap_s, 5, " s (0: none)")
        self.budget_unit = _choice(list(BudgetUnit), s.budget_unit)
        self.budget_amount = _real(0, 1e9, s.budget_amount, 10, " (0: none)")
        self.hourly_rate = _real(0, 1e6, s.hourly_rate, 5)
        self.currency = QLineEdit(s.currency)
        self.target = _real(0, 1, s.target_accuracy, 0.01, " (0: none)")
        self.idle_cutoff = _real(5, 3600, s.idle_cutoff_s, 5, " s")
        self.featurizer = _choice(FEATURIZERS + [f"{VECTORS_PREFIX}{v}" for v in vector_sets],
                                  s.featurizer, editable=True)
        self.featurizer.setToolTip("auto picks E5 when most texts are not English; or paste "
                                   "a Hugging Face model folder")
        folder_button = QPushButton("Model folder…")
        folder_button.clicked.connect(self._choose_featurizer_folder)
        self.classifier = QComboBox()
        for kind in Classifier:
            self.classifier.addItem(f"{kind}: {CLASSIFIER_HELP.get(kind, '')}", kind.value)
        self.classifier.setCurrentIndex(max(0, self.classifier.findData(s.classifier)))
        self.model_folder = QLineEdit(s.model_folder)
        self.model_folder.setPlaceholderText("blank: the bundled MiniLM")
        self.device = _choice(list(Device), s.device)
        # multi-label (issue 21): one model per label, or a chain; multi-label projects only
        self.multilabel_model = _choice(list(MultiLabelModel), s.multilabel_model)
        self.multilabel_model.setToolTip("ovr: one yes/no model per label; chains: each "
                                         "label's model also reads the earlier labels")

        sampling = QFormLayout()
        sampling.addRow("Strategy", self.strategy)
        sampling.addRow("", self.strategy_help)
        sampling.addRow("Batch size", self.batch_size)
        sampling.addRow("Random share", self.random_share)
        sampling.addRow("Retrain every", self.retrain_every)
        sampling.addRow("Stop at test accuracy", self.target)
        compare = QPushButton("Compare strategies on my labels…")
        compare.setToolTip("Replays the loop on the items labeled so far, for each strategy "
                           "and 5 seeds, and recommends one")
        compare.clicked.connect(self._compare)
        sampling.addRow("", compare)
        model = QFormLayout()
        featurizer_row = QHBoxLayout()
        featurizer_row.addWidget(self.featurizer, 1)
        featurizer_row.addWidget(folder_button)
        model.addRow("Features", featurizer_row)
        model.addRow("Classifier", self.classifier)
        model.addRow("Model to fine-tune", self.model_folder)
        model.addRow("Device", self.device)
        if s.multi_label:
            model.addRow("Multi-label model", self.multilabel_model)
        cost = QFormLayout()
        cost.addRow("Cost model", self.cost_model)
        cost.addRow("", self.cost_aware)
        cost.addRow("Price cap", self.price_cap)
        cost.addRow("Budget in", self.budget_unit)
        cost.addRow("Budget", self.budget_amount)
        cost.addRow("Hourly rate", self.hourly_rate)
        cost.addRow("Currency", self.currency)
        cost.addRow("Idle after", self.idle_cutoff)

        self.keys: dict[str, QKeySequenceEdit] = {}
        keys = QFormLayout()
        for action, (description, _) in preferences.SHORTCUTS.items():
            edit = QKeySequenceEdit(QKeySequence(preferences.shortcut(action)))
            self.keys[action] = edit
            keys.addRow(description, edit)
        reset = QPushButton("Restore default keys")
        reset.clicked.connect(self._reset_keys)
        keys.addRow("", reset)

        tabs = QTabWidget()
        for title, form in (("Sampling", sampling), ("Model", model), ("Cost and budget", cost),
                            ("Keyboard", keys)):
            page = QWidget()
            page.setLayout(form)
            # Scrolled when the screen is short (1366x768, or 150% on 1920x1080): the
            # Keyboard tab's rows would otherwise set the dialog's minimum height.
            scroll = QScrollArea()
            scroll.setWidget(page)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            tabs.addTab(scroll, title)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # quotes folders and values as typed
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.apply)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.original = s

    def _compare(self) -> None:
        self.reject()  # the comparison opens beside the window, not behind this dialog
        self.compare_requested.emit()

    def _explain(self) -> None:
        self.strategy_help.setText(str(self.strategy.currentData() or ""))

    def _choose_featurizer_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "A Hugging Face model folder")
        if chosen:
            self.featurizer.setCurrentText(chosen)

    def _reset_keys(self) -> None:
        for action, edit in self.keys.items():
            edit.setKeySequence(QKeySequence(preferences.SHORTCUTS[action][1]))

    def values(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.currentText(), "batch_size": self.batch_size.value(),
            "random_share": self.random_share.value(),
            "retrain_every": self.retrain_every.value(),
            "cost_model": self.cost_model.currentText(), "cost_aware": self.cost_aware.isChecked(),
            "price_cap_s": self.price_cap.value(), "budget_unit": self.budget_unit.currentText(),
            "budget_amount": self.budget_amount.value(), "hourly_rate": self.hourly_rate.value(),
            "currency": self.currency.text().strip(),
            "target_accuracy": self.target.value(), "idle_cutoff_s": self.idle_cutoff.value(),
            "featurizer": self.featurizer.currentText().strip(),
            "classifier": self.classifier.currentData(),
            "model_folder": self.model_folder.text().strip(),
            "device": self.device.currentText(),
            "multilabel_model": self.multilabel_model.currentText(),
        }

    def apply(self) -> None:
        """Check what can be wrong (a value out of range, a model folder that is not one)
        before anything is kept; the error is shown and nothing is saved."""
        values = self.values()
        try:
            replace(self.original, **values).validate(strategies=STRATEGIES)
            spec = FeaturizerSpec.parse(values["featurizer"])
            folders = [part.value for part in spec.parts if part.kind is PartKind.FOLDER]
            if values["model_folder"]:
                folders.append(values["model_folder"])
            for folder in folders:
                check_model_folder(Path(folder))
        except AlappError as e:
            self.error.setText(str(e))
            return
        keys = {action: edit.keySequence().toString() for action, edit in self.keys.items()}
        taken: dict[str, str] = {}
        for action, sequence in keys.items():
            if sequence and sequence in taken:
                self.error.setText(f"{sequence} is used twice: "
                                   f"{preferences.SHORTCUTS[taken[sequence]][0]} and "
                                   f"{preferences.SHORTCUTS[action][0]}")
                return
            taken[sequence] = action
        for action, sequence in keys.items():
            preferences.set_shortcut(action, sequence)
        self.changes = {k: v for k, v in values.items()
                        if getattr(self.original, k) != v}
        self.accept()


def _spin(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box


def _real(low: float, high: float, value: float, step: float, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(2)
    box.setSingleStep(step)
    box.setValue(value)
    box.setSuffix(suffix)
    return box


def _choice(items: list[str] | list[Any], current: str, editable: bool = False) -> QComboBox:
    box = QComboBox()
    box.addItems([str(item) for item in items])
    box.setEditable(editable)
    if current not in items:
        box.addItem(current)
    box.setCurrentText(current)
    return box
