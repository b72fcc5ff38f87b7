"""A small torch head on embeddings: dropout for MC samples (BALD), and the optional heads the
learning-loss and active-transfer strategies score with.

    x -> Linear -> [BatchNorm] -> ReLU -> Dropout -> Linear -> class logits
                 ^ "activations" (before the non-linearity, for model-based outliers)
                                  ^ "hidden" (the last layer's input, for BADGE)
    hidden -> Linear -> predicted loss             (learning loss, trained jointly)
    hidden, logits, x -> FC+ReLU each -> concat -> Linear -> predicted loss
                                                   (learning loss on several layers, trained
                                                    jointly with a ranking loss: Yoo & Kweon)
    hidden -> Linear -> P(the model is wrong)      (active transfer)

The will-be-wrong head learns from labels the model did not train on: a held-out share once
there are enough labels for one (``min_held_out``), and below that out-of-fold predictions
(each label predicted by a model trained on the other folds), so it works from the first
labels. What it did is said in ``notes``.

Multi-label mode (``multi_label``, issue 21): the output layer is one sigmoid unit per label,
trained with binary cross-entropy on each item's set; per-label thresholds are tuned for F1 on
out-of-fold predictions (``alapp.ml.multilabel.out_of_fold_thresholds``, as the logistic
regressions do) and the probabilities come out shifted so that 0.5 is each label's threshold.
It gives probabilities, dropout samples (per-label), hidden units and activations; the loss and
will-be-wrong heads are single-label only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import Need
from alapp.ml.torch_head import TorchHead

Array = NDArray[np.float32]
LOSS_WIDTH = 16  # units of each layer's reduction in the multi-layer loss module
LOSS_MARGIN = 1.0  # the ranking loss's margin (Yoo & Kweon: 1)
DETACH_AFTER = 0.6  # share of epochs after which the loss module stops shaping the model


@dataclass
class MLPConfig:
    hidden: int = 256
    dropout: float = 0.3
    epochs: int = 40
    warm_epochs: int = 15  # later rounds start from the previous weights
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 32  # adapted so the last mini-batch is never tiny
    batch_norm: bool = True
    freeze_bn_when_warm: bool = False  # keep batch-norm statistics from the first round
    validation_share: float = 0.0  # > 0: fit the will-be-wrong head (this share held out)
    seed: int = 0
    device: str = "auto"
    loss_layers: int = 1  # > 1: also a loss module on 2 (hidden, logits) or 3 (+ input) layers
    min_held_out: int = 20  # labels a held-out share needs; fewer: cross-fitted instead
    folds: int = 3  # cross-fitting folds (at most one per label): 3 extra trainings
    multi_label: bool = False  # one sigmoid per label (issue 21), see the module


def _build(d: int, k: int, cfg: MLPConfig) -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(d, cfg.hidden)
            self.norm = nn.BatchNorm1d(cfg.hidden) if cfg.batch_norm else nn.Identity()
            self.drop = nn.Dropout(cfg.dropout)
            self.out = nn.Linear(cfg.hidden, k)
            self.loss_head = nn.Linear(cfg.hidden, 1)
            self.wrong_head = nn.Linear(cfg.hidden, 1)
            # Several layers, deepest first: each through its own small FC (the vectors have
            # no spatial axis, so global average pooling is the identity), then joined.
            widths = (cfg.hidden, k, d)[:cfg.loss_layers] if cfg.loss_layers > 1 else ()
            self.loss_taps = nn.ModuleList(
                nn.Sequential(nn.Linear(w, LOSS_WIDTH), nn.ReLU()) for w in widths)
            self.loss_join = nn.Linear(LOSS_WIDTH * len(widths), 1) if widths else None

        def forward(self, x: torch.Tensor,
                    detach_taps: bool = False) -> tuple[torch.Tensor | None, ...]:
            pre = self.norm(self.inp(x))
            hidden = self.drop(torch.relu(pre))
            logits = self.out(hidden)
            layered = None
            if self.loss_join is not None:
                taps = (hidden, logits, x)[:len(self.loss_taps)]
                if detach_taps:
                    taps = tuple(t.detach() for t in taps)
                joined = torch.cat([f(t) for f, t in zip(self.loss_taps, taps, strict=True)],
                                   dim=-1)
                layered = self.loss_join(joined).squeeze(-1)
            return logits, pre, hidden, self.loss_head(hidden).squeeze(-1), layered

    return Net()


def ranking_loss(predicted: Any, target: Any, margin: float = LOSS_MARGIN) -> Any:
    """Yoo & Kweon's loss for the loss module: the mini-batch split into pairs (i, j), and
    max(0, margin - sign(l_i - l_j) * (p_i - p_j)): only the order of the losses is learnt,
    not their scale, which shrinks as the model trains."""
    import torch

    half = len(predicted) // 2
    if half == 0:
        return predicted.sum() * 0.0
    p_i, p_j = predicted[:half], predicted[half:2 * half].flip(0)
    t_i, t_j = target[:half], target[half:2 * half].flip(0)
    sign = torch.where(t_i > t_j, 1.0, -1.0)
    return torch.clamp(margin - sign * (p_i - p_j), min=0).mean()


class MLPClassifier(TorchHead):
    # Everything the head can give; an instance configured without the will-be-wrong head or
    # the multi-layer loss module gives less (``provides_with``).
    provides = frozenset({Need.PROBS, Need.MC_PROBS, Need.HIDDEN, Need.ACTIVATIONS,
                          Need.PREDICTED_LOSS, Need.WRONG_PROB, Need.PREDICTED_LOSS_LAYERS})
    takes_texts = False
    needs_dense = True  # torch reads dense rows: LSA embeddings rather than sparse TF-IDF
    several_inputs = False

    def __init__(self, labels: Sequence[str], config: MLPConfig | None = None) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self.cfg = config or MLPConfig()
        self.provides = self.provides_with(self.cfg)
        self._net: Any = None
        self._device = "cpu"
        self._wrong = ""  # how WRONG_PROB is given: "head", "confidence" or "" (not yet)
        self.notes: list[str] = []  # what the last fit fell back to, in words
        self.fits = 0
        self.thresholds: NDArray[np.floating] = np.full(len(self.labels), 0.5)  # multi-label

    # -- training ------------------------------------------------------------------------------

    def fit(self, x: Array, y: Sequence[str]) -> None:
        from alapp.ml.embedders import pick_device

        self._device = pick_device(self.cfg.device)
        self._seed(self.cfg.seed + self.fits)
        rng = np.random.default_rng(self.cfg.seed + self.fits)
        if self.cfg.multi_label:
            self._fit_multi_label(x, y, rng)
            return
        targets = np.array([self.labels.index(label) for label in y])
        self.classes = sorted(set(y), key=self.labels.index)
        self.notes = []
        train, valid = self._split(len(targets), rng)
        warm = self._net is not None and self._net.inp.in_features == x.shape[1]
        if not warm:
            self._net = _build(x.shape[1], len(self.labels), self.cfg).to(self._device)
        epochs = self.cfg.warm_epochs if warm else self.cfg.epochs
        self._train(self._net, x[train], targets[train], epochs, rng,
                    freeze_bn=warm and self.cfg.freeze_bn_when_warm)
        if self.cfg.validation_share > 0:
            self._fit_wrong(x, targets, train, valid, rng)
        self.fits += 1

    def _fit_multi_label(self, x: Array, y: Sequence[str], rng: np.random.Generator) -> None:
        """``y``: each item's set as stored ("a|b"; "" for none of these)."""
        from alapp.ml.multilabel import out_of_fold_thresholds, targets

        truth = targets(y, self.labels)
        self.classes = [name for j, name in enumerate(self.labels) if truth[:, j].any()]
        self.notes = []
        warm = self._net is not None and self._net.inp.in_features == x.shape[1]
        if not warm:
            self._net = _build(x.shape[1], len(self.labels), self.cfg).to(self._device)
        epochs = self.cfg.warm_epochs if warm else self.cfg.epochs
        target = truth.astype(np.float32)

        def fit_predict(train: NDArray[np.int64], held: NDArray[np.int64]) -> Array:
            net = _build(x.shape[1], len(self.labels), self.cfg).to(self._device)
            self._train(net, x[train], target[train], self.cfg.epochs, rng, freeze_bn=False)
            return self._sigmoid(net, x[held])

        self.thresholds = out_of_fold_thresholds(truth, fit_predict, self.cfg.seed + self.fits,
                                                 self.cfg.folds)
        self._train(self._net, x, target, epochs, rng,
                    freeze_bn=warm and self.cfg.freeze_bn_when_warm)
        self.fits += 1

    def _sigmoid(self, net: Any, x: Array) -> Array:
        import torch

        net.eval()
        with torch.no_grad():
            logits = net(torch.as_tensor(x, dtype=torch.float32, device=self._device))[0]
        return np.asarray(torch.sigmoid(logits).cpu().numpy(), dtype=np.float32)

    def _to_probs(self, logits: Any) -> Array:
        """Softmax over the classes, or (multi-label) per-label sigmoids shifted so that 0.5
        is each label's tuned threshold."""
        import torch

        if not self.cfg.multi_label:
            return np.asarray(torch.softmax(logits.float(), 1).cpu().numpy())
        from alapp.al.multilabel import shift_to_threshold

        raw = torch.sigmoid(logits.float()).cpu().numpy()
        return np.asarray(shift_to_threshold(raw, self.thresholds), dtype=np.float32)

    @staticmethod
    def _seed(seed: int) -> None:
        import torch

        torch.manual_seed(seed)

    def _split(self, n: int, rng: np.random.Generator) -> tuple[NDArray[np.int64], ...]:
        """Training and held-out rows: a held-out share only once it has ``min_held_out``
        labels (fewer would teach the will-be-wrong head noise: 000 warns it overfits)."""
        order = rng.permutation(n)
        n_valid = int(n * self.cfg.validation_share)
        if n_valid < self.cfg.min_held_out:
            n_valid = 0
        return order[n_valid:], order[:n_valid]

    def _train(self, net: Any, x: Array, y: NDArray[Any], epochs: int,
               rng: np.random.Generator, freeze_bn: bool) -> None:
        """``y``: class indices, or (multi-label) an (n, labels) 0/1 matrix."""
        import torch
        from torch.nn import functional

        opt = torch.optim.AdamW(net.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)
        xt = torch.as_tensor(x, dtype=torch.float32, device=self._device)
        multi = self.cfg.multi_label
        yt = torch.as_tensor(y, dtype=torch.float32 if multi else torch.long,
                             device=self._device)
        net.train()
        if freeze_bn and self.cfg.batch_norm:
            net.norm.eval()  # active phase: keep the statistics of the first training
        detach_from = int(epochs * DETACH_AFTER)
        for epoch in range(epochs):
            order = torch.as_tensor(rng.permutation(len(y)), device=self._device)
            for part in minibatch_slices(len(y), self.cfg.batch_size):
                rows = order[part]
                if len(rows) < 2 and self.cfg.batch_norm and not freeze_bn:
                    continue  # batch norm cannot train on a single example
                logits, _, _, loss_pred, layered = net(xt[rows],
                                                       detach_taps=epoch >= detach_from)
                if multi:  # one binary decision per label, independent of the others
                    loss = functional.binary_cross_entropy_with_logits(logits, yt[rows])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    continue
                per_example = functional.cross_entropy(logits, yt[rows], reduction="none")
                # Learning loss: the head learns to predict each example's (log) loss.
                head_loss = functional.mse_loss(loss_pred,
                                                torch.log1p(per_example.detach()))
                loss = per_example.mean() + 0.1 * head_loss
                if layered is not None:  # the multi-layer module learns the losses' order
                    loss = loss + ranking_loss(layered, per_example.detach())
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()

    def _fresh_fit(self, x: Array, y: NDArray[np.int64], rng: np.random.Generator) -> Any:
        net = _build(x.shape[1], len(self.labels), self.cfg).to(self._device)
        self._train(net, x, y, self.cfg.epochs, rng, freeze_bn=False)
        return net

    def _predict(self, net: Any, x: Array) -> NDArray[np.int64]:
        import torch

        with torch.no_grad():
            logits = net(torch.as_tensor(x, dtype=torch.float32, device=self._device))[0]
        return np.asarray(logits.argmax(1).cpu().numpy(), dtype=np.int64)

    def _fit_wrong_head(self, x: Array, wrong: NDArray[np.float32]) -> None:
        import torch
        from torch.nn import functional

        net = self._net
        with torch.no_grad():
            hidden = net(torch.as_tensor(x, dtype=torch.float32, device=self._device))[2]
        head = net.wrong_head
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
        target = torch.as_tensor(wrong, device=self._device)
        for _ in range(100):
            loss = functional.binary_cross_entropy_with_logits(head(hidden).squeeze(-1),
                                                               target)
            opt.zero_grad()
            loss.backward()
            opt.step()

    # -- prediction ------------------------------------------------------------------------------

    def _forward(self, x: Array, batch: int = 8192) -> list[Array]:
        """probs, activations, hidden, predicted loss, P(wrong) by the head, multi-layer
        predicted loss (empty without the module)."""
        import torch

        outs: list[list[Any]] = [[], [], [], [], [], []]
        self._net.eval()
        with torch.inference_mode():
            for start in range(0, len(x), batch):
                xt = torch.as_tensor(x[start:start + batch], device=self._device)
                logits, pre, hidden, loss_pred, layered = self._net(xt)
                wrong = torch.sigmoid(self._net.wrong_head(hidden).squeeze(-1))
                values = (torch.as_tensor(self._to_probs(logits)), pre, hidden, loss_pred,
                          wrong, layered)
                for bucket, value in zip(outs, values, strict=True):
                    if value is not None:
                        bucket.append(value.float().cpu().numpy())
        return [np.concatenate(b) if b else np.zeros((0,), np.float32) for b in outs]

    def predict_proba(self, x: Array) -> Array:
        return self._forward(x)[0]

    def mc_probs(self, x: Array, samples: int = 20, batch: int = 8192) -> Array:
        """Monte-Carlo dropout: dropout stays on, batch norm uses its running statistics."""
        import torch

        net = self._net
        net.eval()
        net.drop.train()
        torch.manual_seed(self.cfg.seed)
        out = np.zeros((samples, len(x), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(x), batch):
                xt = torch.as_tensor(x[start:start + batch], device=self._device)
                pre = net.norm(net.inp(xt))
                act = torch.relu(pre)
                for s in range(samples):  # only the cheap tail is repeated per sample
                    logits = net.out(net.drop(act))
                    out[s, start:start + len(xt)] = self._to_probs(logits)
        net.eval()
        return out

    # -- weights (safetensors only) -----------------------------------------------------------

    def weights(self) -> bytes | None:
        if self._net is None:
            return None
        import torch
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in self._net.state_dict().items()}
        if self.cfg.multi_label:  # the tuned per-label thresholds belong to the model
            tensors["thresholds"] = torch.as_tensor(np.asarray(self.thresholds, np.float32))
        return save(tensors)
