"""Late fusion for several vectors per item (for example text and image embeddings), where an
item may lack some of them (a post with text only, or an image only).

    x_i -> Linear -> ReLU -> Dropout -> h_i (zero where input i is missing) -> head_i -> logits_i
           ^ "activations" (before the non-linearity, every input's joined)
    [h_1 .. h_m] -> fused -> logits_f      (the fused head's input is "hidden", for BADGE)
    [h_1 .. h_m] -> Linear -> predicted loss           (learning loss, trained jointly)
    [h_1 .. h_m] -> Linear -> P(the model is wrong)    (active transfer, fit on held-out labels)

The prediction combines the heads an item has: the fused head always, and each input's head
where that input exists, weighted by the heads' learned precisions exp(-s_i). Training weights
the per-head losses by those learned variances (Kendall, Gal & Cipolla, 2018: loss = sum
exp(-s_i) L_i + s_i), each head's loss taken only over the items that have its input, as the
seeds' multimodal design (001: text and image heads plus a fused one) describes.

It provides what the torch head of ``alapp.ml.mlp`` provides (MC dropout samples, last-layer
inputs, activations, the loss and will-be-wrong heads) and takes the same ``MLPConfig``; batch
normalisation does not apply (missing inputs are zero rows, which would skew its statistics).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import FROM_VALIDATION, Need
from alapp.ml.base import Outputs
from alapp.ml.mlp import MLPConfig

Array = NDArray[np.float32]
Mask = NDArray[np.bool_]

# Labels held out for the will-be-wrong head and the validation activations: a share of them
# once there are this many (fewer would leave too little to train on).
MIN_LABELS_FOR_VALIDATION = 20
LOSS_HEAD_WEIGHT = 0.1


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
            probs = torch.stack([torch.softmax(o, dim=1) for o in logits], dim=1)
            return (weight.unsqueeze(-1) * probs).sum(dim=1)

        def forward(self, xs: list[torch.Tensor], mask: torch.Tensor) -> tuple[Any, ...]:
            pre = self.encode(xs, mask)
            logits, joined = self.tail(pre, mask)
            probs = self.combine(logits, mask)
            return logits, probs, pre, joined, self.loss_head(joined).squeeze(-1)

    return Net()


class LateFusionClassifier:
    # What the torch head gives (``alapp.ml.mlp``); an instance without a validation share
    # gives less.
    provides = frozenset({Need.PROBS, Need.MC_PROBS, Need.HIDDEN, Need.ACTIVATIONS,
                          Need.PREDICTED_LOSS, Need.WRONG_PROB, Need.VALIDATION_ACTIVATIONS})
    takes_texts = False
    needs_dense = True
    several_inputs = True  # one head per input matrix

    def __init__(self, labels: Sequence[str], config: MLPConfig | None = None,
                 **overrides: Any) -> None:
        """``overrides``: fields of the config (``hidden=16, epochs=30``)."""
        self.labels = list(labels)
        self.classes: list[str] = []
        base = config or MLPConfig(hidden=128, dropout=0.2, batch_norm=False)
        self.cfg = replace(base, **overrides)
        self.provides = self.provides_with(self.cfg)
        self._net: Any = None
        self._dims: list[int] = []
        self._device = "cpu"
        self.validation_activations: Array | None = None
        self._wrong_fitted = False
        self.fits = 0

    @classmethod
    def provides_with(cls, cfg: MLPConfig) -> frozenset[Need]:
        """The will-be-wrong head and validation activations need held-out labels."""
        return cls.provides if cfg.validation_share > 0 else cls.provides - FROM_VALIDATION

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
        targets = np.array([self.labels.index(label) for label in y], dtype=np.int64)
        self.classes = sorted(set(y), key=self.labels.index)
        dims = [p.shape[1] for p in xs.parts]
        warm = self._net is not None and dims == self._dims
        if not warm:
            self._net = _build(dims, len(self.labels), self.cfg).to(self._device)
            self._dims = dims
        order = rng.permutation(len(targets))
        n_valid = (int(len(targets) * self.cfg.validation_share)
                   if len(targets) >= MIN_LABELS_FOR_VALIDATION else 0)
        train, valid = order[n_valid:], order[:n_valid]
        self._train(xs[train], targets[train], self.cfg.warm_epochs if warm else self.cfg.epochs,
                    rng)
        if len(valid):
            self._fit_wrong_head(xs[valid], targets[valid])
        self.fits += 1

    def _train(self, xs: MultiInput, y: NDArray[np.int64], epochs: int,
               rng: np.random.Generator) -> None:
        import torch
        from torch.nn import functional

        net = self._net
        parts, mask = self._tensors(xs)
        target = torch.as_tensor(y, dtype=torch.long, device=self._device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)
        net.train()
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(len(y)), device=self._device)
            for part in minibatch_slices(len(y), self.cfg.batch_size):
                rows = order[part]
                m, t = mask[rows], target[rows]
                logits, probs, _, _, loss_pred = net([p[rows] for p in parts], m)
                have = torch.cat([m, torch.ones_like(m[:, :1])], dim=1)  # fused: every item
                loss = torch.zeros((), device=self._device)
                for i, out in enumerate(logits):
                    count = have[:, i].sum()
                    if count == 0:
                        continue  # no item in this batch has this input: nothing to learn
                    per_item = functional.cross_entropy(out, t, reduction="none")
                    head_loss = (per_item * have[:, i]).sum() / count
                    loss = loss + torch.exp(-net.log_var[i]) * head_loss + net.log_var[i]
                # Learning loss: the loss head learns each item's (log) loss of the prediction.
                nll = -torch.log(probs.gather(1, t[:, None]).squeeze(1).clamp_min(1e-8))
                loss = loss + LOSS_HEAD_WEIGHT * functional.mse_loss(
                    loss_pred, torch.log1p(nll.detach()))
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()

    def _fit_wrong_head(self, xs: MultiInput, y: NDArray[np.int64]) -> None:
        """Active transfer: learn, on labels the model did not train on, where it errs."""
        import torch
        from torch.nn import functional

        net = self._net
        parts, mask = self._tensors(xs)
        with torch.no_grad():
            _, probs, pre, joined, _ = net(parts, mask)
            wrong = (probs.argmax(1).cpu().numpy() != y).astype(np.float32)
        self.validation_activations = pre.cpu().numpy()
        head = net.wrong_head
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
        target = torch.as_tensor(wrong, device=self._device)
        for _ in range(100):
            loss = functional.binary_cross_entropy_with_logits(head(joined).squeeze(-1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self._wrong_fitted = True

    def input_weights(self) -> NDArray[np.float64]:
        """How much each head counts, exp(-s_i) normalised: inputs first, fused last."""
        w = np.exp(-self._net.log_var.detach().cpu().numpy().astype(np.float64))
        out: NDArray[np.float64] = w / w.sum()
        return out

    # -- prediction ------------------------------------------------------------------------------

    def _forward(self, xs: MultiInput, batch: int = 8192) -> list[Array]:
        """Probabilities, activations, hidden, predicted loss and P(wrong), in batches."""
        import torch

        outs: list[list[Array]] = [[], [], [], [], []]
        self._net.eval()
        with torch.inference_mode():
            for start in range(0, len(xs), batch):
                parts, mask = self._tensors(xs[start:start + batch])
                _, probs, pre, joined, loss_pred = self._net(parts, mask)
                wrong = torch.sigmoid(self._net.wrong_head(joined).squeeze(-1))
                for bucket, value in zip(outs, (probs, pre, joined, loss_pred, wrong),
                                         strict=True):
                    bucket.append(value.float().cpu().numpy())
        return [np.concatenate(b) if b else np.zeros((0,), np.float32) for b in outs]

    def predict_proba(self, xs: MultiInput) -> Array:
        return self._forward(xs)[0]

    def outputs(self, xs: MultiInput, needs: Collection[Need], mc_samples: int = 20) -> Outputs:
        """Probabilities and what of ``needs`` the model gives, from one pass over the pool
        (plus the dropout samples when asked)."""
        probs, pre, joined, loss_pred, wrong = self._forward(xs)
        found: Outputs = {Need.ACTIVATIONS: pre, Need.HIDDEN: joined,
                          Need.PREDICTED_LOSS: loss_pred}
        if self._wrong_fitted:
            found[Need.WRONG_PROB] = wrong
        if self.validation_activations is not None:
            found[Need.VALIDATION_ACTIVATIONS] = self.validation_activations
        out: Outputs = {Need.PROBS: probs}
        out.update({need: value for need, value in found.items() if need in needs})
        if Need.MC_PROBS in needs:
            out[Need.MC_PROBS] = self.mc_probs(xs, mc_samples)
        return out

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
                    out[s, start:start + len(mask)] = net.combine(logits, mask).cpu().numpy()
        net.eval()
        return out

    # -- weights (safetensors only) -----------------------------------------------------------

    def weights(self) -> bytes | None:
        if self._net is None:
            return None
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous() for k, v in
                     self._net.state_dict().items()})
