"""Choosing and running the classifier a round needs, and keeping it between rounds.

The model is derived state: it is rebuilt from the store whenever the settings change, and
warm-started from the previous round's weights when they do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alapp.al.registry import get_strategy
from alapp.core.settings import ProjectSettings
from alapp.ml.classifier import LogisticClassifier
from alapp.ml.committee import Committee
from alapp.ml.mlp import MLPClassifier, MLPConfig

CLASSIFIERS = ("logreg", "mlp", "committee", "finetune")
# Strategies whose inputs only the torch head provides.
_MLP_ONLY = {"hidden", "activations", "validation_activations", "mc_probs", "wrong_prob",
             "predicted_loss"}


@dataclass
class PoolOutputs:
    probs: np.ndarray
    extra: dict[str, Any]


class ModelKeeper:
    """Holds the current model so that the next round can warm-start from it."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self.model: Any = None

    def model_for(self, settings: ProjectSettings, labels: Sequence[str], dim: int,
                  needs: set[str], several_inputs: bool = False) -> Any:
        kind = settings.classifier
        if several_inputs:
            kind = "fusion"  # one head per input plus a fused head
        elif needs & _MLP_ONLY:
            kind = "mlp"  # the strategy needs what only the torch head gives
        if needs & {"committee_probs"} and kind != "committee":
            kind = "committee"
        key = (kind, tuple(labels), dim, settings.featurizer, settings.seed,
               bool(needs & {"wrong_prob", "validation_activations"}))
        if key != self._key:
            self._key, self.model = key, _make(kind, labels, settings, needs)
        return self.model


def _make(kind: str, labels: Sequence[str], s: ProjectSettings, needs: set[str]) -> Any:
    if kind == "logreg":
        return LogisticClassifier(labels, seed=s.seed)
    if kind == "committee":
        return Committee(labels, lambda i: LogisticClassifier(labels, seed=s.seed + i),
                         seed=s.seed)
    if kind == "fusion":
        from alapp.ml.fusion import LateFusionClassifier

        return LateFusionClassifier(labels, seed=s.seed)
    if kind == "finetune":
        from pathlib import Path

        from alapp.ml.finetune import TransformerClassifier

        return TransformerClassifier(labels, Path(s.model_folder) if s.model_folder else None,
                                     device=s.device, seed=s.seed)
    if kind == "mlp":
        share = 0.2 if needs & {"wrong_prob", "validation_activations"} else 0.0
        return MLPClassifier(labels, MLPConfig(seed=s.seed, device=s.device,
                                               validation_share=share))
    raise ValueError(f"unknown classifier {kind!r}; choose one of {', '.join(CLASSIFIERS)}")


def strategy_needs(name: str) -> set[str]:
    spec = get_strategy(name)
    return set(spec.needs) | set(spec.optional)


def pool_outputs(model: Any, x: Any, needs: set[str], mc_samples: int) -> PoolOutputs:
    extra: dict[str, Any] = {}
    if isinstance(model, MLPClassifier):
        extra = model.outputs(x)
        probs = extra.pop("probs")
        if "mc_probs" in needs:
            extra["mc_probs"] = model.mc_probs(x, mc_samples)
    else:
        probs = model.predict_proba(x)
        if isinstance(model, Committee):
            extra["committee_probs"] = model.committee_probs(x)
    return PoolOutputs(np.asarray(probs), extra)


def model_weights(model: Any) -> bytes | None:
    """The model's weights as safetensors bytes (never a pickle)."""
    if isinstance(model, MLPClassifier) or hasattr(model, "save_folder") \
            or type(model).__name__ == "LateFusionClassifier":
        weights: bytes = model.weights()
        return weights
    arrays: dict[str, np.ndarray] = {}
    if isinstance(model, LogisticClassifier):
        arrays = model.weights()
    elif isinstance(model, Committee):
        for i, member in enumerate(model.members):
            if isinstance(member, LogisticClassifier):
                arrays.update({f"member{i}.{k}": v for k, v in member.weights().items()})
    if not arrays:
        return None
    from safetensors.numpy import save

    return save(arrays)

