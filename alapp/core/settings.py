"""Per-project settings with their defaults and the values each may take. Stored as key/value
rows in the project file.

Every way in (the settings dialog, ``alapp config``, creating a project) goes through
``validate``; a stored value that an older alapp accepted but this one does not falls back to
its default with a ``SettingWarning`` (``from_stored``), so an old project still opens.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import MISSING, asdict, dataclass, fields
from enum import StrEnum
from typing import Any

from alapp.core import options  # stream mode and validation (issue 16)
from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerSpec
from alapp.core.options import (
    BudgetUnit,
    Classifier,
    CostModel,
    Device,
    MultiLabelModel,  # multi-label (issue 21)
    TaskKind,
    allowed,
)


class SettingWarning(UserWarning):
    """A stored setting is no longer valid; its default is used instead."""


@dataclass
class ProjectSettings:
    name: str = "Untitled"
    seed: int = 0
    task: str = TaskKind.CLASSIFICATION.value  # options.TaskKind: fixed when the project is made
    multi_label: bool = False
    strategy: str = "uncertainty-cluster"  # measured best in early rounds: docs/simulation
    batch_size: int = 20
    random_share: float = 0.1
    retrain_every: int = 10  # labels between background retrains; 0: manual (Ctrl+R)
    featurizer: str = "auto"  # see core/featurizer.py: auto | minilm | e5 | tfidf | vectors:NAME
    classifier: str = Classifier.LOGREG.value  # options.Classifier (fusion: automatic)
    model_folder: str = ""  # the transformer to fine-tune; blank: the bundled MiniLM
    device: str = Device.AUTO.value  # options.Device
    mc_samples: int = 20
    cost_model: str = CostModel.LEARNED.value  # options.CostModel (length model until data)
    cost_aware: bool = False  # rank by ROI = normalised utility / predicted cost
    price_cap_s: float = 0.0  # never ask for items predicted to take longer; 0: no cap
    target_accuracy: float = 0.0  # stop signal on the test set; 0: none
    stop_set_size: int = 1000  # fixed random pool items for the stabilizing-predictions signal
    budget_unit: str = BudgetUnit.ITEMS.value  # options.BudgetUnit
    budget_amount: float = 0.0  # 0 means no budget set
    hourly_rate: float = 0.0
    currency: str = "EUR"
    idle_cutoff_s: float = 60.0
    # strategies (issue 16)
    candidate_factor: int = 10  # combined strategies and ROI: candidates = factor x batch
    diversity_ramp: int = 200  # schedule: labels until selection is all uncertainty
    # budget and test set (issue 16)
    test_margin: float = 0.03  # the ± precision asked of the test accuracy (3 points)
    test_confidence: float = 0.95  # of the test metrics' intervals and the target stop
    # stream mode and validation (issue 16)
    selection_mode: str = options.SelectionMode.POOL.value  # options.SelectionMode: pool | stream
    stream_ask_rate: float = 0.2  # stream: share of arriving items asked (tunes the threshold)
    drift_every: int = 100  # labels between fresh random validation samples (drift); 0: off
    drift_sample_size: int = 200  # unlabeled pool items in each validation sample
    stratify_by: str = ""  # a metadata key: the random share is drawn over its values
    # neural heads and phases (issue 16)
    temperature: float = 1.0  # softmax temperature of the uncertainty scores (000); >1 flattens
    freeze_batchnorm: bool = False  # keep batch-norm statistics after the first training (001)
    passive_labels: int = 0  # random batches until this many labels: the passive phase (001)
    # fine-tuning (issue 16): the seed 002 (BERT on MRPC) hyper-parameters, per round
    finetune_lr: float = 2e-5
    finetune_epochs: int = 3
    finetune_batch_size: int = 16
    # multi-label (issue 21)
    multilabel_model: str = MultiLabelModel.OVR.value  # options.MultiLabelModel: ovr | chains
    # spans (issue 18): how texts without given tokens are tokenized (core/spans.tokenize):
    # "en", "ru", "zh", another code (the default rule); "": detected per imported file
    span_language: str = ""
    # span projects: models and active learning (issue 18, spanml)
    span_model: str = options.SpanModel.CRF.value  # options.SpanModel: crf | token-head
    natasha_suggestions: bool = False  # Russian: natasha's PER/LOC/ORG before a model exists
    # cold start (issue 17): typical items first, then the strategy; label-name prior
    # options.ColdStart: the first round; centroids by measurement (docs/cold_start.md: TypiClust
    # wins on AG News, loses on RuSentiTweet at 16 labels)
    cold_start: str = options.ColdStart.CENTROIDS.value
    cold_start_labels: int = 0  # model-based strategies use the cold start until this many
    label_prior: bool = True  # label names (and descriptions) as a zero-shot prior, few labels
    # issue 17: contrastive encoder
    contrastive_encoder: bool = False  # fine-tune the sentence encoder on pairs from the labels
    contrastive_every: int = 200  # new labels between fine-tunings (the first: at this many)
    contrastive_min_gain: float = 0.01  # held-out head accuracy it must add to be used
    contrastive_epochs: int = 1
    contrastive_max_pairs: int = 2000  # pairs per epoch: about 4-10 min on two CPU cores
    # unlabeled pool items whose kNN-verified guess joins the pairs: at most this many times
    # each label's training labels (0: human labels only; docs/contrastive.md)
    contrastive_pseudo_cap: float = 10.0
    # issue 17: self-training (pseudo-labels from the unlabeled pool, kNN-verified) and label
    # propagation over the embeddings' kNN graph
    # on by default, with propagation_weight 0.3 (measured: docs/label_efficiency.md)
    self_training: bool = True
    self_training_weight: float = 0.5  # a pseudo-label's weight in training (a human one: 1)
    self_training_quantile: float = 0.5  # per-class confidence quantile (the class threshold)
    self_training_cap: float = 3.0  # pseudo-labels per class: at most cap x its human labels
    self_training_k: int = 7  # labeled neighbours in the kNN vote that can veto a pseudo-label
    propagation_weight: float = 0.3  # blend of the spread labels into the probabilities; 0: off
    propagation_k: int = 10  # neighbours per item in the kNN graph
    propagation_alpha: float = 0.9  # label spreading: share of a node's labels from neighbours
    # the kNN graph's build time grows with the square of the items (7 s for 16,000, 58 s for
    # 50,000 on two cores): above this many non-test items propagation is skipped, with a note
    propagation_max_items: int = 20_000
    # issue 19: teams. An item several annotators labeled trains on the adjudicated label,
    # else on this rule's: "majority" (a tie: no training label, for review) or "reliable"
    # (the label of the annotator most often right, Dawid-Skene; store/resolution.py)
    training_label_rule: str = options.TrainingLabelRule.MAJORITY.value
    # issue 19: team guidelines (Markdown, shown as formatted plain text with nothing fetched)
    guidelines: str = ""
    # issue 20: several annotators at once on a server project. Each app holds this many queued
    # items (hidden from the others) on a lease it renews while open: an app that dies frees
    # its items this many seconds after its last renewal (store/claims.py)
    claim_window: int = 3
    claim_lease_s: float = 120.0
    # issue 20: this percent of each new batch (the overlap share) stays queued until two
    # different annotators have decided it, so their agreement can be measured (store/queue.py)
    claim_overlap: int = 0
    # issue 20: large pools. From this many items a round whose strategy reads the class
    # probabilities alone keeps the vectors in a cache file and scores the pool a
    # block at a time (loop/large_pool.py); 0: never
    large_pool_items: int = 200_000
    # issue 17 (propfade): the propagation blend's weight fades as the labels grow:
    # weight x fade / (fade + labels per class); 0: never fades (docs/label_efficiency.md)
    propagation_fade: float = 0.0

    @classmethod
    def from_rows(cls, rows: dict[str, Any]) -> ProjectSettings:
        """Build from stored rows, ignoring keys a newer alapp may have written."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in rows.items() if k in known})

    @classmethod
    def from_stored(cls, rows: dict[str, Any],
                    strategies: Collection[str]) -> tuple[ProjectSettings, list[str]]:
        """Like ``from_rows``, but a value that does not validate takes its default; the
        messages say which (for a warning: an old project opens rather than crashes)."""
        values: dict[str, Any] = {}
        repaired: list[str] = []
        for f in fields(cls):
            if f.name not in rows:
                continue
            problem = check_setting(f.name, rows[f.name], strategies)
            if problem is None:
                values[f.name] = rows[f.name]
            else:
                repaired.append(f"{problem}; using the default {default_of(f.name)!r}")
        return cls(**values), repaired

    def as_rows(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self, *, strategies: Collection[str]) -> None:
        """Raise an ``AlappError`` naming the first setting whose value is not allowed.

        ``strategies``: the known strategy names (the list lives in ``alapp.al``, above core).
        """
        for f in fields(self):
            problem = check_setting(f.name, getattr(self, f.name), strategies)
            if problem is not None:
                raise AlappError(problem)


