"""Choosing the classifier a round needs, and keeping it between rounds.

The choice asks what each kind of classifier provides (``provides``, ``several_inputs``): the
one the settings ask for when it gives what the strategy needs, otherwise the first fallback
that does. The model is derived state: it is rebuilt from the store whenever the settings
change, and warm-started from the previous round's weights when they do not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alapp.al.needs import DERIVED, FROM_MODEL, FROM_VALIDATION, Need
from alapp.al.registry import MULTI_LABEL_STRATEGIES, get_strategy
from alapp.core import options
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.ml.base import Classifier
from alapp.ml.classifier import LogisticClassifier
from alapp.ml.committee import Committee
from alapp.ml.families import mixed_member
from alapp.ml.finetune import TransformerClassifier
from alapp.ml.fusion import LateFusionClassifier
from alapp.ml.mlp import MLPClassifier, MLPConfig
from alapp.ml.multilabel import MultiLabelClassifier
from alapp.ml.propagation import PropagationClassifier

FUSION = "fusion"  # chosen automatically for several inputs, never asked for by name
# Needs a model is built for (an extra head): a change of them builds a new model.
BUILT_FOR = FROM_VALIDATION | {Need.PREDICTED_LOSS_LAYERS}
Build = Callable[[Sequence[str], ProjectSettings, frozenset[Need]], Classifier]


@dataclass(frozen=True)
class KindSpec:
    name: str
    model: type[Classifier]  # the class, for what it declares (provides, input)
    build: Build

    @property
    def provides(self) -> frozenset[Need]:
        return self.model.provides

    def accepts(self, several_inputs: bool) -> bool:
        """A fusion model needs several inputs; the others read one (the joined embeddings
        when there are several)."""
        return several_inputs or not self.model.several_inputs


def _logreg(labels: Sequence[str], s: ProjectSettings, _: frozenset[Need]) -> Classifier:
    return LogisticClassifier(labels, seed=s.seed)


def _committee(labels: Sequence[str], s: ProjectSettings, _: frozenset[Need]) -> Classifier:
    return Committee(labels, lambda i: LogisticClassifier(labels, seed=s.seed + i),
                     seed=s.seed)


def _mixed_committee(labels: Sequence[str], s: ProjectSettings,
                     _: frozenset[Need]) -> Classifier:
    """Seed 000: committee members of different families disagree for different reasons."""
    return Committee(labels, lambda i: mixed_member(labels, i, s.seed), size=6, seed=s.seed)


def _mlp(labels: Sequence[str], s: ProjectSettings, needs: frozenset[Need]) -> Classifier:
    share = 0.2 if needs & FROM_VALIDATION else 0.0  # held out for the will-be-wrong head
    layers = 3 if Need.PREDICTED_LOSS_LAYERS in needs else 1  # input, hidden and logits
    return MLPClassifier(labels, MLPConfig(seed=s.seed, device=s.device, validation_share=share,
                                           freeze_bn_when_warm=s.freeze_batchnorm,
                                           loss_layers=layers))


def _finetune(labels: Sequence[str], s: ProjectSettings, _: frozenset[Need]) -> Classifier:
    return TransformerClassifier(labels, Path(s.model_folder) if s.model_folder else None,
                                 device=s.device, seed=s.seed, epochs=s.finetune_epochs,
                                 lr=s.finetune_lr, batch_size=s.finetune_batch_size)


def _fusion(labels: Sequence[str], s: ProjectSettings, needs: frozenset[Need]) -> Classifier:
    share = 0.2 if needs & FROM_VALIDATION else 0.0  # held out for the will-be-wrong head
    layers = 3 if Need.PREDICTED_LOSS_LAYERS in needs else 1  # hidden, prediction and inputs
    # freeze_batchnorm does not apply: the fused model has no batch norm
    return LateFusionClassifier(labels, seed=s.seed, device=s.device, validation_share=share,
                                loss_layers=layers)


def _propagation(labels: Sequence[str], s: ProjectSettings, _: frozenset[Need]) -> Classifier:
    """Issue 17: label spreading; the round hands it the kNN graph (``use_graph``)."""
    return PropagationClassifier(labels, alpha=s.propagation_alpha)


KINDS: dict[str, KindSpec] = {spec.name: spec for spec in (
    KindSpec(options.Classifier.LOGREG, LogisticClassifier, _logreg),
    KindSpec(options.Classifier.MLP, MLPClassifier, _mlp),
    KindSpec(options.Classifier.COMMITTEE, Committee, _committee),
    KindSpec(options.Classifier.FINETUNE, TransformerClassifier, _finetune),
    KindSpec(options.Classifier.MIXED_COMMITTEE, Committee, _mixed_committee),
    KindSpec(FUSION, LateFusionClassifier, _fusion),
    KindSpec(options.Classifier.PROPAGATION, PropagationClassifier, _propagation),
)}
# Tried in this order when the asked-for kind lacks what the strategy needs (fine-tuning is
# never a fallback: it is slow and needs a model folder).
FALLBACKS = (options.Classifier.LOGREG, options.Classifier.MLP, options.Classifier.COMMITTEE)


def choose_kind(settings: ProjectSettings, several_inputs: bool = False) -> str:
    """The kind of classifier for the settings' strategy and classifier, by what each kind
    provides; an ``AlappError`` naming the strategy and the need when none provides it."""
    spec = get_strategy(settings.strategy)
    required = frozenset(DERIVED.get(n, n) for n in spec.needs) & FROM_MODEL
    asked = FUSION if several_inputs else settings.classifier
    if asked not in KINDS:
        raise AlappError(f"classifier={asked!r} is not allowed; classifier must be one of "
                         f"{', '.join(options.Classifier)}")
    candidates = [KINDS[name] for name in dict.fromkeys([asked, *FALLBACKS])
                  if KINDS[name].accepts(several_inputs)]
    for kind in candidates:
        if required <= kind.provides:
            return kind.name
    offered: frozenset[Need] = frozenset().union(*(k.provides for k in candidates))
    missing = sorted(required - offered) or sorted(required)
    inputs = f"the featurizer {settings.featurizer!r}"
    if required <= offered:
        raise AlappError(f"strategy {spec.name!r} needs {' and '.join(missing)} together, "
                         f"which no one classifier provides with {inputs}")
    need = ", ".join(f"{n} ({n.description})" for n in missing)
    raise AlappError(f"strategy {spec.name!r} needs {need}, which no classifier provides "
                     f"with {inputs}; choose another strategy")


class ModelKeeper:
    """Holds the current model so that the next round can warm-start from it."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self.model: Classifier | None = None

    def model_for(self, settings: ProjectSettings, labels: Sequence[str], dim: int,
                  several_inputs: bool = False) -> Classifier:
        """The classifier for these settings and labels: the kept one while nothing it was
        built from changed, else a new one."""
        if settings.multi_label:
            return self._multi_label(settings, labels, dim, several_inputs)
        kind = choose_kind(settings, several_inputs)
        needs = get_strategy(settings.strategy).all_needs
        key = (kind, tuple(labels), dim, settings.featurizer, settings.seed, settings.device,
               settings.model_folder, needs & BUILT_FOR, settings.freeze_batchnorm,
               # fine-tuning (issue 16): new hyper-parameters, a new fine-tune
               (settings.finetune_lr, settings.finetune_epochs, settings.finetune_batch_size)
               if kind == options.Classifier.FINETUNE else None,
               settings.propagation_alpha if kind == options.Classifier.PROPAGATION else None)
        if key != self._key or self.model is None:
            self._key, self.model = key, KINDS[kind].build(labels, settings, needs)
        return self.model

    def _multi_label(self, settings: ProjectSettings, labels: Sequence[str], dim: int,
                     several_inputs: bool = False) -> Classifier:
        """A multi-label project's model (issue 21): one logistic regression per label or a
        chain (``multilabel_model``), or a sigmoid head on the MLP, the late-fusion model
        (several inputs) or the fine-tuned transformer."""
        spec = get_strategy(settings.strategy)
        kind = multi_label_kind(settings, several_inputs)
        missing = sorted((frozenset(spec.needs) & FROM_MODEL) - MULTI_LABEL_PROVIDES[kind])
        if missing:
            need = ", ".join(f"{n} ({n.description})" for n in missing)
            raise AlappError(f"strategy {spec.name!r} needs {need}, which the multi-label "
                             "model does not provide; choose a multi-label strategy "
                             "(alapp strategies)")
        reads = ("probabilities" if Need.PROBS in spec.needs else
                 "dropout samples' probabilities" if Need.MC_PROBS in spec.needs else "")
        if reads and spec.name not in MULTI_LABEL_STRATEGIES:
            raise AlappError(f"strategy {spec.name!r} reads the {reads} as one choice "
                             "among the labels; a multi-label project needs a multi-label "
                             f"strategy ({', '.join(sorted(MULTI_LABEL_STRATEGIES))}), or a "
                             "diversity one (cluster, coreset) or random")
        key = ("multi-label", kind, settings.multilabel_model, tuple(labels), dim,
               settings.featurizer, settings.seed, settings.device, settings.model_folder,
               settings.freeze_batchnorm,
               (settings.finetune_lr, settings.finetune_epochs, settings.finetune_batch_size)
               if kind == options.Classifier.FINETUNE else None)
        if key != self._key or self.model is None:
            self._key = key
            self.model = multi_label_model(labels, settings, several_inputs)
        return self.model


