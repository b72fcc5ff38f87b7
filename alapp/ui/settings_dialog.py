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
    QGroupBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from alapp.al.needs import FROM_GOLD
from alapp.al.registry import STRATEGIES
from alapp.app.guidelines import MAX_DESCRIPTION  # issue 19
from alapp.app.projects import check_model_folder
from alapp.core.errors import AlappError
from alapp.core.featurizer import KEYWORDS, VECTORS_PREFIX, FeaturizerSpec, PartKind
from alapp.core.options import (
    BudgetUnit,
    Classifier,
    ColdStart,  # issue 17
    CostModel,
    Device,
    MultiLabelModel,  # multi-label (issue 21)
    SelectionMode,
)
from alapp.core.settings import MAX_GUIDELINES, ProjectSettings, default_of
from alapp.ui import preferences
from alapp.ui.guidelines import MarkdownPreview, plain_text
from alapp.ui.label_view import plain_label

FEATURIZERS = list(KEYWORDS)
CLASSIFIER_HELP = {Classifier.LOGREG: "logistic regression (fast, the default)",
                   Classifier.MLP: "small neural head with MC dropout",
                   Classifier.COMMITTEE: "bagged committee (for vote entropy, consensus KL)",
                   Classifier.FINETUNE: "fine-tune the transformer (slow on CPU)",
                   Classifier.MIXED_COMMITTEE: "committee of logistic regression, a small "
                                               "MLP and naive Bayes (vote entropy, KL)",
                   Classifier.PROPAGATION: "label spreading over the embeddings' "
                                           "nearest-neighbour graph (issue 17)"}


