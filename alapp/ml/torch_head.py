"""What the torch head (``ml/mlp.py``) and the fused model (``ml/fusion.py``) share: the
outputs a round reads from one pass over the pool, and active transfer's will-be-wrong head
(seed 000): where would the model be wrong? It is learnt from labels the model did not train on:
the held-out share, or, when there are too few labels to hold any out, out-of-fold predictions
of fresh models (cross-fitting). The notes say which, in words."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import FROM_VALIDATION, Need
from alapp.ml.base import Outputs

# What a multi-label (sigmoid) head gives: no will-be-wrong head or loss modules.
MULTI_LABEL_PROVIDES = frozenset({Need.PROBS, Need.MC_PROBS, Need.HIDDEN, Need.ACTIVATIONS})


class TorchHead:
    """Mixed into a classifier that has ``cfg`` (``folds``, ``min_held_out``), ``notes``,
    ``_net`` and ``_wrong``, and that implements the three hooks below."""

    cfg: Any
    notes: list[str]
    _net: Any
    _wrong: str  # how WRONG_PROB is given: "head", "confidence" or "" (not yet)

    provides: frozenset[Need]

    @classmethod
    def provides_with(cls, cfg: Any) -> frozenset[Need]:
        """The will-be-wrong head is fit only when asked for (``validation_share``), the
        multi-layer loss module only built when asked for (``loss_layers``); a multi-label
        head gives ``MULTI_LABEL_PROVIDES``."""
        if cfg.multi_label:
            return cls.provides & MULTI_LABEL_PROVIDES
        out = cls.provides if cfg.validation_share > 0 else cls.provides - FROM_VALIDATION
        return out if cfg.loss_layers > 1 else out - {Need.PREDICTED_LOSS_LAYERS}

    def _forward(self, x: Any) -> list[Any]:
        """probs, activations, hidden, predicted loss, P(wrong) by the head, multi-layer
        predicted loss (empty without the module), in batches."""
        raise NotImplementedError

    def mc_probs(self, x: Any, samples: int = 20) -> Any:
        raise NotImplementedError

    def outputs(self, x: Any, needs: Collection[Need], mc_samples: int = 20) -> Outputs:
        """Probabilities and what of ``needs`` the model gives, from one pass over the pool
        (plus the dropout samples when asked)."""
        probs, pre, hidden, loss_pred, wrong, layered = self._forward(x)
        found: Outputs = {Need.ACTIVATIONS: pre, Need.HIDDEN: hidden,
                          Need.PREDICTED_LOSS: loss_pred}
        if self._wrong == "head":
            found[Need.WRONG_PROB] = wrong
        elif self._wrong == "confidence":
            found[Need.WRONG_PROB] = 1.0 - probs.max(axis=1)
        if Need.PREDICTED_LOSS_LAYERS in self.provides:
            found[Need.PREDICTED_LOSS_LAYERS] = layered
        out: Outputs = {Need.PROBS: probs}
        out.update({need: value for need, value in found.items()
                    if need in needs and need in self.provides})
        if Need.MC_PROBS in needs:
            out[Need.MC_PROBS] = self.mc_probs(x, mc_samples)
        return out

    def _fresh_fit(self, x: Any, y: NDArray[np.int64], rng: np.random.Generator) -> Any:
        """A new network trained from scratch on (x, y): one fold's model."""
        raise NotImplementedError

    def _predict(self, net: Any, x: Any) -> NDArray[np.int64]:
        raise NotImplementedError

    def _fit_wrong_head(self, x: Any, wrong: NDArray[np.float32]) -> None:
        raise NotImplementedError

    def _fit_wrong(self, x: Any, y: NDArray[np.int64], train: NDArray[np.int64],
                   valid: NDArray[np.int64], rng: np.random.Generator) -> None:
        if len(valid):
            wrong = (self._predict(self._net, x[valid]) != y[valid]).astype(np.float32)
            rows, how = valid, (f"will-be-wrong head fit on {len(valid)} held-out labels (the "
                                f"model trained on the other {len(train)})")
        elif len(y) >= 2:
            folds = min(self.cfg.folds, len(y))
            wrong = self._out_of_fold_wrong(x, y, folds, rng)
            rows = np.arange(len(y))
            how = (f"will-be-wrong head cross-fitted: {len(y)} labels are too few to hold "
                   f"{self.cfg.min_held_out} out, so each label's error comes from a "
                   f"{folds}-fold model that did not train on it")
        else:
            self._wrong = "confidence"
            self.notes.append("will-be-wrong head: one label, no errors to learn from yet; "
                              "using 1 - confidence instead")
            return
        if wrong.min() == wrong.max():
            self._wrong = "confidence"
            seen = "right" if wrong[0] == 0 else "wrong"
            self.notes.append(f"{how}; every prediction was {seen}, nothing to tell apart, "
                              "so using 1 - confidence instead")
            return
        self._fit_wrong_head(x[rows], wrong)
        self._wrong = "head"
        self.notes.append(how)

    def _out_of_fold_wrong(self, x: Any, y: NDArray[np.int64], folds: int,
                           rng: np.random.Generator) -> NDArray[np.float32]:
        """1 where a model trained without the label predicts it wrongly. A fold whose
        training part holds one class predicts that class, as any model would."""
        fold_of = rng.permutation(np.arange(len(y)) % folds)
        wrong = np.zeros(len(y), dtype=np.float32)
        for fold in range(folds):
            held, rest = np.flatnonzero(fold_of == fold), np.flatnonzero(fold_of != fold)
            if len(set(y[rest].tolist())) == 1:
                guess = np.full(len(held), y[rest][0])
            else:
                guess = self._predict(self._fresh_fit(x[rest], y[rest], rng), x[held])
            wrong[held] = (guess != y[held]).astype(np.float32)
        return wrong