def multi_label_kind(settings: ProjectSettings, several_inputs: bool = False) -> str:
    """The classifier a multi-label project trains: the late-fusion model for several inputs
    (as in a single-label project), else the asked-for one; a committee is refused."""
    if several_inputs:
        return FUSION
    if settings.classifier not in MULTI_LABEL_PROVIDES:
        raise AlappError(f"classifier={settings.classifier!r} has no multi-label form: its "
                         "members vote for one label per item and there is no multi-label "
                         "committee; set classifier=logreg, mlp or finetune")
    return settings.classifier


# What each multi-label model gives (per-label probabilities; the torch heads more).
MULTI_LABEL_PROVIDES: dict[str, frozenset[Need]] = {
    options.Classifier.LOGREG: MultiLabelClassifier.provides,
    options.Classifier.MLP: MLPClassifier.provides_with(MLPConfig(multi_label=True)),
    options.Classifier.FINETUNE: TransformerClassifier.provides,
    FUSION: LateFusionClassifier.provides_with(MLPConfig(multi_label=True)),
}


def multi_label_model(labels: Sequence[str], settings: ProjectSettings,
                      several_inputs: bool = False) -> Classifier:
    """The multi-label model of ``multi_label_kind``; chains (``multilabel_model``) are a
    form of the logistic regressions only."""
    s = settings
    kind = multi_label_kind(s, several_inputs)
    if kind == options.Classifier.MLP:
        return MLPClassifier(labels, MLPConfig(seed=s.seed, device=s.device,
                                               freeze_bn_when_warm=s.freeze_batchnorm,
                                               multi_label=True))
    if kind == options.Classifier.FINETUNE:
        return TransformerClassifier(labels, Path(s.model_folder) if s.model_folder else None,
                                     device=s.device, seed=s.seed, epochs=s.finetune_epochs,
                                     lr=s.finetune_lr, batch_size=s.finetune_batch_size,
                                     multi_label=True)
    if kind == FUSION:
        return LateFusionClassifier(labels, seed=s.seed, device=s.device, multi_label=True)
    return MultiLabelClassifier(labels, chains=s.multilabel_model == "chains", seed=s.seed)


def baseline_model(labels: Sequence[str], settings: ProjectSettings) -> Classifier:
    """The plain model the random-share baseline trains: logistic regression, per label in a
    multi-label project."""
    if settings.multi_label:
        return MultiLabelClassifier(labels, chains=settings.multilabel_model == "chains",
                                    seed=settings.seed)
    return LogisticClassifier(labels, seed=settings.seed)
