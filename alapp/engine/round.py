"""One active-learning round on a snapshot of the project: fit, score the pool, select.

A snapshot is read once (texts, current labels, splits); the result is plain data the caller
writes back (the queue, the round row). Nothing here holds the store open for writing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alapp.al.batch import BatchRequest, Pick, compose_batch
from alapp.al.state import PoolState
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId, Split
from alapp.engine.progress import Progress
from alapp.ml.classifier import Classifier
from alapp.store.project import Project


@dataclass
class Snapshot:
    labels: list[str]
    settings: ProjectSettings
    ids: list[ItemId]
    texts: list[str]
    splits: list[str]
    current: dict[ItemId, str]
    excluded: set[ItemId]
    round_index: int

    @classmethod
    def read(cls, path: Path) -> Snapshot:
        with Project.open(path, read_only=True) as project:
            rows = project.conn.execute("SELECT id, text, split FROM items ORDER BY id").fetchall()
            rounds = project.conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
            return cls(project.labels(), project.settings(), [ItemId(r[0]) for r in rows],
                       [r[1] for r in rows], [r[2] for r in rows], project.current_labels(),
                       project.skipped_forever(), rounds + 1)


@dataclass
class RoundResult:
    picks: list[Pick]
    predicted: dict[ItemId, tuple[str, float]]  # pool item -> (label, confidence)
    n_labeled: int
    test_accuracy: float | None
    seconds: dict[str, float] = field(default_factory=dict)
    round_index: int = 0
    strategy: str = ""


def run_round(snap: Snapshot, progress: Progress | None = None) -> RoundResult:
    from alapp.ml.classifier import LogisticClassifier
    from alapp.ml.features import tfidf_features
    from alapp.ml.threads import limit_threads

    limit_threads()
    progress = progress or Progress()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    progress.report("featurizing", 0.1)
    features = tfidf_features(snap.texts, seed=snap.settings.seed)
    timings["featurize"] = time.perf_counter() - started

    index = {item_id: row for row, item_id in enumerate(snap.ids)}
    train_rows = [index[i] for i, _ in snap.current.items()
                  if snap.splits[index[i]] != Split.TEST]
    train_labels = [snap.current[snap.ids[r]] for r in train_rows]
    pool_rows = np.array([r for r, i in enumerate(snap.ids)
                          if snap.splits[r] == Split.POOL and i not in snap.current
                          and i not in snap.excluded], dtype=int)

    probs = None
    accuracy = None
    predicted: dict[ItemId, tuple[str, float]] = {}
    if train_rows:
        progress.report(f"training on {len(train_rows)} labels", 0.4)
        t = time.perf_counter()
        model = LogisticClassifier(snap.labels, seed=snap.settings.seed)
        model.fit(features.matrix[train_rows], train_labels)
        timings["fit"] = time.perf_counter() - t
        progress.report("scoring the pool", 0.7)
        t = time.perf_counter()
        if len(pool_rows):
            probs = model.predict_proba(features.matrix[pool_rows])
            for row, p in zip(pool_rows, probs, strict=True):
                best = int(np.argmax(p))
                predicted[snap.ids[row]] = (snap.labels[best], float(p[best]))
        accuracy = _test_accuracy(snap, index, model, features.matrix)
        timings["score"] = time.perf_counter() - t

    progress.report("selecting the batch", 0.9)
    t = time.perf_counter()
    s = snap.settings
    state = PoolState(
        ids=np.array([snap.ids[r] for r in pool_rows], dtype=np.int64), probs=probs,
        embeddings=features.embeddings[pool_rows] if len(pool_rows) else None,
        labeled_embeddings=features.embeddings[train_rows] if train_rows else None,
        n_labeled=len(train_rows), round_index=snap.round_index)
    strategy = s.strategy if probs is not None or not train_rows else "random"
    picks = compose_batch(state, BatchRequest(strategy, s.batch_size, s.random_share, s.seed,
                                              snap.round_index))
    timings["select"] = time.perf_counter() - t
    progress.report("done", 1.0)
    chosen_by = next((p.strategy for p in picks if not p.is_random), strategy)  # may fall back
    return RoundResult(picks, predicted, len(train_rows), accuracy,
                       {k: round(v, 3) for k, v in timings.items()}, snap.round_index, chosen_by)


def _test_accuracy(snap: Snapshot, index: dict[ItemId, int], model: Classifier,
                   matrix: Any) -> float | None:
    test = [(index[i], label) for i, label in snap.current.items()
            if snap.splits[index[i]] == Split.TEST]
    if not test:
        return None
    rows = [r for r, _ in test]
    probs = model.predict_proba(matrix[rows])
    guesses = [snap.labels[int(k)] for k in probs.argmax(axis=1)]
    return float(np.mean([g == label for g, (_, label) in zip(guesses, test, strict=True)]))


def save_round(project: Project, result: RoundResult) -> int:
    """Write the round and its queue in one transaction; the old queue is replaced."""
    s = project.settings()
    with project.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO rounds (started_at, strategy, batch_size, seed, n_labeled) "
            "VALUES (?, ?, ?, ?, ?)",
            (time.time(), result.strategy, s.batch_size, s.seed, result.n_labeled))
        round_id = int(cursor.lastrowid or 0)
        conn.execute("DELETE FROM queue")
        conn.executemany(
            "INSERT INTO queue (position, item_id, round_id, strategy, score, predicted_cost, "
            "is_random_share) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(pos, p.item_id, round_id, p.strategy, p.score, p.predicted_cost, int(p.is_random))
             for pos, p in enumerate(result.picks)])
    return round_id
