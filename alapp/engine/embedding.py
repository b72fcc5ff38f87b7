"""Compute the embeddings a project is missing, in batches, resumable.

Each batch is committed as it is done, so a cancel, a crash or a kill loses at most one batch;
the next run computes only what is missing. Texts are embedded longest-similar together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alapp.core.types import ItemId
from alapp.engine.progress import Progress
from alapp.ml.embedders import Embedder
from alapp.store.project import Project
from alapp.store.vectors import cached_ids, save_vectors

BATCH = 256


def ensure_embeddings(path: Path, embedder: Embedder, progress: Progress | None = None) -> int:
    """Embed every item that has no vector for this embedder yet; returns how many were."""
    progress = progress or Progress()
    with Project.open(path, take_lock=False) as project:
        done = cached_ids(project, embedder.name)
        rows = [(ItemId(i), t) for i, t in project.conn.execute("SELECT id, text FROM items")
                if ItemId(i) not in done]
        # Sorting the whole backlog by length makes every batch nearly padding-free.
        rows.sort(key=lambda r: len(r[1]))
        for start in range(0, len(rows), BATCH):
            progress.report(f"embedding {start:,} of {len(rows):,} texts",
                            start / max(len(rows), 1))
            batch = rows[start:start + BATCH]
            vectors = embedder.embed([t for _, t in batch])
            save_vectors(project, embedder.name, [i for i, _ in batch],
                         np.asarray(vectors, dtype=np.float32))
    return len(rows)
