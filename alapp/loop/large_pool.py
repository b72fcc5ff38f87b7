"""A round over a pool too large to hold its vectors in memory (issue 20: a million items).

The ordinary round (``round.py``) loads every vector as float32 and keeps a unit-length copy:
for a million 384-dimension vectors that is 3 GB before the pool's own copy. Here the vectors
stay in a file (the vector source's ``cached``, the project's ``store/vector_cache.py``),
read a block of rows at a time; the model trains on the labeled rows read from it, and the pool is
scored a block of rows at a time, keeping only the per-item outputs (the class probabilities,
a few numbers per item). The strategy then chooses from those exactly as in the ordinary round
(``compose_batch`` on the same ``PoolState``), so the batch is the one the ordinary round
would choose: ``tests/test_large_pool.py`` compares them.

It serves the strategies that need the class probabilities alone (least-confidence, margin,
ratio, entropy, stratified-random, random): a strategy that reads every pool item's
embeddings (clusters, core-set, ...) needs them in memory, and those pools take the ordinary
round. What it leaves out, each said in the round's notes: self-training (its kNN check reads
every unlabeled item's embedding) and the label-name prior (a zero-shot score over every item;
it never changes the batch, only the suggestions shown while labels are few).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from alapp.al import stopping
from alapp.al.batch import BatchRequest, Pick
from alapp.al.costmodel import STAT_NAMES, CostEstimate, text_stats
from alapp.al.needs import Need
from alapp.al.registry import get_strategy, strategy_params
from alapp.al.state import PoolState
from alapp.core import options
from alapp.core.featurizer import FeaturizerSpec, PartKind
from alapp.core.progress import Progress
from alapp.core.types import ItemId, Split
from alapp.loop.difficulty import Difficulty

if TYPE_CHECKING:
    from alapp.loop.round import RoundResult, RoundRunner, Snapshot

BLOCK_ROWS = 50_000  # pool rows scored at a time: 77 MB of float32 at 384 dimensions
PROBS_ONLY = frozenset({Need.PROBS})


class VectorRows(Protocol):
    """A featurizer's vectors on disk (``store.vector_cache.CachedVectors``)."""

    @property
    def dim(self) -> int: ...

    def rows_of(self, ids: Sequence[ItemId]) -> NDArray[np.intp]: ...

    def gather(self, rows: NDArray[np.integer]) -> NDArray[np.float32]: ...

    def blocks(self, rows: NDArray[np.integer], size: int
               ) -> Iterator[tuple[slice, NDArray[np.float32]]]: ...

    def close(self) -> None: ...