class SettingsDialog(QDialog):
    compare_requested = Signal()  # "which strategy suits my data?": the simulation
    def __init__(self, settings: ProjectSettings, vector_sets: list[str],
                 parent: QWidget | None = None, meta_keys: list[str] | None = None,
                 labels: list[tuple[str, str]] | None = None, server: str = "") -> None:
        """``labels``: each label with its description (issue 19: edited on their tab).
        ``server``: the host when the project is on a PostgreSQL server, else "" (issue 20)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(640, 620)
        self.changes: dict[str, Any] = {}
        self.description_changes: dict[str, str] = {}  # issue 19: label -> new description
        s = settings

        self.strategy = QComboBox()
        for name, spec in STRATEGIES.items():
            if spec.all_needs & FROM_GOLD and name != s.strategy:
                continue  # reads the true labels: a simulation's baseline, not a project's
            self.strategy.addItem(name)
            source = f"\nFrom seed {spec.seed}." if spec.seed else ""
            self.strategy.setItemData(self.strategy.count() - 1, spec.summary + source)
        self.strategy.setCurrentText(s.strategy)
        self.strategy_help = QLabel()
        self.strategy_help.setTextFormat(Qt.TextFormat.PlainText)
        self.strategy_help.setWordWrap(True)
        self.strategy.currentIndexChanged.connect(self._explain)
        # strategies (issue 16): the combined strategies' knobs, and what ROI does with each
        self.candidate_factor = _spin(1, 1000, s.candidate_factor)
        self.candidate_factor.setSuffix(" x batch")
        self.diversity_ramp = _spin(1, 1_000_000, s.diversity_ramp)
        self.diversity_ramp.setSuffix(" labels")
        self.knobs_help = QLabel(
            "Candidates: how many items the combined strategies (uncertainty-cluster, "
            "uncertainty-coreset, ...) and ROI narrow the pool to before diversifying. "
            "Diversity ramp: labels over which schedule moves from diversity to uncertainty.")
        self.knobs_help.setTextFormat(Qt.TextFormat.PlainText)
        self.knobs_help.setWordWrap(True)
        self.cost_help = QLabel()
        self.cost_help.setTextFormat(Qt.TextFormat.PlainText)
        self.cost_help.setWordWrap(True)
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
        self.test_margin = _real(0.005, 0.49, s.test_margin, 0.01, " (±)")
        self.test_margin.setDecimals(3)
        self.test_confidence = _real(0.5, 0.999, s.test_confidence, 0.01)
        self.test_confidence.setDecimals(3)
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
        # its longest entry made the Model tab 800 pixels wide (scrolled sideways at 640)
        self.classifier.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.classifier.setMinimumContentsLength(24)
        self.model_folder = QLineEdit(s.model_folder)
        self.model_folder.setPlaceholderText("blank: the bundled MiniLM")
        self.device = _choice(list(Device), s.device)
        self.passive_labels = _spin(0, 10_000_000, s.passive_labels)
        self.passive_labels.setSpecialValueText("none")  # shown for 0
        self.passive_labels.setSuffix(" labels")
        self.temperature = _real(0.05, 100, s.temperature, 0.25)
        self.freeze_batchnorm = QCheckBox("Freeze batch-norm statistics in the active phase")
        self.freeze_batchnorm.setChecked(s.freeze_batchnorm)
        # fine-tuning (issue 16): shown while the classifier is "finetune"
        self.finetune_lr = QDoubleSpinBox()
        self.finetune_lr.setDecimals(7)  # before the value, which 2 decimals would round to 0
        self.finetune_lr.setRange(1e-7, 0.1)
        self.finetune_lr.setSingleStep(1e-5)
        self.finetune_lr.setValue(s.finetune_lr)
        self.finetune_lr.setToolTip("BERT-style fine-tuning works with 1e-5 to 5e-5 "
                                    "(seed 002: 2e-5)")
        self.finetune_epochs = _spin(1, 100, s.finetune_epochs)
        self.finetune_epochs.setSuffix(" per round")
        self.finetune_batch = _spin(1, 1024, s.finetune_batch_size)
        # multi-label (issue 21): one model per label, or a chain; multi-label projects only
        self.multilabel_model = _choice(list(MultiLabelModel), s.multilabel_model)
        self.multilabel_model.setToolTip("ovr: one yes/no model per label; chains: each "
                                         "label's model also reads the earlier labels")
        # issue 17: contrastive encoder
        self.contrastive_encoder = QCheckBox("Fine-tune the encoder on my labels (contrastive)")
        self.contrastive_encoder.setChecked(s.contrastive_encoder)
        self.contrastive_encoder.setToolTip(
            "In the background, pairs of labeled texts (same label or not) tune the sentence "
            "encoder; it is used only if it helps held-out labels. Minutes on a CPU; not "
            "for e5")
        self.contrastive_every = _spin(1, 1_000_000, s.contrastive_every)
        self.contrastive_every.setSuffix(" new labels")
        self._label_efficiency_controls(s)  # issue 17's other settings

        sampling = QFormLayout()
        sampling.addRow("Strategy", self.strategy)
        sampling.addRow("", self.strategy_help)
        sampling.addRow("Candidates", self.candidate_factor)
        sampling.addRow("Diversity ramp", self.diversity_ramp)
        sampling.addRow("", self.knobs_help)
        sampling.addRow("Batch size", self.batch_size)
        sampling.addRow("Random share", self.random_share)
        sampling.addRow("Retrain every", self.retrain_every)
        sampling.addRow("Random until", self.passive_labels)
        sampling.addRow("", _note("Passive phase: batches are random until this many labels "
                                  "exist, then the strategy takes over (001 found ~2,000 best)."))
        sampling.addRow("Stop at test accuracy", self.target)
        sampling.addRow("Test precision wanted", self.test_margin)
        sampling.addRow("Confidence level", self.test_confidence)
        sampling.addRow("", _note("The test score is shown with its confidence interval; the "
                                  "target counts as reached only when the interval's lower "
                                  "bound clears it. The Model tab says how many test items "
                                  "this precision needs (000, 003: a large test set)."))
        compare = QPushButton("Compare strategies on my labels…")
        compare.setToolTip("Replays the loop on the items labeled so far, for each strategy "
                           "and 5 seeds, and recommends one")
        compare.clicked.connect(self._compare)
        sampling.addRow("", compare)
        sampling.addRow(self._stream_group(s, meta_keys or []))
        sampling.addRow(self._cold_start_group(s))  # issue 17
        sampling.addRow(self._annotators_group(s, server))  # issue 20
        model = QFormLayout()
        featurizer_row = QHBoxLayout()
        featurizer_row.addWidget(self.featurizer, 1)
        featurizer_row.addWidget(folder_button)
        model.addRow("Features", featurizer_row)
        model.addRow("Classifier", self.classifier)
        model.addRow("Model to fine-tune", self.model_folder)
        model.addRow("Device", self.device)
        model.addRow("Softmax temperature", self.temperature)
        model.addRow("", _note("Divides the logits before the uncertainty scores: above 1 "
                               "flattens the probabilities, below 1 sharpens them (1: as is)."))
        model.addRow("", self.freeze_batchnorm)
        model.addRow("", _note("Neural heads: after the passive phase, retraining keeps the "
                               "normalisation learnt on it, as at prediction time (001)."))
        model.addRow("Learning rate", self.finetune_lr)
        model.addRow("Epochs", self.finetune_epochs)
        model.addRow("Fine-tuning batch", self.finetune_batch)
        self._model_form = model
        self.classifier.currentIndexChanged.connect(self._show_finetune)
        self._show_finetune()
        if s.multi_label:
            model.addRow("Multi-label model", self.multilabel_model)
        else:  # issue 17: contrastive encoder (pairs need one label per item)
            model.addRow("", self.contrastive_encoder)
            model.addRow("Fine-tune encoder every", self.contrastive_every)
            model.addRow("Encoder epochs", self.contrastive_epochs)
            model.addRow("Pairs per epoch", self.contrastive_max_pairs)
            model.addRow("Pseudo-labels in pairs", self.contrastive_pseudo_cap)
            model.addRow("Use it if it gains", self.contrastive_min_gain)
        model.addRow("Large pool from", self.large_pool_items)  # issue 20
        model.addRow("", _note("From this many items, rounds of strategies that read only the "
                               "probabilities keep the vectors on disk and score the pool in "
                               "blocks, so a million items fit in memory (0: never)."))
        model.addRow(self._pool_group(s))  # issue 17: self-training and label propagation
        cost = QFormLayout()
        cost.addRow("Cost model", self.cost_model)
        cost.addRow("", self.cost_aware)
        cost.addRow("", self.cost_help)
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
        guidelines = self._guidelines_page(s)  # issue 19
        described = self._descriptions_page(labels or [])
        for title, form in (("Sampling", sampling), ("Model", model), ("Cost and budget", cost),
                            ("Keyboard", keys), ("Guidelines", guidelines),
                            ("Label descriptions", described)):
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

    def _show_finetune(self) -> None:
        on = self.classifier.currentData() == Classifier.FINETUNE
        for widget in (self.finetune_lr, self.finetune_epochs, self.finetune_batch):
            self._model_form.setRowVisible(widget, on)

    def _explain(self) -> None:
        self.strategy_help.setText(str(self.strategy.currentData() or ""))
        spec = STRATEGIES.get(self.strategy.currentText())
        self.cost_help.setText(spec.cost_effect if spec else "")

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
            "test_margin": self.test_margin.value(),
            "test_confidence": self.test_confidence.value(),
            "featurizer": self.featurizer.currentText().strip(),
            "classifier": self.classifier.currentData(),
            "model_folder": self.model_folder.text().strip(),
            "device": self.device.currentText(),
            "candidate_factor": self.candidate_factor.value(),
            "diversity_ramp": self.diversity_ramp.value(),
            **self._stream_values(),  # stream mode and validation (issue 16)
            "passive_labels": self.passive_labels.value(),
            "temperature": self.temperature.value(),
            "freeze_batchnorm": self.freeze_batchnorm.isChecked(),
            "finetune_lr": round(self.finetune_lr.value(), 9),
            "finetune_epochs": self.finetune_epochs.value(),
            "finetune_batch_size": self.finetune_batch.value(),
            "multilabel_model": self.multilabel_model.currentText(),
            "contrastive_encoder": self.contrastive_encoder.isChecked(),  # issue 17
            "contrastive_every": self.contrastive_every.value(),
            **self._label_efficiency_values(),  # issue 17
            **self._annotators_values(),  # issue 20
            "large_pool_items": self.large_pool_items.value(),  # issue 20
            "guidelines": plain_text(self.guidelines),  # issue 19
        }

    def _stream_group(self, s: ProjectSettings, meta_keys: list[str]) -> QGroupBox:
        """Stream mode, drift checks and the stratified random share (issue 16)."""
        self.selection_mode = QComboBox()
        self.selection_mode.addItem("pool: rank every unlabeled item",
                                    SelectionMode.POOL.value)
        self.selection_mode.addItem("stream: in import order, ask the uncertain",
                                    SelectionMode.STREAM.value)
        self.selection_mode.setCurrentIndex(max(0, self.selection_mode.findData(
            s.selection_mode)))
        self.ask_rate = _real(0.01, 1, s.stream_ask_rate, 0.05, " of arriving items")
        self.drift_every = _spin(0, 100_000, s.drift_every)
        self.drift_every.setSpecialValueText("off")  # shown for 0
        self.drift_every.setSuffix(" labels")
        self.drift_sample = _spin(20, 100_000, s.drift_sample_size)
        self.drift_sample.setSuffix(" items")
        self.stratify_by = QComboBox()
        self.stratify_by.addItem("(none: plain random)", "")
        for key in meta_keys:
            self.stratify_by.addItem(key, key)
        if s.stratify_by and self.stratify_by.findData(s.stratify_by) < 0:
            self.stratify_by.addItem(s.stratify_by, s.stratify_by)
        self.stratify_by.setCurrentIndex(max(0, self.stratify_by.findData(s.stratify_by)))
        help_text = QLabel(
            "Stream: each arriving item is asked only when its uncertainty is above a "
            "threshold, set so that about the ask rate of items is asked; passed items get no "
            "label and are not asked again. Drift: every so many labels a fresh random sample "
            "of unlabeled items is predicted and compared with the previous one, the original "
            "pool and the newest import. Stratify: the random share is drawn in proportion "
            "over the values of a metadata column.")
        help_text.setTextFormat(Qt.TextFormat.PlainText)
        help_text.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Selection", self.selection_mode)
        form.addRow("Ask rate", self.ask_rate)
        form.addRow("Drift check every", self.drift_every)
        form.addRow("Drift sample", self.drift_sample)
        form.addRow("Stratify random share by", self.stratify_by)
        form.addRow(help_text)
        group = QGroupBox("Stream mode and validation")
        group.setLayout(form)
        return group

    def _stream_values(self) -> dict[str, Any]:
        return {"selection_mode": self.selection_mode.currentData(),
                "stream_ask_rate": self.ask_rate.value(),
                "drift_every": self.drift_every.value(),
                "drift_sample_size": self.drift_sample.value(),
                "stratify_by": self.stratify_by.currentData()}

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
        self.description_changes = {  # issue 19: as the store keeps them (one line)
            name: " ".join(edit.text().split()) for name, edit in self.descriptions.items()
            if " ".join(edit.text().split()) != self.described.get(name, "")}
        self.accept()

    # -- issue 17: the pool's own help (cold start, self-training, propagation, encoder) --------

    def _label_efficiency_controls(self, s: ProjectSettings) -> None:
        self.cold_start = QComboBox()
        for kind, words in ((ColdStart.CENTROIDS, "centroids: items nearest to cluster "
                             "centres"),
                            (ColdStart.TYPICLUST, "typiclust: the most typical item of each "
                             "dense region")):
            self.cold_start.addItem(words, kind.value)
        self.cold_start.setCurrentIndex(max(0, self.cold_start.findData(s.cold_start)))
        _explain_setting(self.cold_start, "cold_start", "How the first batches are chosen "
                         "before a model can rank items.")
        self.cold_start_labels = _spin(0, 1_000_000, s.cold_start_labels)
        self.cold_start_labels.setSpecialValueText("first round only")  # shown for 0
        self.cold_start_labels.setSuffix(" labels")
        _explain_setting(self.cold_start_labels, "cold_start_labels", "Model-based strategies "
                         "keep using the cold start until this many labels exist.")
        self.label_prior = QCheckBox("Use the label names and descriptions as a first guess")
        self.label_prior.setChecked(s.label_prior)
        _explain_setting(self.label_prior, "label_prior", "While labels are few, the names "
                         "(and descriptions) of the labels give zero-shot suggestions, weighted "
                         "by how often they were right on your labels. Single-label "
                         "classification with embedding features only.")
        self.self_training = QCheckBox("Self-training: confident, neighbour-checked "
                                       "pseudo-labels")
        self.self_training.setChecked(s.self_training)
        _explain_setting(self.self_training, "self_training", "Each round the model also "
                         "trains on unlabeled items it is confident about and whose nearest "
                         "labeled neighbours agree, weighted below your labels. They are never "
                         "stored, exported or shown as labels, and never touch the test set. "
                         "Logistic regression only.")
        self.self_training_weight = _real(0.01, 1, s.self_training_weight, 0.05,
                                          " of a human label")
        _explain_setting(self.self_training_weight, "self_training_weight",
                         "A pseudo-label's weight in training (your labels weigh 1).")
        self.propagation_weight = _real(0, 1, s.propagation_weight, 0.05)
        self.propagation_weight.setSpecialValueText("off")  # shown for 0
        _explain_setting(self.propagation_weight, "propagation_weight", "How much of the "
                         "labels spread over the nearest-neighbour graph of the embeddings is "
                         "blended into the model's probabilities (0: off).")
        self.propagation_max_items = _spin(100, 100_000_000, s.propagation_max_items)
        self.propagation_max_items.setSuffix(" items")
        self.propagation_max_items.setGroupSeparatorShown(True)
        _explain_setting(self.propagation_max_items, "propagation_max_items", "Above this "
                         "many items label propagation is skipped (with a note): the graph's "
                         "build time grows with the square of the items (about 7 s for "
                         "16,000, 58 s for 50,000 on two cores).")
        self.propagation_fade = _real(0, 100_000, s.propagation_fade, 8, " labels per class")
        self.propagation_fade.setSpecialValueText("never fades")  # shown for 0
        _explain_setting(self.propagation_fade, "propagation_fade", "The propagation blend "
                         "weakens as labels grow: at this many labels per class it is half its "
                         "weight (0: full weight at any number of labels).")
        self.large_pool_items = _spin(0, 1_000_000_000, s.large_pool_items)  # issue 20
        self.large_pool_items.setSpecialValueText("never")  # shown for 0
        self.large_pool_items.setSuffix(" items")
        self.large_pool_items.setGroupSeparatorShown(True)
        _explain_setting(self.large_pool_items, "large_pool_items", "From this many items, "
                         "rounds of least-confidence, margin, ratio, entropy or random read the "
                         "vectors from a cache file a block at a time, without self-training "
                         "or the label-name prior. Other strategies (the default "
                         "uncertainty-cluster too) still load every vector.")
        self.contrastive_epochs = _spin(1, 20, s.contrastive_epochs)
        _explain_setting(self.contrastive_epochs, "contrastive_epochs",
                         "Passes over the pairs each time the encoder is fine-tuned.")
        self.contrastive_max_pairs = _spin(2, 1_000_000, s.contrastive_max_pairs)
        self.contrastive_max_pairs.setGroupSeparatorShown(True)
        _explain_setting(self.contrastive_max_pairs, "contrastive_max_pairs", "Pairs of "
                         "labeled texts per epoch; 2,000 take about 4-10 min on two CPU cores.")
        self.contrastive_min_gain = _real(-1, 1, s.contrastive_min_gain, 0.01, " accuracy")
        self.contrastive_min_gain.setDecimals(3)
        _explain_setting(self.contrastive_min_gain, "contrastive_min_gain", "The tuned encoder "
                         "is used only if it adds this much held-out accuracy (0.01: one "
                         "point; -1: always use it).")
        self.contrastive_pseudo_cap = _real(0, 100, s.contrastive_pseudo_cap, 1.0,
                                            " × each label's labels")
        self.contrastive_pseudo_cap.setDecimals(1)
        _explain_setting(self.contrastive_pseudo_cap, "contrastive_pseudo_cap", "Unlabeled "
                         "items whose guessed label the model is sure of, and their nearest "
                         "labeled neighbours agree with, join the pairs: at most this many "
                         "times each label's labels (0: your labels only). They tune the "
                         "encoder only; they are never labels.")
        for widget in (self.contrastive_epochs, self.contrastive_max_pairs,
                       self.contrastive_min_gain, self.contrastive_every,
                       self.contrastive_pseudo_cap):
            widget.setEnabled(self.contrastive_encoder.isChecked())
            self.contrastive_encoder.toggled.connect(widget.setEnabled)
        self.self_training.toggled.connect(self.self_training_weight.setEnabled)
        self.self_training_weight.setEnabled(s.self_training)
        if s.multi_label:  # a multi-label round uses none of them: say so once, here
            for control in (self.label_prior, self.self_training, self.self_training_weight,
                            self.propagation_weight, self.propagation_max_items,
                            self.propagation_fade):
                control.setEnabled(False)
                control.setToolTip("Not used in multi-label projects: a decision there is a "
                                   "set of labels, not one choice.\n" + control.toolTip())

    def _cold_start_group(self, s: ProjectSettings) -> QGroupBox:
        form = QFormLayout()
        form.addRow("First batches", self.cold_start)
        form.addRow("Cold start until", self.cold_start_labels)
        form.addRow("", self.label_prior)
        group = QGroupBox("Cold start")
        group.setLayout(form)
        return group

    def _pool_group(self, s: ProjectSettings) -> QGroupBox:
        form = QFormLayout()
        form.addRow("", self.self_training)
        form.addRow("Pseudo-label weight", self.self_training_weight)
        form.addRow("Label propagation", self.propagation_weight)
        form.addRow("Propagation up to", self.propagation_max_items)
        form.addRow("Propagation fades at", self.propagation_fade)
        if s.multi_label:
            form.addRow(_note("Multi-label projects use neither self-training, label "
                              "propagation nor the label-name prior."))
        group = QGroupBox("Learning from the unlabeled pool")
        group.setLayout(form)
        return group

    def _label_efficiency_values(self) -> dict[str, Any]:
        return {"cold_start": self.cold_start.currentData(),
                "cold_start_labels": self.cold_start_labels.value(),
                "label_prior": self.label_prior.isChecked(),
                "self_training": self.self_training.isChecked(),
                "self_training_weight": round(self.self_training_weight.value(), 6),
                "propagation_weight": round(self.propagation_weight.value(), 6),
                "propagation_max_items": self.propagation_max_items.value(),
                "propagation_fade": round(self.propagation_fade.value(), 6),
                "contrastive_epochs": self.contrastive_epochs.value(),
                "contrastive_max_pairs": self.contrastive_max_pairs.value(),
                "contrastive_pseudo_cap": round(self.contrastive_pseudo_cap.value(), 6),
                "contrastive_min_gain": round(self.contrastive_min_gain.value(), 6)}

    # -- issue 20: several annotators at once on a server project ------------------------------

    def _annotators_group(self, s: ProjectSettings, server: str) -> QGroupBox:
        self.claim_window = _spin(1, 100, s.claim_window)
        self.claim_window.setSuffix(" items")
        _explain_setting(self.claim_window, "claim_window", "How many upcoming items each "
                         "open app keeps for its annotator, hidden from the others.")
        self.claim_lease_s = _real(1, 86_400, s.claim_lease_s, 30, " s")
        _explain_setting(self.claim_lease_s, "claim_lease_s", "If an app closes without "
                         "saying so (a crash, a lost network), the items it kept go back to "
                         "the others after this many seconds. A long lease protects a slow "
                         "reader's item; a short one frees a crashed app's items sooner.")
        self.claim_overlap = _spin(0, 50, s.claim_overlap)
        self.claim_overlap.setSuffix(" % of each batch")
        self.claim_overlap.setSpecialValueText("off: each item labeled once")  # shown for 0
        _explain_setting(self.claim_overlap, "claim_overlap", "This share of each new batch "
                         "is labeled by two different annotators, so their agreement can be "
                         "measured (the team view's kappa).")
        if server:
            where = (f"This project is on the server {server}: every open app takes its own "
                     "items from the batch, and these settings apply to all of them.")
        else:
            where = ("This project is a file: one app writes it at a time, so the items kept "
                     "and the lease matter once it is on a PostgreSQL server. Overlap items "
                     "also wait here for a second annotator taking a turn.")
        form = QFormLayout()
        form.addRow("Items kept per app", self.claim_window)
        form.addRow("Released after", self.claim_lease_s)
        form.addRow("Labeled twice", self.claim_overlap)
        self.annotators_note = _note(where)
        form.addRow(self.annotators_note)
        group = QGroupBox("Several annotators (server projects)")
        group.setLayout(form)
        return group

    def _annotators_values(self) -> dict[str, Any]:
        return {"claim_window": self.claim_window.value(),
                "claim_lease_s": round(self.claim_lease_s.value(), 6),
                "claim_overlap": self.claim_overlap.value()}

    # -- issue 19: guidelines and label descriptions --------------------------------------------

    def _guidelines_page(self, s: ProjectSettings) -> QVBoxLayout:
        self.guidelines = QPlainTextEdit()
        self.guidelines.setPlainText(s.guidelines)
        self.guidelines.setPlaceholderText("# How we label\n\n- **Sports**: games, teams, "
                                           "athletes\n- When unsure: skip (S) or flag (F)")
        self.guidelines_preview = MarkdownPreview(self.guidelines, "Nothing to preview yet")
        self.guidelines_count = plain_label()
        self._count_guidelines()
        self.guidelines.textChanged.connect(self._count_guidelines)
        split = QSplitter()
        split.addWidget(self.guidelines)
        split.addWidget(self.guidelines_preview)
        page = QVBoxLayout()
        page.addWidget(_note("Markdown, for everyone who labels this project: shown with F1 "
                             "beside the labeling view and kept in the project file. Links "
                             "are shown, never opened; images and HTML are not loaded."))
        page.addWidget(split, 1)
        page.addWidget(self.guidelines_count)
        return page

    def _count_guidelines(self) -> None:
        n = len(self.guidelines.toPlainText())
        self.guidelines_count.setText(f"{n:,} of {MAX_GUIDELINES:,} characters")
        self.guidelines_count.setStyleSheet("color: #b00020" if n > MAX_GUIDELINES else "")

    def _descriptions_page(self, labels: list[tuple[str, str]]) -> QFormLayout:
        self.described = {name: text for name, text in labels if text}
        self.descriptions: dict[str, QLineEdit] = {}
        form = QFormLayout()
        form.addRow(_note("A short description per label: under its name on the label buttons "
                          "and in their tooltips, and with the name as the label's first guess "
                          f"(the label-name prior). One line, at most {MAX_DESCRIPTION} "
                          "characters."))
        for name, text in labels:
            edit = QLineEdit(text)
            edit.setMaxLength(MAX_DESCRIPTION)
            edit.setPlaceholderText("e.g. what belongs here, and what does not")
            self.descriptions[name] = edit
            caption = plain_label(name)  # a label name is user data: never rich text
            caption.setToolTip(name if len(name) > 40 else "")
            caption.setMaximumWidth(220)
            form.addRow(caption, edit)
        if not labels:
            form.addRow(_note("This project has no labels yet."))
        return form


def _explain_setting(widget: QWidget, key: str, what: str) -> None:
    """A control's tooltip: what the setting does, its default and its name for `alapp
    config`."""
    default = default_of(key)
    shown = ("on" if default else "off") if isinstance(default, bool) else f"{default:,}" \
        if isinstance(default, int) else str(default)
    widget.setToolTip(f"{what}\nDefault: {shown}. (alapp config: {key})")


def _note(text: str) -> QLabel:
    """A one-line explanation under a setting."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setStyleSheet("color: #555")
    return label


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
