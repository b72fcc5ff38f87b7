"""A small torch head on embeddings: dropout for MC samples (BALD), and the optional heads the
learning-loss and active-transfer strategies score with.

    x -> Linear -> [BatchNorm] -> ReLU -> Dropout -> Linear -> class logits
                 ^ "activations" (before the non-linearity, for model-based outliers)
                                  ^ "hidden" (the last layer's input, for BADGE)
    hidden -> Linear -> predicted loss             (learning loss, trained jointly)
    hidden -> Linear -> P(the model is wrong)      (active transfer, fit on held-out labels)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import FROM_VALIDATION, Need
from alapp.ml.base import Outputs

Array = NDArray[np.float32]


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
    validation_share: float = 0.0  # > 0: hold labels out for the will-be-wrong head
    seed: int = 0
    device: str = "auto"


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

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            pre = self.norm(self.inp(x))
            hidden = self.drop(torch.relu(pre))
            return self.out(hidden), pre, hidden, self.loss_head(hidden).squeeze(-1)

    return Net()


class MLPClassifier:
    # Everything the head can give; an instance without a validation share gives less.
    provides = frozenset({Need.PROBS, Need.MC_PROBS, Need.HIDDEN, Need.ACTIVATIONS,
                          Need.PREDICTED_LOSS, Need.WRONG_PROB, Need.VALIDATION_ACTIVATIONS})
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
        self.validation_activations: Array | None = None
        self._wrong_fitted = False
        self.fits = 0

    @classmethod
    def provides_with(cls, cfg: MLPConfig) -> frozenset[Need]:
        """The will-be-wrong head and validation activations need held-out labels."""
        return cls.provides if cfg.validation_share > 0 else cls.provides - FROM_VALIDATION

    # -- training ------------------------------------------------------------------------------

    def fit(self, x: Array, y: Sequence[str]) -> None:
        import torch

        from alapp.ml.embedders import pick_device

        self._device = pick_device(self.cfg.device)
        torch.manual_seed(self.cfg.seed + self.fits)
        rng = np.random.default_rng(self.cfg.seed + self.fits)
        targets = np.array([self.labels.index(label) for label in y])
        self.classes = sorted(set(y), key=self.labels.index)
        train, valid = self._split(len(targets), rng)
        warm = self._net is not None and self._net.inp.in_features == x.shape[1]
        if not warm:
            self._net = _build(x.shape[1], len(self.labels), self.cfg).to(self._device)
        epochs = self.cfg.warm_epochs if warm else self.cfg.epochs
        self._train(x[train], targets[train], epochs, rng, freeze_bn=warm and
                    self.cfg.freeze_bn_when_warm)
        if len(valid):
            self._fit_wrong_head(x[valid], targets[valid])
        self.fits += 1

    def _split(self, n: int, rng: np.random.Generator) -> tuple[NDArray[np.int64], ...]:
        order = rng.permutation(n)
        n_valid = int(n * self.cfg.validation_share) if n >= 20 else 0
        return order[n_valid:], order[:n_valid]

    def _train(self, x: Array, y: NDArray[np.int64], epochs: int, rng: np.random.Generator,
               freeze_bn: bool) -> None:
        import torch
        from torch.nn import functional

        net = self._net
        opt = torch.optim.AdamW(net.parameters(), lr=self.cfg.lr,
                                weight_decay=self.cfg.weight_decay)
        xt = torch.as_tensor(x, dtype=torch.float32, device=self._device)
        yt = torch.as_tensor(y, dtype=torch.long, device=self._device)
        net.train()
        if freeze_bn and self.cfg.batch_norm:
            net.norm.eval()  # active phase: keep the statistics of the first training
        for _ in range(epochs):
            order = torch.as_tensor(rng.permutation(len(y)), device=self._device)
            for part in minibatch_slices(len(y), self.cfg.batch_size):
                rows = order[part]
                if len(rows) < 2 and self.cfg.batch_norm and not freeze_bn:
                    continue  # batch norm cannot train on a single example
                logits, _, _, loss_pred = net(xt[rows])
                per_example = functional.cross_entropy(logits, yt[rows], reduction="none")
                # Learning loss: the head learns to predict each example's (log) loss.
                head_loss = functional.mse_loss(loss_pred,
                                                torch.log1p(per_example.detach()))
                loss = per_example.mean() + 0.1 * head_loss
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()

    def _fit_wrong_head(self, x: Array, y: NDArray[np.int64]) -> None:
        """Active transfer: learn, on labels the model did not train on, where it errs."""
        import torch
        from torch.nn import functional

        net = self._net
        with torch.no_grad():
            logits, pre, hidden, _ = net(torch.as_tensor(x, device=self._device))
            wrong = (logits.argmax(1).cpu().numpy() != y).astype(np.float32)
        self.validation_activations = pre.cpu().numpy()
        head = net.wrong_head
        opt = torch.optim.AdamW(head.parameters(), lr=1e-2)
        target = torch.as_tensor(wrong, device=self._device)
        for _ in range(100):
            loss = functional.binary_cross_entropy_with_logits(head(hidden).squeeze(-1),
                                                               target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self._wrong_fitted = True

    # -- prediction ------------------------------------------------------------------------------

    def _forward(self, x: Array, batch: int = 8192) -> tuple[Array, Array, Array, Array, Array]:
        import torch

        outs: list[list[Any]] = [[], [], [], [], []]
        self._net.eval()
        with torch.inference_mode():
            for start in range(0, len(x), batch):
                xt = torch.as_tensor(x[start:start + batch], device=self._device)
                logits, pre, hidden, loss_pred = self._net(xt)
                wrong = torch.sigmoid(self._net.wrong_head(hidden).squeeze(-1))
                for bucket, value in zip(outs, (torch.softmax(logits, 1), pre, hidden,
                                                loss_pred, wrong), strict=True):
                    bucket.append(value.float().cpu().numpy())
        joined = [np.concatenate(b) if b else np.zeros((0,), np.float32) for b in outs]
        return joined[0], joined[1], joined[2], joined[3], joined[4]

    def predict_proba(self, x: Array) -> Array:
        return self._forward(x)[0]

    def outputs(self, x: Array, needs: Collection[Need], mc_samples: int = 20) -> Outputs:
        """Probabilities and what of ``needs`` the head gives, from one pass over the pool
        (plus the dropout samples when asked). The will-be-wrong head and the validation
        activations exist once enough labels were held out to fit them."""
        probs, pre, hidden, loss_pred, wrong = self._forward(x)
        found: Outputs = {Need.ACTIVATIONS: pre, Need.HIDDEN: hidden,
                          Need.PREDICTED_LOSS: loss_pred}
        if self._wrong_fitted:
            found[Need.WRONG_PROB] = wrong
        if self.validation_activations is not None:
            found[Need.VALIDATION_ACTIVATIONS] = self.validation_activations
        out: Outputs = {Need.PROBS: probs}
        out.update({need: value for need, value in found.items() if need in needs})
        if Need.MC_PROBS in needs:
            out[Need.MC_PROBS] = self.mc_probs(x, mc_samples)
        return out

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
                    out[s, start:start + len(xt)] = torch.softmax(logits, 1).cpu().numpy()
        net.eval()
        return out

    # -- weights (safetensors only) -----------------------------------------------------------

    def weights(self) -> bytes | None:
        if self._net is None:
            return None
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous() for k, v in
                     self._net.state_dict().items()})