def setting_names() -> list[str]:
    return [f.name for f in fields(ProjectSettings)]


def default_of(key: str) -> Any:
    for f in fields(ProjectSettings):
        if f.name == key:
            return f.default if f.default is not MISSING else None
    raise AlappError(_unknown(key))


def _type_of(key: str) -> str:
    for f in fields(ProjectSettings):
        if f.name == key:
            return str(f.type)
    raise AlappError(_unknown(key))


def _unknown(key: str) -> str:
    return f"unknown setting {key!r}; settings are {', '.join(setting_names())}"


_CHOICES: dict[str, type[StrEnum]] = {"classifier": Classifier, "device": Device,
                                      "cost_model": CostModel, "budget_unit": BudgetUnit,
                                      "task": TaskKind}
_CHOICES["multilabel_model"] = MultiLabelModel  # multi-label (issue 21)
# (holds for the value, what is allowed) for the fields with a range or a shape.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: v >= 0, "a whole number of at least 0"),
    "batch_size": (lambda v: v >= 1, "a whole number of at least 1"),
    "random_share": (lambda v: 0 <= v < 1, "a share from 0 up to (not including) 1"),
    "retrain_every": (lambda v: v >= 0, "a whole number of labels, at least 0 (0: manual)"),
    "mc_samples": (lambda v: v >= 1, "a whole number of at least 1"),
    "price_cap_s": (lambda v: v >= 0, "seconds, at least 0 (0: no cap)"),
    "target_accuracy": (lambda v: 0 <= v <= 1, "from 0 to 1 (0: none)"),
    "stop_set_size": (lambda v: v >= 0, "a whole number of at least 0"),
    "budget_amount": (lambda v: v >= 0, "at least 0 (0: no budget)"),
    "hourly_rate": (lambda v: v >= 0, "at least 0"),
    "idle_cutoff_s": (lambda v: v > 0, "seconds, more than 0"),
    "currency": (lambda v: bool(v.strip()), "a currency name, not empty"),
    # strategies (issue 16)
    "candidate_factor": (lambda v: 1 <= v <= 1000, "a whole number from 1 to 1000"),
    "diversity_ramp": (lambda v: v >= 1, "a whole number of labels, at least 1"),
    # budget and test set (issue 16)
    "test_margin": (lambda v: 0 < v < 0.5, "a share above 0 and below 0.5 (0.03: ±3 points)"),
    "test_confidence": (lambda v: 0.5 <= v < 1, "a level from 0.5 up to (not including) 1"),
    "temperature": (lambda v: 0 < v <= 100, "a number more than 0, at most 100 (1: as is)"),
    "passive_labels": (lambda v: v >= 0, "a whole number of labels, at least 0 (0: none)"),
    # fine-tuning (issue 16)
    "finetune_lr": (lambda v: 0 < v <= 0.1, "a learning rate above 0, at most 0.1 "
                    "(BERT fine-tuning: 1e-5 to 5e-5)"),
    "finetune_epochs": (lambda v: 1 <= v <= 100, "a whole number of epochs from 1 to 100"),
    "finetune_batch_size": (lambda v: 1 <= v <= 1024, "a whole number from 1 to 1024"),
}
# stream mode and validation (issue 16)
_CHOICES["selection_mode"] = options.SelectionMode
_CHOICES["span_model"] = options.SpanModel  # span projects (issue 18)
_RULES.update({
    "stream_ask_rate": (lambda v: 0 < v <= 1, "a share above 0 and at most 1"),
    "drift_every": (lambda v: v >= 0, "a whole number of labels, at least 0 (0: off)"),
    "drift_sample_size": (lambda v: v >= 20, "a whole number of at least 20"),
    "stratify_by": (lambda v: v == v.strip(), "a metadata key without surrounding spaces"),
})
_RULES["span_language"] = (  # spans (issue 18)
    lambda v: v == "" or (v.isascii() and v.isalpha() and v.islower() and 2 <= len(v) <= 3),
    'a language code such as en, ru or zh ("": detected per imported file)')
