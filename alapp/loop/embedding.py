"""Compute the embeddings a pool is missing, in batches, resumable.

The vectors live behind a ``VectorSource``: the application's writes each batch to the project
file as it is done (through the writer thread), so a cancel, a crash or a kill loses at most
one batch and the next run computes only what is missing; a simulation's keeps them in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.core.progress import Progress
from alapp.core.types import ItemId
from alapp.ml.embedders import Embedder

BATCH = 256


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


def ensure_embeddings(source: VectorSource, embedder: Embedder,
                      progress: Progress | None = None) -> int:
    """Embed every item that has no vector for this embedder yet; returns how many were."""
    progress = progress or Progress()
    rows = source.missing(embedder.name)
    # Sorting the whole backlog by length makes every batch nearly padding-free.
    rows.sort(key=lambda r: len(r[1]))
    for start in range(0, len(rows), BATCH):
        progress.report(f"embedding {start:,} of {len(rows):,} texts",
                        start / max(len(rows), 1))
        batch = rows[start:start + BATCH]
        vectors = embedder.embed([t for _, t in batch])
        source.save(embedder.name, [i for i, _ in batch], np.asarray(vectors, dtype=np.float32))
    return len(rows)
