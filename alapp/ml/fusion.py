"""Late fusion for several vectors per item (for example text and image embeddings), where an
item may lack some of them (a post with text only, or an image only).

    x_i -> Linear -> ReLU -> Dropout -> h_i (zero where input i is missing) -> head_i -> logits_i
           ^ "activations" (before the non-linearity, every input's joined)
    [h_1 .. h_m] -> fused -> logits_f      (the fused head's input is "hidden", for BADGE)
    [h_1 .. h_m] -> Linear -> predicted loss           (learning loss, trained jointly)
    [h_1 .. h_m], log p, [x_1 .. x_m] -> FC+ReLU each -> concat -> Linear -> predicted loss
                                      (learning loss on several layers: Yoo & Kweon's ranking
                                       loss, as in ``alapp.ml.mlp``)
    [h_1 .. h_m] -> Linear -> P(the model is wrong)    (active transfer)

The prediction combines the heads an item has: the fused head always, and each input's head
where that input exists, weighted by the heads' learned precisions exp(-s_i). Training weights
the per-head losses by those learned variances (Kendall, Gal & Cipolla, 2018: loss = sum
exp(-s_i) L_i + s_i), each head's loss taken only over the items that have its input, as the
seeds' multimodal design (001: text and image heads plus a fused one) describes.

It provides what the torch head of ``alapp.ml.mlp`` provides (MC dropout samples, last-layer
inputs, activations, the loss heads and the will-be-wrong head) and takes the same
``MLPConfig``; batch normalisation does not apply (missing inputs are zero rows, which would
skew its statistics). As there, the will-be-wrong head learns from labels the model did not
train on: a held-out share once there are ``min_held_out`` labels for one, out-of-fold
predictions below that; ``notes`` says which.

Multi-label mode (``multi_label`` in the config, issue 21): every head ends in one sigmoid per
label, each head's loss is the binary cross-entropy over the labels, taken only over the items
that have its input, and the prediction is the precision-weighted mean of the per-label
probabilities of the heads the item has. Thresholds are tuned per label on out-of-fold
predictions, as ``alapp.ml.mlp`` does in that mode, and the probabilities come out shifted so
that 0.5 is each label's threshold. It then gives probabilities, per-label dropout samples,
hidden units and activations (the loss and will-be-wrong heads are single-label only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import Need
from alapp.ml.mlp import (
    DETACH_AFTER,
    LOSS_WIDTH,
    MLPConfig,
    ranking_loss,
)
from alapp.ml.torch_head import TorchHead

Array = NDArray[np.float32]
Mask = NDArray[np.bool_]

LOSS_HEAD_WEIGHT = 0.1
# The configuration when none is given (tests shrink it).
DEFAULTS = MLPConfig(hidden=128, dropout=0.2, batch_norm=False)


class MultiInput:
    """Several aligned matrices that index together: ``m[rows]`` slices every part and its
    ``present`` mask (False: the item lacks that input; its row is zeros)."""

    def __init__(self, parts: Sequence[Array], present: Sequence[Mask] | None = None) -> None:
        self.parts = list(parts)
        n = len(self.parts[0])
        self.present = ([np.asarray(m, dtype=bool) for m in present] if present is not None
                        else [np.ones(n, dtype=bool) for _ in self.parts])
        if len(self.present) != len(self.parts) or any(len(m) != n for m in self.present):
            raise ValueError("one presence mask per input, one entry per row")
        self.shape = (n, sum(p.shape[1] for p in self.parts))

    def __getitem__(self, rows: Any) -> MultiInput:
        return MultiInput([p[rows] for p in self.parts], [m[rows] for m in self.present])

    def __len__(self) -> int:
        return self.shape[0]

    def mask_matrix(self) -> Array:
        """(n, m): 1 where the item has input i."""
        return np.stack(self.present, axis=1).astype(np.float32)


def _build(dims: list[int], k: int, cfg: MLPConfig) -> Any:
    import torch
    from torch import nn

    h = cfg.hidden

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoders = nn.ModuleList([nn.Linear(d, h) for d in dims])
            self.drop = nn.Dropout(cfg.dropout)
            self.heads = nn.ModuleList([nn.Linear(h, k) for _ in dims])
            self.fused = nn.Linear(h * len(dims), k)
            # log-variances: one per input head and one for the fused head
            self.log_var = nn.Parameter(torch.zeros(len(dims) + 1))
            self.loss_head = nn.Linear(h * len(dims), 1)
            self.wrong_head = nn.Linear(h * len(dims), 1)
            # The loss module on several layers, deepest first: the joined hidden units, the
            # log of the combined prediction, the inputs (masked); each through its own FC.
            layers = cfg.loss_layers if cfg.loss_layers > 1 else 0
            widths = (h * len(dims), k, sum(dims))[:layers]
            self.loss_taps = nn.ModuleList(
                nn.Sequential(nn.Linear(w, LOSS_WIDTH), nn.ReLU()) for w in widths)
            self.loss_join = nn.Linear(LOSS_WIDTH * len(widths), 1) if widths else None

        def encode(self, xs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
            """Every input's pre-activations, joined; zeros where an input is missing."""
            return torch.cat([enc(x) * mask[:, i:i + 1]
                              for i, (enc, x) in enumerate(zip(self.encoders, xs, strict=True))],
                             dim=1)

        def tail(self, pre: torch.Tensor,
                 mask: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
            """Logits of every head (inputs first, fused last) and the fused head's input."""
            hidden = self.drop(torch.relu(pre))
            parts = [p * mask[:, i:i + 1] for i, p in enumerate(hidden.split(h, dim=1))]
            joined = torch.cat(parts, dim=1)
            logits = [head(p) for head, p in zip(self.heads, parts, strict=True)]
            return [*logits, self.fused(joined)], joined

        def combine(self, logits: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
            """The prediction: the heads the item has, weighted by their learned precision."""
            have = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            weight = have * torch.exp(-self.log_var)
            weight = weight / weight.sum(dim=1, keepdim=True)
            squash = torch.sigmoid if cfg.multi_label else (lambda o: torch.softmax(o, dim=1))
            probs = torch.stack([squash(o) for o in logits], dim=1)
            return (weight.unsqueeze(-1) * probs).sum(dim=1)

        def layered(self, xs: list[torch.Tensor], mask: torch.Tensor, joined: torch.Tensor,
                    probs: torch.Tensor, detach: bool) -> torch.Tensor | None:
            """The multi-layer loss module's prediction (None without the module)."""
            if self.loss_join is None:
                return None
            inputs = torch.cat([x * mask[:, i:i + 1] for i, x in enumerate(xs)], dim=1)
            taps = (joined, torch.log(probs.clamp_min(1e-8)), inputs)[:len(self.loss_taps)]
            if detach:  # late in training the module stops shaping the model
                taps = tuple(t.detach() for t in taps)
            out: torch.Tensor = self.loss_join(torch.cat(
                [f(t) for f, t in zip(self.loss_taps, taps, strict=True)], dim=1)).squeeze(-1)
            return out

        def forward(self, xs: list[torch.Tensor], mask: torch.Tensor,
                    detach_taps: bool = False) -> tuple[Any, ...]:
            pre = self.encode(xs, mask)
            logits, joined = self.tail(pre, mask)
            probs = self.combine(logits, mask)
            return (logits, probs, pre, joined, self.loss_head(joined).squeeze(-1),
                    self.layered(xs, mask, joined, probs, detach_taps))

    return Net()


class LateFusionClassifier(TorchHead):
    # What the torch head gives (``alapp.ml.mlp``); an instance configured without the
    # will-be-wrong head or the multi-layer loss module gives less (``provides_with``).
    provides = frozenset({Need.PROBS, Need.MC_PROBS, Need.HIDDEN, Need.ACTIVATIONS,
                          Need.PREDICTED_LOSS, Need.WRONG_PROB, Need.PREDICTED_LOSS_LAYERS})
    takes_texts = False
    needs_dense = True
    several_inputs = True  # one head per input matrix

    def __init__(self, labels: Sequence[str], config: MLPConfig | None = None,
                 **overrides: Any) -> None:
        """``overrides``: fields of the config (``hidden=16, epochs=30``)."""
        self.labels = list(labels)
        self.classes: list[str] = []
        base = config or DEFAULTS
        self.cfg = replace(base, **overrides)
        self.provides = self.provides_with(self.cfg)
        self._net: Any = None
        self._dims: list[int] = []
        self._device = "cpu"
        self._wrong = ""  # how WRONG_PROB is given: "head", "confidence" or "" (not yet)
        self.notes: list[str] = []  # what the last fit fell back to, in words
        self.fits = 0
        self.thresholds: NDArray[np.floating] = np.full(len(self.labels), 0.5)  # multi-label

    # -- training ------------------------------------------------------------------------------

    def _tensors(self, xs: MultiInput) -> tuple[list[Any], Any]:
        import torch

        parts = [torch.as_tensor(np.asarray(p, dtype=np.float32), device=self._device)
                 for p in xs.parts]
        return parts, torch.as_tensor(xs.mask_matrix(), device=self._device)

    def fit(self, xs: MultiInput, y: Sequence[str]) -> None:
        import torch

        from alapp.ml.embedders import pick_device

        self._device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed + self.fits)
        rng = np.random.default_rng(self.cfg.seed + self.fits)
        if self.cfg.multi_label:
            self._fit_multi_label(xs, y, rng)
            return
        targets = np.array([self.labels.index(label) for label in y], dtype=np.int64)
        self.classes = sorted(set(y), key=self.labels.index)
        self.notes = []
        dims = [p.shape[1] for p in xs.parts]
        warm = self._net is not None and dims == self._dims
        if not warm:
            self._net = self._new_net(dims)
            self._dims = dims
        train, valid = self._split(len(targets), rng)
        self._train(self._net, xs[train], targets[train],
                    self.cfg.warm_epochs if warm else self.cfg.epochs, rng)
        if self.cfg.validation_share > 0:
            self._fit_wrong(xs, targets, train, valid, rng)
        self.fits += 1

    def _fit_multi_label(self, xs: MultiInput, y: Sequence[str],
                         rng: np.random.Generator) -> None:
        """``y``: each item's set as stored ("a|b"; "" for none of these)."""
        from alapp.ml.multilabel import out_of_fold_thresholds, targets

        truth = targets(y, self.labels)
        self.classes = [name for j, name in enumerate(self.labels) if truth[:, j].any()]
        self.notes = []
        dims = [p.shape[1] for p in xs.parts]
        warm = self._net is not None and dims == self._dims
        if not warm:
            self._net = self._new_net(dims)
            self._dims = dims
        target = truth.astype(np.float32)

        def fit_predict(train: NDArray[np.int64], held: NDArray[np.int64]) -> Array:
            net = self._new_net(dims)
            self._train(net, xs[train], target[train], self.cfg.epochs, rng)
            return self._raw_probs(net, xs[held])

        self.thresholds = out_of_fold_thresholds(truth, fit_predict, self.cfg.seed + self.fits,
                                                 self.cfg.folds)
        self._train(self._net, xs, target, self.cfg.warm_epochs if warm else self.cfg.epochs,
                    rng)
        self.fits += 1

    def _raw_probs(self, net: Any, xs: MultiInput) -> Array:
        """The combined probabilities as the net gives them (multi-label: before the
        thresholds)."""
        import torch

        parts, mask = self._tensors(xs)
        net.eval()
        with torch.no_grad():
            probs = net(parts, mask)[1]
        return np.asarray(probs.float().cpu().numpy(), dtype=np.float32)

    def _shifted(self, probs: Array) -> Array:
        """Multi-label: per-label probabilities moved so that 0.5 is each tuned threshold."""
        if not self.cfg.multi_label:
            return probs
        from alapp.al.multilabel import shift_to_threshold

        return np.asarray(shift_to_threshold(probs, self.thresholds), dtype=np.float32)

    def _new_net(self, dims: list[int]) -> Any:
        return _build(dims, len(self.labels), self.cfg).to(self._device)

    def _split(self, n: int, rng: np.random.Generator) -> tuple[NDArray[np.int64], ...]:
        """Training and held-out rows: a held-out share only once it has ``min_held_out``
        labels (as ``MLPClassifier._split``)."""
        order = rng.permutation(n)
        n_valid = int(n * self.cfg.validation_share)
        if n_valid < self.cfg.min_held_out:
            n_valid = 0
        return order[n_valid:], order[:n_valid]

    def _train(self, net: Any, xs: MultiInput, y: NDArray[Any], epochs: int,
               rng: np.random.Generator) -> None:
        """``y``: class indices, or (multi-label) an (n, labels) 0/1 matrix."""
        import torch
        from torch.nn import functional

        parts, mask = self._tensors(xs)
        multi = self.cfg.multi_label
        target = torch.as_tensor(y, dtype=torch.float32 if multi else torch.long,
                                 device=self._device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)
        net.train()
        detach_from = int(epochs * DETACH_AFTER)
        for epoch in range(epochs):
            order = torch.as_tensor(rng.permutation(len(y)), device=self._device)
            for part in minibatch_slices(len(y), self.cfg.batch_size):
                rows = order[part]
                m, t = mask[rows], target[rows]
                logits, probs, _, _, loss_pred, layered = net(
                    [p[rows] for p in parts], m, detach_taps=epoch >= detach_from)
                have = torch.cat([m, torch.ones_like(m[:, :1])], dim=1)  # fused: every item
                loss = torch.zeros((), device=self._device)
                for i, out in enumerate(logits):
                    count = have[:, i].sum()
                    if count == 0:
                        continue  # no item in this batch has this input: nothing to learn
                    if multi:  # one binary decision per label
                        per_item = functional.binary_cross_entropy_with_logits(
                            out, t, reduction="none").mean(dim=1)
                    else:
                        per_item = functional.cross_entropy(out, t, reduction="none")
                    head_loss = (per_item * have[:, i]).sum() / count
                    loss = loss + torch.exp(-net.log_var[i]) * head_loss + net.log_var[i]
                if multi:  # the loss heads are single-label only
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    continue
                # Learning loss: the loss head learns each item's (log) loss of the prediction.
                nll = -torch.log(probs.gather(1, t[:, None]).squeeze(1).clamp_min(1e-8))
                loss = loss + LOSS_HEAD_WEIGHT * functional.mse_loss(
                    loss_pred, torch.log1p(nll.detach()))
                if layered is not None:  # the multi-layer module learns the losses' order
                    loss = loss + ranking_loss(layered, nll.detach())
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()

    def _fresh_fit(self, xs: MultiInput, y: NDArray[np.int64],
                   rng: np.random.Generator) -> Any:
        net = self._new_net(self._dims)
        self._train(net, xs, y, self.cfg.epochs, rng)
        return net

    def _predict(self, net: Any, xs: MultiInput) -> NDArray[np.int64]:
        import torch

        parts, mask = self._tensors(xs)
        with torch.no_grad():
            probs = net(parts, mask)[1]
        return np.asarray(probs.argmax(1).cpu().numpy(), dtype=np.int64)

    def _fit_wrong_head(self, xs: MultiInput, wrong: NDArray[np.float32]) -> None:
        import torch
        from torch.nn import functional

        net = self._net
        parts, mask = self._tensors(xs)
        with torch.no_grad():
            joined = net(parts, mask)[3]
        head = net.wrong_head
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
        target = torch.as_tensor(wrong, device=self._device)
        for _ in range(100):
            loss = functional.binary_cross_entropy_with_logits(head(joined).squeeze(-1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()

    def input_weights(self) -> NDArray[np.float64]:
        """How much each head counts, exp(-s_i) normalised: inputs first, fused last."""
        w = np.exp(-self._net.log_var.detach().cpu().numpy().astype(np.float64))
        out: NDArray[np.float64] = w / w.sum()
        return out

    # -- prediction ------------------------------------------------------------------------------

    def _forward(self, xs: MultiInput, batch: int = 8192) -> list[Array]:
        """Probabilities, activations, hidden, predicted loss, P(wrong) by the head and the
        multi-layer predicted loss (empty without the module), in batches."""
        import torch

        outs: list[list[Array]] = [[], [], [], [], [], []]
        self._net.eval()
        with torch.inference_mode():
            for start in range(0, len(xs), batch):
                parts, mask = self._tensors(xs[start:start + batch])
                _, probs, pre, joined, loss_pred, layered = self._net(parts, mask)
                wrong = torch.sigmoid(self._net.wrong_head(joined).squeeze(-1))
                for bucket, value in zip(outs, (probs, pre, joined, loss_pred, wrong, layered),
                                         strict=True):
                    if value is not None:
                        bucket.append(value.float().cpu().numpy())
        out = [np.concatenate(b) if b else np.zeros((0,), np.float32) for b in outs]
        out[0] = self._shifted(out[0])
        return out

    def predict_proba(self, xs: MultiInput) -> Array:
        return self._forward(xs)[0]

    def mc_probs(self, xs: MultiInput, samples: int = 20, batch: int = 8192) -> Array:
        """Monte-Carlo dropout over every head: the encoders run once, each sample draws new
        dropout masks on their outputs and combines the heads the item has."""
        import torch

        net = self._net
        net.eval()
        net.drop.train()
        torch.manual_seed(self.cfg.seed)
        out = np.zeros((samples, len(xs), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(xs), batch):
                parts, mask = self._tensors(xs[start:start + batch])
                pre = net.encode(parts, mask)
                for s in range(samples):
                    logits, _ = net.tail(pre, mask)
                    out[s, start:start + len(mask)] = self._shifted(
                        net.combine(logits, mask).float().cpu().numpy())
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
