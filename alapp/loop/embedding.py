"""Compute the embeddings a pool is missing, in batches, resumable.

The vectors live behind a ``VectorSource``: the application's writes each batch to the project
file as it is done (through the writer thread), so a cancel, a crash or a kill loses at most
one batch and the next run computes only what is missing; a simulation's keeps them in memory.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.core.featurizer import FeaturizerSpec
from alapp.core.progress import Progress
from alapp.core.types import ItemId
from alapp.ml.embedders import Embedder

BATCH = 256
# A backlog of more texts than this is embedded in the background while rounds use stand-in
# features (``RoundRunner.run_stand_in``): at 30-280 texts/s on two cores it would keep the
# first items waiting too long. Smaller backlogs are embedded inside the round.
BACKGROUND_ABOVE = 1000


class VectorSource(Protocol):
    """Where a round reads (and caches) per-item vectors of a featurizer."""

    def missing(self, featurizer: str) -> list[tuple[ItemId, str]]:
        """(id, text) of every item without a vector for ``featurizer``."""
        ...

    def save(self, featurizer: str, ids: Sequence[ItemId],
             vectors: NDArray[np.floating]) -> None: ...

    def load(self, featurizer: str, ids: Sequence[ItemId]) -> NDArray[np.float32]:
        """Vectors in the order of ``ids``; every id must have one."""
        ...

    def load_present(self, featurizer: str, ids: Sequence[ItemId]
                     ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Vectors in the order of ``ids`` (zeros where an item has none) and which rows have
        one; an error only when no item has one."""
        ...


class MemoryVectors:
    """Vectors held in memory: simulations, tests, and featurizers computed on the fly."""

    def __init__(self, texts: dict[ItemId, str] | None = None) -> None:
        self.texts = texts or {}
        self.vectors: dict[str, dict[ItemId, NDArray[np.float32]]] = {}

    def put(self, featurizer: str, ids: Sequence[ItemId], matrix: NDArray[np.floating]) -> None:
        self.save(featurizer, ids, matrix)

    def missing(self, featurizer: str) -> list[tuple[ItemId, str]]:
        have = self.vectors.get(featurizer, {})
        return [(i, t) for i, t in self.texts.items() if i not in have]

    def save(self, featurizer: str, ids: Sequence[ItemId],
             vectors: NDArray[np.floating]) -> None:
        store = self.vectors.setdefault(featurizer, {})
        for i, v in zip(ids, np.asarray(vectors, dtype=np.float32), strict=True):
            store[i] = v

    def load(self, featurizer: str, ids: Sequence[ItemId]) -> NDArray[np.float32]:
        store = self.vectors.get(featurizer, {})
        missing = [i for i in ids if i not in store]
        if missing:
            raise KeyError(f"{len(missing)} items have no {featurizer!r} vectors "
                           f"(e.g. item {missing[0]})")
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([store[i] for i in ids])

    def load_present(self, featurizer: str, ids: Sequence[ItemId]
                     ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        store = self.vectors.get(featurizer, {})
        present = np.array([i in store for i in ids], dtype=bool)
        if not ids:
            return np.zeros((0, 0), dtype=np.float32), present
        if not present.any():
            raise KeyError(f"no item has {featurizer!r} vectors")
        zero = np.zeros_like(next(store[i] for i in ids if i in store))
        return np.stack([store.get(i, zero) for i in ids]), present


def ensure_embeddings(source: VectorSource, embedder: Embedder,
                      progress: Progress | None = None, batch: int = BATCH) -> int:
    """Embed every item that has no vector for this embedder yet; returns how many were.
    Progress says how many of how many, and from the second batch on about how long is left
    ("embedding 3,200 of 16,000 texts, about 3 min left")."""
    progress = progress or Progress()
    rows = source.missing(embedder.name)
    # Sorting the whole backlog by length makes every batch nearly padding-free.
    rows.sort(key=lambda r: len(r[1]))
    # Texts are sorted short to long: time per character predicts what is left better than
    # time per text (the long tail would be underestimated). The clock starts after the first
    # batch, which also loads the model.
    chars = np.cumsum([0] + [len(t) + 20 for _, t in rows])  # + per-text overhead
    clock: tuple[float, int] | None = None  # (when, how many texts) the first batch ended
    for start in range(0, len(rows), batch):
        eta = None
        if clock is not None and start > clock[1]:
            rate = (chars[start] - chars[clock[1]]) / (time.perf_counter() - clock[0])
            eta = (chars[-1] - chars[start]) / max(rate, 1e-9)
        progress.report(embedding_stage(start, len(rows), eta), start / max(len(rows), 1))
        chunk = rows[start:start + batch]
        vectors = embedder.embed([t for _, t in chunk])
        source.save(embedder.name, [i for i, _ in chunk], np.asarray(vectors, dtype=np.float32))
        if clock is None:
            clock = (time.perf_counter(), start + len(chunk))
    return len(rows)


def embedding_stage(done: int, total: int, seconds_left: float | None) -> str:
    """"embedding 3,200 of 16,000 texts, about 3 min left"."""
    stage = f"embedding {done:,} of {total:,} texts"
    return stage if seconds_left is None else f"{stage}, {about(seconds_left)} left"


def about(seconds: float) -> str:
    """A duration as a person says it: "about 40 s", "about 3 min", "about 1 h 20 min"."""
    if seconds < 55:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


def embedders_of(featurizer: str, texts: Sequence[str], device: str = "auto") -> list[Embedder]:
    """The sentence embedders a featurizer setting computes (none for TF-IDF or imported
    vectors). Building one loads no model: that waits for its first ``embed``."""
    from alapp.ml.embedders import make_embedder

    return [make_embedder(str(part), texts, device)
            for part in FeaturizerSpec.parse(featurizer).parts if part.is_embedder]


def pending_embeddings(source: VectorSource, embedders: Sequence[Embedder]) -> int:
    """How many texts still lack a vector, over all of ``embedders``."""
    return sum(len(source.missing(e.name)) for e in embedders)


def embed_all(source: VectorSource, embedders: Sequence[Embedder],
              progress: Progress | None = None, batch: int = BATCH) -> int:
    """Every missing vector of every embedder, batch by batch (each saved as it is done, so
    a cancel loses at most one batch); returns how many texts were embedded."""
    return sum(ensure_embeddings(source, e, progress, batch) for e in embedders)