# cold start (issue 17)
_CHOICES["cold_start"] = options.ColdStart
_CHOICES["training_label_rule"] = options.TrainingLabelRule  # issue 19
_RULES["cold_start_labels"] = (lambda v: v >= 0, "a whole number of labels, at least 0 "
                               "(0: the first round only)")
# issue 17: contrastive encoder
_RULES.update({
    "contrastive_every": (lambda v: v >= 1, "a whole number of labels, at least 1"),
    "contrastive_min_gain": (lambda v: -1 <= v <= 1, "an accuracy gain from -1 to 1 (0.01: "
                             "one point; -1: always take the new encoder)"),
    "contrastive_epochs": (lambda v: 1 <= v <= 20, "a whole number of epochs from 1 to 20"),
    "contrastive_max_pairs": (lambda v: 2 <= v <= 1_000_000, "a whole number of pairs from 2 "
                              "to 1,000,000"),
    "contrastive_pseudo_cap": (lambda v: 0 <= v <= 100, "a multiple of each label's labels, "
                               "from 0 to 100 (0: human labels only)"),
})
# issue 17: self-training and label propagation
_RULES.update({
    "self_training_weight": (lambda v: 0 < v <= 1, "a weight above 0, at most 1 (a human "
                             "label's)"),
    "self_training_quantile": (lambda v: 0 <= v < 1, "a quantile from 0 up to (not "
                               "including) 1"),
    "self_training_cap": (lambda v: 0 <= v <= 100, "a multiple of each class's labels, "
                          "from 0 to 100"),
    "self_training_k": (lambda v: 1 <= v <= 100, "a whole number from 1 to 100"),
    "propagation_weight": (lambda v: 0 <= v <= 1, "a share from 0 to 1 (0: off)"),
    "propagation_k": (lambda v: 2 <= v <= 100, "a whole number from 2 to 100"),
    "propagation_alpha": (lambda v: 0 < v < 1, "a share above 0 and below 1"),
    "propagation_max_items": (lambda v: v >= 100, "a whole number of items, at least 100"),
})
# issue 20: several annotators at once (claims)
_RULES.update({
    "claim_window": (lambda v: 1 <= v <= 100, "a whole number of items from 1 to 100"),
    "claim_lease_s": (lambda v: 1 <= v <= 86_400, "seconds from 1 to 86400 (one day)"),
    "claim_overlap": (lambda v: 0 <= v <= 50, "a whole percent of the batch from 0 to 50 "
                      "(0: every item labeled once)"),
})
# issue 20: large pools
_RULES["large_pool_items"] = (lambda v: v >= 0, "a whole number of items, 0 or more (0: never)")
# issue 17 (propfade)
_RULES["propagation_fade"] = (lambda v: 0 <= v <= 100_000, "labels per class from 0 to "
                              "100,000 (0: the blend never fades)")