class RowMatrix:
    """The snapshot's rows of a cached matrix, read when indexed: ``m[rows]`` is a float32
    copy of those rows (unit length with ``unit``); nothing is held whole."""

    def __init__(self, cache: VectorRows, rows: NDArray[np.intp], unit: bool) -> None:
        self.cache, self.rows, self.unit = cache, rows, unit

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), self.cache.dim

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, at: Any) -> NDArray[np.float32]:
        picked = self.rows[np.asarray(at, dtype=np.intp) if isinstance(at, list) else at]
        return self._finish(self.cache.gather(np.atleast_1d(picked)))

    def blocks(self, at: NDArray[np.integer], size: int | None = None
               ) -> Iterator[tuple[slice, NDArray[np.float32]]]:
        for where, block in self.cache.blocks(self.rows[at], size or BLOCK_ROWS):
            yield where, self._finish(block)

    def _finish(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        if not self.unit:
            return vectors
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        out: NDArray[np.float32] = vectors / norms
        return out


def unsupported(snap: Snapshot) -> str | None:
    """Why this snapshot takes the ordinary round (None: the large-pool round serves it)."""
    s = snap.settings
    if s.large_pool_items <= 0 or len(snap.ids) < s.large_pool_items:
        return "small pool"
    if s.task != options.TaskKind.CLASSIFICATION or s.multi_label:
        return "not single-label classification"
    if s.selection_mode != options.SelectionMode.POOL:
        return "stream mode"
    spec = FeaturizerSpec.parse(s.featurizer)
    if spec.several or spec.parts[0].kind is PartKind.TFIDF:
        return "not one dense featurizer"
    if not hasattr(snap.vectors, "cached"):
        return "the vector source has no cache file"
    if not get_strategy(s.strategy).all_needs <= PROBS_ONLY:
        return f"strategy {s.strategy!r} reads more than the class probabilities"
    if s.classifier in (options.Classifier.FINETUNE, options.Classifier.PROPAGATION):
        return f"classifier {s.classifier!r} reads texts or a graph of every item"
    nodes = len(snap.splits) - snap.splits.count(Split.TEST)
    if s.propagation_weight > 0 and nodes <= s.propagation_max_items:
        return "label propagation would be blended in"
    return None


def run_large(runner: RoundRunner, snap: Snapshot, progress: Progress) -> RoundResult | None:
    """The round for a large pool, or None when this snapshot takes the ordinary round."""
    if unsupported(snap) is not None:
        return None
    from alapp.loop import round as base

    s = snap.settings
    notes: list[str] = []
    timings: dict[str, float] = {}
    t = time.perf_counter()
    part = FeaturizerSpec.parse(s.featurizer).parts[0]
    cache: VectorRows = snap.vectors.cached(  # type: ignore[attr-defined]
        base._vector_name(snap, part, progress))
    try:
        rows = cache.rows_of(snap.ids)
        features = base.Features(RowMatrix(cache, rows, unit=False),
                                 RowMatrix(cache, rows, unit=True),  # type: ignore[arg-type]
                                 str(FeaturizerSpec.parse(s.featurizer)),
                                 np.array(snap.texts, dtype=object))
        timings["featurize"] = time.perf_counter() - t
        return _round(runner, snap, features, notes, timings, progress)
    finally:
        cache.close()


def _round(runner: RoundRunner, snap: Snapshot, features: Any, notes: list[str],
           timings: dict[str, float], progress: Progress) -> RoundResult | None:
    from alapp.loop import round as base
    from alapp.ml.propagation import GraphBlend, PropagationClassifier

    s = snap.settings
    ids = np.asarray(snap.ids, dtype=np.int64)
    index = _index(snap.ids, ids)
    train_rows = [index[i] for i in snap.current if snap.splits[index[i]] != Split.TEST]
    train_labels = [snap.current[snap.ids[r]] for r in train_rows]
    # pool items not labeled and not excluded, in numpy: a million of them
    asked = np.fromiter([*snap.current, *snap.excluded], dtype=np.int64)
    is_pool = np.zeros(len(ids), dtype=bool)
    is_pool[base.split_rows(snap.splits, Split.POOL)] = True
    pool_rows = np.flatnonzero(is_pool & ~np.isin(ids, asked)).astype(int)
    needs = get_strategy(s.strategy).all_needs
    state = PoolState(ids=ids[pool_rows],
                      n_labeled=len(train_rows), round_index=snap.round_index,
                      strata=base._strata(snap, pool_rows))
    predicted: dict[ItemId, tuple[str, float]] = {}
    metrics: dict[str, Any] = {}
    model = base_model = None
    signals: list[stopping.Signal] = []
    classes: list[str] = []
    if s.label_prior and FeaturizerSpec.parse(s.featurizer).parts[0].is_embedder:
        notes.append(f"label-name prior skipped: {len(snap.ids):,} items is at or above "
                     f"large_pool_items ({s.large_pool_items:,})")
    if train_rows:
        progress.report(f"training on {len(train_rows)} labels", 0.5)
        t = time.perf_counter()
        classes = snap.classes(train_labels)
        active = len(train_rows) >= s.passive_labels
        model = runner.keeper.model_for(
            replace(s, freeze_batchnorm=s.freeze_batchnorm and active), classes,
            features.embeddings.shape[1], False)
        if (model.takes_texts or getattr(model, "reads_rows", False)
                or isinstance(model, PropagationClassifier)):
            return None  # a model that reads texts or the graph: the ordinary round
        base_model = model
        model = runner._with_graph(snap, features, model, notes)  # notes why it is skipped
        if isinstance(model, GraphBlend):
            return None
        x = features.input_for(model)
        model.fit(x[train_rows], train_labels)
        notes += getattr(model, "notes", [])
        timings["fit"] = time.perf_counter() - t
        if s.self_training:
            notes.append(f"self-training skipped: {len(snap.ids):,} items is at or above "
                         f"large_pool_items ({s.large_pool_items:,}); its neighbour check "
                         "would read every unlabeled item's vector")
        progress.report("scoring the pool", 0.75)
        t = time.perf_counter()
        if len(pool_rows):
            probs = score_blocks(model, x, pool_rows, needs, s.mc_samples, progress)
            state.put(Need.PROBS, probs)
            guesses, confidence = snap.task.decode(classes, probs)
            predicted = dict(zip(state.ids.tolist(), zip(guesses, confidence.tolist(),
                                                         strict=True), strict=True))
        metrics = base._test_metrics(snap, index, model, features, classes)
        metrics.update(stopping.interval_metrics(metrics, s.test_margin, s.test_confidence))
        if metrics and s.classifier == options.Classifier.LOGREG:
            metrics.update(base._random_baseline(snap, index, features, classes, train_rows))
        timings["score"] = time.perf_counter() - t
        signals = runner._signals(snap, features, model, state, metrics, classes)
    progress.report("selecting the batch", 0.9)
    t = time.perf_counter()
    difficulty = runner._uncertainty.difficulty(
        state, model, features.input_for(model) if model is not None else None,
        (i for i, _, _ in snap.measured), index) \
        if s.cost_model == options.CostModel.LEARNED and snap.predicted_costs is None else None
    request = BatchRequest(s.strategy, s.batch_size, s.random_share, s.seed, snap.round_index,
                           cost_aware=s.cost_aware, price_cap=s.price_cap_s or None,
                           params=strategy_params(s))
    if s.cost_aware or s.price_cap_s:  # the choice reads every pool item's predicted cost
        cost = base._estimate_costs(snap, pool_rows, index, runner._text_stats_for(snap),
                                    difficulty)
        state.costs = cost.seconds
        picks = base._compose(state, request, s.passive_labels)
    else:
        # The costs only label the picks: the text statistics of a million texts (minutes
        # of Python) are computed for the timed items and the picks alone.
        picks = base._compose(state, request, s.passive_labels)
        picks, cost = _priced(snap, picks, pool_rows, index, difficulty)
    timings["select"] = time.perf_counter() - t
    progress.report("done", 1.0)
    chosen_by = next((p.strategy for p in picks if not p.is_random),
                     picks[0].strategy if picks and s.passive_labels else s.strategy)
    top_two = (base._top_two(picks, state, classes)
               if model is not None and state.probs is not None else {})
    runner._uncertainty.remember(picks, state, difficulty)
    result = base.RoundResult(picks, predicted, len(train_rows), metrics,
                              {k: round(v, 4) for k, v in timings.items()}, snap.round_index,
                              chosen_by, base._kind(model, base_model),
                              model.weights() if model is not None else None, cost, signals,
                              top_two, notes=notes)
    result.features_line = base._features_line(snap)
    return result


class _IdRows(Mapping[ItemId, int]):
    """Each item's row, looked up by bisection in the ids (ascending): a dict of a million
    ids takes most of a second to build, and a round looks up a few hundred."""

    def __init__(self, ids: NDArray[np.int64]) -> None:
        self.ids = ids

    def __getitem__(self, item_id: ItemId) -> int:
        row = int(np.searchsorted(self.ids, item_id))
        if row < len(self.ids) and int(self.ids[row]) == item_id:
            return row
        raise KeyError(item_id)

    def __iter__(self) -> Iterator[ItemId]:
        return iter(map(ItemId, self.ids.tolist()))

    def __len__(self) -> int:
        return len(self.ids)


def _index(item_ids: Sequence[ItemId], ids: NDArray[np.int64]) -> Mapping[ItemId, int]:
    if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])):  # in id order, as snapshots are
        return _IdRows(ids)
    return {item_id: row for row, item_id in enumerate(item_ids)}


