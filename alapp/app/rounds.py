"""A round of the application: read a snapshot, run the loop, save the result.

The work runs on the round thread; it reads through its own read-only connection and hands
every write (embeddings as they are computed, then the batch and the model version) to the
project's writer thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.app.encoder import EncoderJob, describe
from alapp.app.presence import LABELING, TRAINING, WAITING, host_name
from alapp.core.progress import Progress
from alapp.core.spans import TokenOffsets
from alapp.core.types import ItemId
from alapp.loop.embedding import BACKGROUND_ABOVE, embed_all, embedders_of, pending_embeddings
from alapp.loop.round import RoundResult, RoundRunner, Snapshot
from alapp.store import presence, rounds, trainer, vectors
from alapp.store.project import Project
from alapp.store.queue import RoundPredictions
from alapp.store.trainer import RoundOrigin, TrainerLock
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


def save_result(project: Project, result: RoundResult, keep: ItemId | None = None,
                origin: RoundOrigin | None = None) -> int:
    """Write a round's model version and batch to a project the caller holds open."""
    model = None
    if result.model_kind:
        model = rounds.ModelVersion(result.model_kind, result.n_labeled,
                                    result.stored_metrics(), result.weights,
                                    result.features_line)
    return rounds.save_round(project, result.picks, result.strategy, result.n_labeled, model,
                             keep, result.stream_seen, origin,
                             RoundPredictions(result.predicted, result.top_two))


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
        """Train, or on a server project where another session trains now (issue 20), wait
        for its round and take that: one trainer at a time (the trainer lock)."""
        with Project.open(self.session.path, read_only=True) as reader:
            if not reader.on_server:
                return self.train(progress)
            while True:
                before = trainer.newest_round(reader)
                with TrainerLock(reader) as lock:
                    if lock.try_take():
                        return self.train(progress)
                picked = pick_up(reader, progress, before)
                if picked is not None:
                    return picked
                # the trainer stopped without saving a round: train here after all

    def train(self, progress: Progress) -> RoundResult:
        """One round trained here and saved, with who trained it and on which labels; the
        caller holds the trainer lock on a server project."""
        heartbeat = self.session.presence
        if heartbeat is not None:
            heartbeat.set_activity(TRAINING)
        try:
            return self._train(progress)
        finally:
            if heartbeat is not None:
                heartbeat.set_activity(WAITING if heartbeat.role == "worker" else LABELING)

    def _train(self, progress: Progress) -> RoundResult:
        with Project.open(self.session.path, read_only=True) as reader:
            seen = trainer.last_event(reader)  # before the snapshot: never counts one unread
            snap = read_snapshot(reader, self.session.writer.call)
            pending = self._pending(snap, progress)
            if pending > BACKGROUND_ABOVE or (pending and self.embedding.running):
                result = self.runner.run_stand_in(snap, pending, progress)
            else:
                result = self.runner.run(snap, progress)
        progress.check()  # a cancel before the save drops the round; after it, it is done
        result.encoder = describe(snap.settings.featurizer, snap.settings)  # issue 17
        self.session.save_round(result, trainer.RoundOrigin(
            self.session.annotator, host_name(), seen))
        return result

    @staticmethod
    def _pending(snap: Snapshot, progress: Progress) -> int:
        progress.report("reading the project", 0.02)
        embedders = embedders_of(snap.settings.featurizer, snap.texts, snap.settings.device)
        return pending_embeddings(snap.vectors, embedders) if embedders else 0


WAIT_POLL_S = 1.0  # how often a session waiting for another's round looks again


def pick_up(reader: Project, progress: Progress, before: trainer.NewestRound | None,
            poll_s: float = WAIT_POLL_S) -> RoundResult | None:
    """Another session trains now: wait until it lets go of the trainer lock, then take the
    round it saved (its model version's metrics and its queue) as this session's round; the
    trainer's predictions are not known here. None when it saved no round after ``before``
    (the newest round when this session found the lock taken)."""
    while trainer.someone_trains(reader):
        progress.report(f"{_trainer(reader)} is training; its model is used when it is "
                        "saved", 0.1)
        for _ in range(max(1, round(poll_s / 0.1))):
            progress.check()
            time.sleep(0.1)
    newest = trainer.newest_round(reader)
    if newest is None or (before is not None and newest.round_id == before.round_id):
        return None
    notes = [] if newest.origin is None else [
        f"trained by {newest.origin.trained_by} on {newest.origin.host}"]
    return RoundResult([], {}, newest.n_labeled, newest.metrics,
                       round_index=rounds.round_count(reader), strategy=newest.strategy,
                       model_kind=newest.kind, features_line=newest.features, notes=notes)


def _trainer(reader: Project) -> str:
    """Who trains now, by the presence table ("worker on gpu-box")."""
    for p in presence.present(reader):
        if p.activity == TRAINING:
            return f"{p.annotator} on {p.host}"
    return "another session"


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
