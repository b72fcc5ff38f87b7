"""Late fusion for several vectors per item (for example text and image embeddings).

One small head per input, plus a fused head over their hidden layers. The per-head losses are
weighted by learned variances (Kendall, Gal & Cipolla, 2018): loss = sum exp(-s_i) L_i + s_i,
so a noisy input learns a large s_i and a small say, as the seeds' multimodal design describes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import Need
from alapp.ml.base import Outputs, probs_only

Array = NDArray[np.float32]


class MultiInput:
    """Several aligned matrices that index together: ``m[rows]`` slices every part."""

    def __init__(self, parts: Sequence[Array]) -> None:
        self.parts = list(parts)
        self.shape = (len(self.parts[0]), sum(p.shape[1] for p in self.parts))

    def __getitem__(self, rows: Any) -> MultiInput:
        return MultiInput([p[rows] for p in self.parts])

    def __len__(self) -> int:
        return self.shape[0]


class LateFusionClassifier:
    provides = frozenset({Need.PROBS})
    takes_texts = False
    needs_dense = True
    several_inputs = True  # one head per input matrix

    def __init__(self, labels: Sequence[str], hidden: int = 128, epochs: int = 40,
                 lr: float = 3e-3, batch_size: int = 32, seed: int = 0) -> None:
        self.labels = list(labels)
        self.classes: list[str] = []
        self.hidden, self.epochs, self.lr, self.batch_size, self.seed = (hidden, epochs, lr,
                                                                          batch_size, seed)
        self._net: Any = None

    def _build(self, dims: list[int]) -> Any:
        import torch
        from torch import nn

        k, h = len(self.labels), self.hidden

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoders = nn.ModuleList(
                    [nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(0.2)) for d in dims])
                self.heads = nn.ModuleList([nn.Linear(h, k) for _ in dims])
                self.fused = nn.Linear(h * len(dims), k)
                # log-variances: one per input head and one for the fused head
                self.log_var = nn.Parameter(torch.zeros(len(dims) + 1))

            def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
                hidden = [enc(x) for enc, x in zip(self.encoders, xs, strict=True)]
                logits = [head(hd) for head, hd in zip(self.heads, hidden, strict=True)]
                return [*logits, self.fused(torch.cat(hidden, dim=1))]

        return Net()

    def fit(self, xs: Any, y: Sequence[str]) -> None:
        import torch
        from torch.nn import functional

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.classes = sorted(set(y), key=self.labels.index)
        xs = xs.parts  # a MultiInput: this model takes several inputs
        if self._net is None:
            self._net = self._build([x.shape[1] for x in xs])
        tensors = [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in xs]
        target = torch.as_tensor([self.labels.index(label) for label in y])
        opt = torch.optim.AdamW(self._net.parameters(), lr=self.lr, weight_decay=1e-4)
        self._net.train()
        for _ in range(self.epochs):
            order = torch.as_tensor(rng.permutation(len(target)))
            for part in minibatch_slices(len(target), self.batch_size):
                rows = order[part]
                outputs = self._net([t[rows] for t in tensors])
                losses = torch.stack([functional.cross_entropy(o, target[rows])
                                      for o in outputs])
                loss = (torch.exp(-self._net.log_var) * losses + self._net.log_var).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self._net.eval()

    def input_weights(self) -> NDArray[np.float64]:
        """How much each head counts, exp(-s_i) normalised: inputs first, fused last."""
        w = np.exp(-self._net.log_var.detach().numpy().astype(np.float64))
        out: NDArray[np.float64] = w / w.sum()
        return out

    def predict_proba(self, xs: Any) -> Array:
        import torch

        xs = xs.parts
        with torch.inference_mode():
            fused = self._net([torch.as_tensor(np.asarray(x, dtype=np.float32))
                               for x in xs])[-1]
            out: Array = torch.softmax(fused, dim=1).numpy()
        return out

    def outputs(self, xs: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return probs_only(self, xs)

    def weights(self) -> bytes | None:
        if self._net is None:
            return None
        from safetensors.torch import save

        return save({k: v.detach().contiguous() for k, v in self._net.state_dict().items()})
