"""A round of the application: read a snapshot, run the loop, save the result.

The work runs on the round thread; it reads through its own read-only connection and hands
every write (embeddings as they are computed, then the batch and the model version) to the
project's writer thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.app.encoder import EncoderJob, describe
from alapp.core.progress import Progress
from alapp.core.spans import TokenOffsets
from alapp.core.types import ItemId
from alapp.loop.embedding import BACKGROUND_ABOVE, embed_all, embedders_of, pending_embeddings
from alapp.loop.round import RoundResult, RoundRunner, Snapshot
from alapp.store import rounds, vectors
from alapp.store.project import Project
from alapp.store.vector_cache import CachedVectors, open_cache

Write = Callable[[Callable[[Project], Any]], Any]


class ProjectVectors:
    """The project file as a round's vector cache: reads here, writes through ``write``."""

    def __init__(self, reader: Project, write: Write) -> None:
        self.reader, self.write = reader, write

    def missing(self, featurizer: str) -> list[tuple[ItemId, str]]:
        return vectors.missing_texts(self.reader, featurizer)

    def save(self, featurizer: str, ids: Sequence[ItemId],
             matrix: NDArray[np.floating]) -> None:
        self.write(lambda p: vectors.save_vectors(p, featurizer, ids, matrix))

    def load(self, featurizer: str, ids: Sequence[ItemId]) -> NDArray[np.float32]:
        return vectors.load_vectors(self.reader, featurizer, ids)

    def load_present(self, featurizer: str, ids: Sequence[ItemId]
                     ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        return vectors.load_present_vectors(self.reader, featurizer, ids)

    def cached(self, featurizer: str) -> CachedVectors:
        """The featurizer's vectors as a cache file beside the project, read in blocks (issue 20),
        built or rebuilt from the project when missing, damaged or stale."""
        return open_cache(self.reader, featurizer)


def read_snapshot(reader: Project, write: Write) -> Snapshot:
    rows = rounds.read_for_round(reader)
    return Snapshot(ProjectVectors(reader, write), rows.labels, rows.settings, rows.ids,
                    rows.texts, rows.splits, rows.current, rows.excluded, rows.round_index,
                    rows.measured, rows.random_share, stream_seen=rows.stream.seen,
                    imports=rows.stream.imports, strata=rows.stream.strata,
                    tokens=_tokens(reader, rows.ids) if reader.spans else None,
                    label_descriptions=rows.descriptions)


def _tokens(reader: Project, ids: Sequence[ItemId]) -> list[TokenOffsets]:
    """A span project's stored tokens, in the snapshot's item order (issue 18)."""
    from alapp.store.spans import span_items

    by_id = {item.item_id: item.tokens for item in span_items(reader, labeled=None)}
    return [by_id.get(i, []) for i in ids]


def snapshot_of(project: Project) -> Snapshot:
    """A snapshot of a project the caller holds open for writing (one thread: scripts)."""
    return read_snapshot(project, lambda write: write(project))


def save_result(project: Project, result: RoundResult, keep: ItemId | None = None) -> int:
    """Write a round's model version and batch to a project the caller holds open."""
    model = None
    if result.model_kind:
        model = rounds.ModelVersion(result.model_kind, result.n_labeled,
                                    result.stored_metrics(), result.weights,
                                    result.features_line)
    return rounds.save_round(project, result.picks, result.strategy, result.n_labeled, model,
                             keep, result.stream_seen)


class RoundJob:
    """What the round thread runs: one round on the latest labels, saved when not cancelled.
    The runner keeps the model warm between rounds; rounds never overlap (one thread).

    A large backlog of embeddings (a big import, a new embedding featurizer) is not computed
    here: the round runs on stand-in features (a random first batch, then TF-IDF) and says
    how many texts wait (``RoundResult.pending_embeddings``); ``embedding``, run on a thread
    of its own, computes them with counts and an ETA, and the round after it uses them."""

    def __init__(self, session: Any) -> None:  # a LabelingSession (app.session imports us)
        self.session = session
        self.runner = RoundRunner()
        self.embedding = EmbeddingJob(session)
        self.encoder = EncoderJob(session)  # issue 17: contrastive fine-tuning, when due

    def __call__(self, progress: Progress) -> RoundResult:
        with Project.open(self.session.path, read_only=True) as reader:
            snap = read_snapshot(reader, self.session.writer.call)
            pending = self._pending(snap, progress)
            if pending > BACKGROUND_ABOVE or (pending and self.embedding.running):
                result = self.runner.run_stand_in(snap, pending, progress)
            else:
                result = self.runner.run(snap, progress)
        progress.check()  # a cancel before the save drops the round; after it, it is done
        result.encoder = describe(snap.settings.featurizer, snap.settings)  # issue 17
        self.session.save_round(result)
        return result

    @staticmethod
    def _pending(snap: Snapshot, progress: Progress) -> int:
        progress.report("reading the project", 0.02)
        embedders = embedders_of(snap.settings.featurizer, snap.texts, snap.settings.device)
        return pending_embeddings(snap.vectors, embedders) if embedders else 0


class EmbeddingJob:
    """What the embedding thread runs: every missing vector of the configured featurizer,
    batch by batch, each saved through the writer as it is done (a cancel or a crash loses
    at most one batch). Progress: "embedding 3,200 of 16,000 texts, about 3 min left".
    Returns how many texts it embedded."""

    BATCH = 128  # small enough that a cancel (closing the window) waits a few seconds at most

    def __init__(self, session: Any) -> None:
        self.session = session
        self._running = threading.Event()

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def __call__(self, progress: Progress) -> int:
        self._running.set()
        try:
            with Project.open(self.session.path, read_only=True) as reader:
                settings = reader.settings()
                source = ProjectVectors(reader, self.session.writer.call)
                texts = reader.texts(reader.item_ids())
                embedders = embedders_of(settings.featurizer, texts, settings.device)
                return embed_all(source, embedders, progress, self.BATCH)
        finally:
            self._running.clear()
