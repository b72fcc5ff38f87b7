"""Fine-tuning a transformer classifier from a local folder (MiniLM or any Hugging Face folder),
incremental between rounds: each round continues from the previous round's weights.

The encoder comes from the folder's safetensors; the classification head is new. On a GPU the
forward and backward passes run in mixed precision.

Sentence pairs (core/pairs.py; seed 002, MRPC) are tokenized as a real pair,
``[CLS] a [SEP] b [SEP]`` with token type ids 0 for ``a`` and 1 for ``b`` (for models that have
segments, as BERT does); when the pair is longer than ``max_length`` the longer text is cut
first. Learning rate, epochs and batch size are project settings (``finetune_lr``,
``finetune_epochs``, ``finetune_batch_size``; the seed's run used 2e-5, 3 and 32).

Multi-label (``multi_label=True``, issue 21): the head is one sigmoid per label
(``problem_type="multi_label_classification"``: binary cross-entropy on each item's set).
Per-label thresholds are tuned for F1 on a held-out share of the labeled items
(``threshold_share``, drawn anew each fit so every item is trained on in some round) once that
share holds ``alapp.ml.multilabel.MIN_TUNE`` items; below that every label's threshold is 0.5
and the model trains on every item. Out-of-fold tuning, as the smaller heads do, would cost
three more fine-tunes per round. The probabilities come out shifted so that 0.5 is each
label's threshold.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.al.needs import Need
from alapp.core.pairs import split_pair
from alapp.ml.base import Outputs, probs_only
from alapp.ml.embedders import (
    check_model_folder,
    default_minilm_folder,
    pick_device,
    quiet_transformers,
)


class TransformerClassifier:
    provides = frozenset({Need.PROBS})
    takes_texts = True  # trained on raw texts, not on precomputed features
    needs_dense = False
    several_inputs = False

    def __init__(self, labels: Sequence[str], folder: Path | None = None, epochs: int = 3,
                 lr: float = 5e-5, batch_size: int = 16, max_length: int = 128,
                 device: str = "auto", seed: int = 0, multi_label: bool = False,
                 threshold_share: float = 0.2) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.labels = list(labels)
        self.classes: list[str] = []
        self.folder = Path(folder) if folder else default_minilm_folder()
        check_model_folder(self.folder)
        self.epochs, self.lr, self.batch_size, self.max_length = epochs, lr, batch_size, max_length
        self.device, self.seed = device, seed
        self.multi_label, self.threshold_share = multi_label, threshold_share
        self.thresholds: NDArray[np.floating] = np.full(len(self.labels), 0.5)  # multi-label
        self.fits = 0
        self._model: Any = None
        self._tokenizer: Any = None
        self.examples_per_second = 0.0

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        self.device = pick_device(self.device)
        check_model_folder(self.folder)  # again: the folder may have changed since
        self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True,
                                                        trust_remote_code=False)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            self.folder, num_labels=len(self.labels), local_files_only=True,
            use_safetensors=True, trust_remote_code=False,
            problem_type=("multi_label_classification" if self.multi_label
                          else "single_label_classification"),
            id2label=dict(enumerate(self.labels)),
            label2id={label: i for i, label in enumerate(self.labels)})
        self._model.to(self.device)

    def _batch(self, texts: Sequence[str]) -> dict[str, Any]:
        return {k: v.to(self.device) for k, v in self.encode(texts).items()}

    def encode(self, texts: Sequence[str]) -> Any:
        """The tokenizer's tensors for these model texts: pairs as pairs (two segments)."""
        self._load()
        halves = [split_pair(t) for t in texts]
        if any(b is not None for _, b in halves):
            return self._tokenizer([a for a, _ in halves], [b or "" for _, b in halves],
                                   padding=True, truncation="longest_first",
                                   max_length=self.max_length, return_tensors="pt")
        return self._tokenizer(list(texts), padding=True, truncation=True,
                               max_length=self.max_length, return_tensors="pt")

    def fit(self, texts: NDArray[Any] | Sequence[str], y: Sequence[str]) -> None:
        import torch

        self._load()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        rows_used = np.arange(len(y))
        held = np.zeros(0, dtype=np.int64)
        if self.multi_label:
            from alapp.ml.multilabel import MIN_TUNE
            from alapp.ml.multilabel import targets as label_matrix

            truth = label_matrix(y, self.labels)
            self.classes = [n for j, n in enumerate(self.labels) if truth[:, j].any()]
            targets = torch.as_tensor(truth.astype(np.float32))
            n_held = int(len(y) * self.threshold_share)
            if n_held >= MIN_TUNE:
                order = np.random.default_rng(self.seed + self.fits).permutation(len(y))
                held, rows_used = np.sort(order[:n_held]), np.sort(order[n_held:])
        else:
            self.classes = sorted(set(y), key=self.labels.index)
            targets = torch.as_tensor([self.labels.index(label) for label in y])
        self._train(texts, targets, rows_used, rng)
        if self.multi_label:
            from alapp.ml.multilabel import held_out_thresholds

            self.thresholds = held_out_thresholds(
                truth[held], self._raw_proba([texts[int(i)] for i in held])) if len(held) \
                else np.full(len(self.labels), 0.5)
        self.fits += 1

    def _train(self, texts: NDArray[Any] | Sequence[str], targets: Any,
               rows_used: NDArray[np.int64], rng: np.random.Generator) -> None:
        import time

        import torch

        opt = torch.optim.AdamW(self._model.parameters(), lr=self.lr)
        amp = self.device == "cuda"
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self._model.train()
        seen, started = 0, time.perf_counter()
        for _ in range(self.epochs):
            order = rows_used[rng.permutation(len(rows_used))]
            for part in minibatch_slices(len(rows_used), self.batch_size):
                rows = order[part]
                batch = self._batch([texts[i] for i in rows])
                with torch.autocast(self.device, enabled=amp, dtype=torch.float16):
                    out = self._model(**batch, labels=targets[rows].to(self.device))
                opt.zero_grad()
                scaler.scale(out.loss).backward()
                scaler.step(opt)
                scaler.update()
                seen += len(rows)
        self.examples_per_second = seen / max(time.perf_counter() - started, 1e-9)
        self._model.eval()

    def predict_proba(self, texts: NDArray[Any] | Sequence[str]) -> NDArray[np.float32]:
        """Softmax over the labels, or (multi-label) per-label sigmoids shifted so that 0.5 is
        each label's tuned threshold."""
        probs = self._raw_proba(texts)
        if not self.multi_label:
            return probs
        from alapp.al.multilabel import shift_to_threshold

        return np.asarray(shift_to_threshold(probs, self.thresholds), dtype=np.float32)

    def _raw_proba(self, texts: NDArray[Any] | Sequence[str]) -> NDArray[np.float32]:
        import torch

        self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for part in minibatch_slices(len(texts), 64):
                rows = order[part]
                logits = self._model(**self._batch([texts[i] for i in rows])).logits
                logits = logits.float()
                out[rows] = (torch.sigmoid(logits) if self.multi_label
                             else torch.softmax(logits, dim=1)).cpu().numpy()
        return out

    def outputs(self, texts: Any, needs: Collection[Need], mc_samples: int) -> Outputs:
        return probs_only(self, texts)

    def weights(self) -> bytes | None:
        if self._model is None:
            return None
        import torch
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous()
                   for k, v in self._model.state_dict().items()}
        if self.multi_label:  # the tuned per-label thresholds belong to the model
            tensors["thresholds"] = torch.as_tensor(np.asarray(self.thresholds, np.float32))
        return save(tensors)

    def save_folder(self, folder: Path) -> None:
        """A Hugging Face folder: loadable with AutoModelForSequenceClassification."""
        self._model.save_pretrained(folder, safe_serialization=True)
        self._tokenizer.save_pretrained(folder)