def _priced(snap: Snapshot, picks: list[Pick], pool_rows: NDArray[np.integer],
            index: Mapping[ItemId, int], difficulty: Difficulty | None
            ) -> tuple[list[Pick], CostEstimate]:
    """The picks with their predicted costs, the cost model fitted as the ordinary round fits
    it (on the timed items), predicting for the picks only."""
    from alapp.loop import round as base

    rows = np.array([index[ItemId(p.item_id)] for p in picks], dtype=int)
    if difficulty is not None:
        at = np.searchsorted(pool_rows, rows)  # pool rows ascend: each pick's position
        difficulty = Difficulty(difficulty.pool[at], difficulty.measured)
    stats: Any = TextStats(snap.texts, len(snap.labels))  # indexed by rows, as an array is
    cost = base._estimate_costs(snap, rows, index, stats, difficulty)
    return [replace(p, predicted_cost=float(c))
            for p, c in zip(picks, cost.seconds.tolist(), strict=True)], cost


class TextStats:
    """The cost model's text statistics, computed for the rows asked for when asked."""

    def __init__(self, texts: Sequence[str], n_labels: int) -> None:
        self.texts, self.n_labels = texts, n_labels

    def __getitem__(self, rows: Any) -> NDArray[np.floating]:
        at = np.asarray(rows, dtype=int).reshape(-1).tolist()
        return text_stats([self.texts[r] for r in at], self.n_labels).reshape(
            len(at), len(STAT_NAMES))


def score_blocks(model: Any, x: RowMatrix, pool_rows: NDArray[np.integer],
                 needs: frozenset[Need], mc_samples: int,
                 progress: Progress | None = None) -> NDArray[np.floating]:
    """The model's class probabilities for ``pool_rows``, a block of rows at a time: only the
    block's vectors and the probabilities are in memory."""
    probs: NDArray[np.floating] | None = None
    for where, block in x.blocks(pool_rows):
        out = np.asarray(model.outputs(block, needs, mc_samples)[Need.PROBS])
        if probs is None:
            probs = np.empty((len(pool_rows), *out.shape[1:]), dtype=out.dtype)
        probs[where] = out
        if progress is not None:
            progress.report(f"scoring the pool: {where.stop:,} of {len(pool_rows):,}",
                            0.75 + 0.15 * where.stop / len(pool_rows))
    assert probs is not None
    return probs
