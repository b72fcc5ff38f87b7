"""Rounds and model versions: what a round reads from the project and what it writes back."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from alapp.al.batch import Pick
from alapp.core.options import TrainingLabelRule
from alapp.core.pairs import join_pair
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId
from alapp.store import stream
from alapp.store.postgres import begin_read
from alapp.store.project import Project
from alapp.store.queue import NO_PREDICTIONS, RoundPredictions, replace_batch
from alapp.store.stream import StreamRows
from alapp.store.trainer import RoundOrigin, record_origin

KEEP_WEIGHTS = 5  # model versions whose weights are kept; every version keeps its metrics


@dataclass
class ProjectRows:
    """What a round reads, in one read transaction, so it sees one consistent moment."""

    labels: list[str]
    settings: ProjectSettings
    ids: list[ItemId]
    texts: list[str]
    splits: list[str]
    current: dict[ItemId, str]
    excluded: set[ItemId]
    round_index: int
    measured: list[tuple[ItemId, str, int]]  # (item, annotator, active ms) of timed labels
    random_share: set[ItemId] = field(default_factory=set)
    stream: StreamRows = field(default_factory=StreamRows)  # stream, drift, strata (issue 16)
    descriptions: dict[str, str] = field(default_factory=dict)  # label -> description (17)


def read_for_round(project: Project) -> ProjectRows:
    conn = project._conn
    begin_read(conn)  # every query below sees the same state; on a server, labels go on
    try:
        # one pass over the items (a million rows: every further pass costs seconds)
        rows = conn.execute("SELECT id, text, split, text_b, COALESCE(import_id, 0) "
                            "FROM items ORDER BY id").fetchall()
        rounds = conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
        measured = [(ItemId(r[0]), r[1], r[2]) for r in conn.execute(
            "SELECT item_id, annotator, active_ms FROM label_events WHERE action = 'label' "
            "AND active_ms > 0 AND source != 'import' ORDER BY id")]
        random_share = {ItemId(r[0]) for r in conn.execute(
            "SELECT item_id FROM label_events WHERE action = 'label' AND is_random_share != 0")}
        settings = project.settings()
        # columns taken by itemgetter: no Python step per row
        single = list(map(itemgetter(3), rows)).count(None) == len(rows)  # no pairs
        texts = (list(map(itemgetter(1), rows)) if single
                 else [join_pair(r[1], r[3]) for r in rows])
        return ProjectRows(project.labels(), settings, list(map(itemgetter(0), rows)),
                           texts, list(map(itemgetter(2), rows)),
                           project.current_labels(),
                           # a disputed item is for review, not asked again (issue 19)
                           project.skipped_forever() | project.disputed(), rounds + 1,
                           measured, random_share,
                           stream.read(conn, settings.stratify_by,
                                       list(map(itemgetter(4), rows))),
                           project.label_descriptions())
    finally:
        conn.execute("COMMIT")


def round_count(project: Project) -> int:
    return int(project._conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])


@dataclass
class ModelVersion:
    kind: str
    n_labeled: int
    metrics: dict[str, Any]
    weights: bytes | None
    features: str = ""  # issue 17: the features in words (auto: which embedder and why)


def save_round(project: Project, picks: Sequence[Pick], strategy: str, n_labeled: int,
               model: ModelVersion | None, keep: ItemId | None = None,
               stream_seen: Sequence[tuple[ItemId, int, float | None, float | None]] = (),
               origin: RoundOrigin | None = None,
               predictions: RoundPredictions = NO_PREDICTIONS) -> int:
    """Write the round, its model version and its queue in one transaction. ``keep``: the item
    on the annotator's screen stays first, so a round never swaps it mid-read. ``origin``:
    who trained it, where, on which labels (issue 20). ``predictions``: stored with the queued
    items (issue 20), except in span and multi-label projects, whose predictions (span sets,
    per-label probabilities) are not one label and a confidence: they stay in memory."""
    s = project.settings()
    if project.spans or project.multi_label:
        predictions = NO_PREDICTIONS
    with project.transaction() as conn:
        version = None
        if model is not None:
            cursor = conn.execute(
                "INSERT INTO models (created_at, kind, params, n_labeled, metrics, weights) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), model.kind,
                 json.dumps({"featurizer": s.featurizer, "classifier": s.classifier,
                             "strategy": s.strategy, "seed": s.seed,
                             "model_folder": s.model_folder, "features": model.features}),
                 model.n_labeled, json.dumps(model.metrics), model.weights))
            version = int(cursor.lastrowid or 0)
            conn.execute("UPDATE models SET weights = NULL WHERE version <= ?",
                         (version - KEEP_WEIGHTS,))
        cursor = conn.execute(
            "INSERT INTO rounds (started_at, strategy, batch_size, seed, n_labeled, "
            "model_version) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), strategy, s.batch_size, s.seed, n_labeled, version))
        round_id = int(cursor.lastrowid or 0)
        replace_batch(conn, round_id, picks, keep, keep_claimed=project.on_server,
                      overlap=s.claim_overlap, predictions=predictions)
        if s.training_label_rule == TrainingLabelRule.RELIABLE:  # issue 19
            # who is most often right, estimated again from every decision so far: the rule's
            # ranking follows the labels, not the state at the last merge
            from alapp.store.resolution import rebuild

            rebuild(conn)
        stream.record(conn, round_id, stream_seen)  # stream mode: what arrived (issue 16)
        if origin is not None:
            record_origin(conn, round_id, origin)
    return round_id


def model_history(project: Project) -> list[tuple[int, dict[str, float]]]:
    """(labels trained on, metrics and signal values) of every model version, oldest first."""
    return [(int(n), json.loads(m or "{}")) for n, m in project._conn.execute(
        "SELECT n_labeled, metrics FROM models WHERE n_labeled > 0 ORDER BY version")]


@dataclass
class StoredModel:
    version: int
    kind: str
    params: dict[str, Any]
    n_labeled: int
    metrics: dict[str, Any]
    weights: bytes


def latest_model(project: Project) -> StoredModel | None:
    """The newest model version that still has its weights."""
    row = project._conn.execute(
        "SELECT version, kind, params, n_labeled, metrics, weights FROM models "
        "WHERE weights IS NOT NULL ORDER BY version DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return StoredModel(int(row[0]), row[1], json.loads(row[2]), int(row[3]),
                       json.loads(row[4] or "{}"), row[5])
