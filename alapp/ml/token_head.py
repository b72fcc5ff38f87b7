"""A token-classification head on the local sentence encoder (issue 18), fine-tuned with it.

The encoder comes from a local folder (the bundled MiniLM by default) through its safetensors,
never its code (``trust_remote_code=False``, ``local_files_only=True``). The project's tokens
are the words: they are fed pre-split (``is_split_into_words``) to a *fast* tokenizer, whose
``word_ids`` say which word each subword belongs to. The first subword of a word carries the
word's tag; the other subwords and the special tokens get -100 (ignored by the loss), and a
word's prediction is read at its first subword. A word cut off by ``max_length`` (or one the
tokenizer gives no subword) gets uniform marginals: the model has not seen it.

Each round continues from the previous round's weights (incremental, as ``ml.finetune``).
For BALD, ``tag_words(..., mc_samples=S)`` also returns ``S`` passes with dropout on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.minibatch import minibatch_slices
from alapp.ml.crf import Tagged
from alapp.ml.embedders import (
    check_model_folder,
    default_minilm_folder,
)

IGNORE = -100  # the label PyTorch's cross-entropy skips


def align_labels(word_ids: Sequence[int | None], word_tags: Sequence[int]) -> list[int]:
    """One label per subword: the first subword of word ``w`` gets ``word_tags[w]``, later
    subwords of the same word and special tokens (``None``) get ``IGNORE``."""
    out: list[int] = []
    previous: int | None = None
    for w in word_ids:
        if w is None:
            out.append(IGNORE)
        elif w != previous:
            out.append(word_tags[w])
        else:
            out.append(IGNORE)
        previous = w
    return out


def first_subwords(word_ids: Sequence[int | None], n_words: int) -> list[int | None]:
    """For each word, the position of its first subword (None: the word was cut off)."""
    where: list[int | None] = [None] * n_words
    for pos, w in enumerate(word_ids):
        if w is not None and where[w] is None:
            where[w] = pos
    return where


class TokenHead:
    """``AutoModelForTokenClassification`` over the encoder folder; tags are BIO tags."""

    def __init__(self, tags: Sequence[str], folder: Path | None = None, epochs: int = 3,
                 lr: float = 5e-5, batch_size: int = 16, max_length: int = 128,
                 device: str = "auto", seed: int = 0) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.tags = list(tags)
        self.folder = Path(folder) if folder else default_minilm_folder()
        check_model_folder(self.folder)
        self.epochs, self.lr, self.batch_size, self.max_length = epochs, lr, batch_size, max_length
        self.device, self.seed = device, seed
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from alapp.ml.embedders import load_local_model

        tokenizer, self._model, self.device = load_local_model(
            self.folder, self.device, "AutoModelForTokenClassification",
            num_labels=len(self.tags), id2label=dict(enumerate(self.tags)),
            label2id={t: i for i, t in enumerate(self.tags)})
        if not tokenizer.is_fast:
            raise ValueError(f"{self.folder}: the token head needs a fast tokenizer "
                             "(tokenizer.json) to align subwords with words")
        self._tokenizer = tokenizer

    def encode(self, words: Sequence[Sequence[str]]) -> Any:
        """The tokenizer's batch for pre-split sentences (``word_ids`` per row)."""
        self._load()
        return self._tokenizer([list(w) for w in words], is_split_into_words=True,
                               truncation=True, max_length=self.max_length, padding=True,
                               return_tensors="pt")

    def fit_words(self, words: Sequence[Sequence[str]],
                  tags: Sequence[Sequence[str]]) -> None:
        import torch

        self._load()
        code = {t: k for k, t in enumerate(self.tags)}
        for w, t in zip(words, tags, strict=True):
            if len(w) != len(t):
                raise ValueError(f"a sentence of {len(w)} words has {len(t)} tags")
        tag_ids = [[code[t] for t in seq] for seq in tags]
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        opt = torch.optim.AdamW(self._model.parameters(), lr=self.lr)
        self._model.train()
        for _ in range(self.epochs):
            order = rng.permutation(len(words))
            for part in minibatch_slices(len(words), self.batch_size):
                rows = order[part]
                batch = self.encode([words[i] for i in rows])
                labels = torch.tensor([align_labels(batch.word_ids(k), tag_ids[i])
                                       for k, i in enumerate(rows)])
                out = self._model(**{k: v.to(self.device) for k, v in batch.items()},
                                  labels=labels.to(self.device))
                opt.zero_grad()
                out.loss.backward()
                opt.step()
        self._model.eval()

    def _pass(self, words: Sequence[Sequence[str]], dropout: bool) -> NDArray[np.float64]:
        """Per-word tag probabilities, flat over the sentences' words."""
        import torch

        self._model.train(dropout)
        total = sum(len(w) for w in words)
        out = np.full((total, len(self.tags)), 1.0 / len(self.tags))
        starts = np.concatenate([[0], np.cumsum([len(w) for w in words])])
        order = np.argsort([len(w) for w in words], kind="stable")
        with torch.inference_mode():
            for part in minibatch_slices(len(words), 64):
                rows = order[part]
                batch = self.encode([words[i] for i in rows])
                logits = self._model(**{k: v.to(self.device) for k, v in batch.items()}).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for k, i in enumerate(rows):
                    for w, pos in enumerate(first_subwords(batch.word_ids(k), len(words[i]))):
                        if pos is not None:
                            out[starts[i] + w] = probs[k, pos]
        self._model.eval()
        return out

    def tag_words(self, words: Sequence[Sequence[str]], mc_samples: int = 0) -> Tagged:
        """Marginals at each word's first subword; the best tags independently per word (the
        head has no transitions), the path's log-probability their sum; with
        ``mc_samples`` the dropout passes too."""
        self._load()
        lengths = np.array([len(w) for w in words], dtype=np.int64)
        marg = self._pass(words, dropout=False)
        best_k = marg.argmax(axis=1)
        logp = np.log(np.clip(marg.max(axis=1), 1e-12, 1.0))
        cuts = np.cumsum(lengths)[:-1]
        best = [[self.tags[int(k)] for k in part] for part in np.split(best_k, cuts)]
        path = np.array([float(p.sum()) for p in np.split(logp, cuts)]) if len(words) \
            else np.zeros(0)
        mc = np.stack([self._pass(words, dropout=True) for _ in range(mc_samples)]) \
            if mc_samples > 0 else None
        return Tagged(lengths, marg, path, best, mc)

    def weights(self) -> bytes | None:
        if self._model is None:
            return None
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous()
                     for k, v in self._model.state_dict().items()})