# issue 19: team guidelines
MAX_GUIDELINES = 200_000  # characters


def guidelines_problem(text: str) -> str | None:
    """What is wrong with a guidelines text (too long, a NUL character), without quoting it:
    it may be 200,000 characters long."""
    if len(text) > MAX_GUIDELINES:
        return f"{len(text):,} characters; guidelines hold at most {MAX_GUIDELINES:,}"
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        return f"a NUL character on line {line}; guidelines are text"
    return None


_TYPE_NAMES = {"bool": "true or false", "int": "a whole number", "float": "a number",
               "str": "a text"}


def check_setting(key: str, value: Any, strategies: Collection[str]) -> str | None:
    """What is wrong with ``key=value``, in one line naming both and what is allowed; None
    when it is allowed."""
    kind = _type_of(key)
    if not _has_type(value, kind):
        return f"{key}={value!r} is not allowed; {key} must be {_TYPE_NAMES[kind]}"
    if key == "guidelines":  # issue 19: never quoted (long)
        problem = guidelines_problem(value)
        return f"guidelines are not allowed: {problem}" if problem else None
    if key in _CHOICES:
        if value not in {c.value for c in _CHOICES[key]}:
            return f"{key}={value!r} is not allowed; {key} must be {allowed(_CHOICES[key])}"
    elif key == "strategy":
        if value not in strategies:
            return f"{key}={value!r} is not allowed; {key} must be one of {', '.join(strategies)}"
    elif key == "featurizer":
        try:
            FeaturizerSpec.parse(value)
        except AlappError as e:
            return f"{key}={value!r} is not allowed: {e}"
    elif key in _RULES:
        holds, what = _RULES[key]
        if not holds(value):
            return f"{key}={value!r} is not allowed; {key} must be {what}"
    return None


def _has_type(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    return isinstance(value, str)


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_setting(key: str, text: str) -> Any:
    """A typed value from text (the command line): ``batch_size=20`` gives 20. The value's
    range or choices are checked by ``validate``; only the type is checked here."""
    kind = _type_of(key)
    raw = text.strip()
    if kind == "bool":
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
    elif kind == "int":
        try:
            return int(raw)
        except ValueError:
            pass
    elif kind == "float":
        try:
            number = float(raw)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    else:
        return text
    raise AlappError(f"{key}={text!r} is not allowed; {key} must be {_TYPE_NAMES[kind]}")
