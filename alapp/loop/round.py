"""One active-learning round on a snapshot of the project: featurize, fit, score, select.

A snapshot is read once (texts, current labels, splits); the result is plain data that the
caller writes back (the queue, the round, the model version). The model is kept between rounds
for warm starts, but it is derived state: the store alone can always rebuild it.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from alapp.al import multilabel, stopping, stratify
from alapp.al import prior as label_prior
from alapp.al.batch import BatchRequest, Pick, compose_batch, subset
from alapp.al.costmodel import CostEstimate, estimate_costs, text_stats, with_uncertainty
from alapp.al.drift import ValidationSets
from alapp.al.needs import FROM_GOLD, Need
from alapp.al.propagation import KnnGraph, build_graph
from alapp.al.registry import get_strategy, strategy_params
from alapp.al.selftrain import SelfTrainParams, select_pseudo_labels
from alapp.al.state import PoolState
from alapp.al.stopping import Signal
from alapp.al.task import Classification, Task, task_for
from alapp.core import options
from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerPart, FeaturizerSpec, PartKind
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.core.spans import TokenOffsets
from alapp.core.types import ItemId, Split
from alapp.loop import stream_round
from alapp.loop.difficulty import Difficulty, UncertaintyMemory
from alapp.loop.embedding import VectorSource, ensure_embeddings
from alapp.loop.large_pool import run_large
from alapp.ml.base import Classifier
from alapp.ml.factory import ModelKeeper
from alapp.ml.propagation import GraphBlend, PropagationClassifier

if TYPE_CHECKING:
    from alapp.loop.span_round import SpanRoundRunner

MIN_TIMED_MS = 500
VALIDATION_SAMPLE = 500  # unlabeled pool items the model-outlier ranks are taken against


@dataclass
class Snapshot:
    """Everything a round reads, taken at one moment; ``vectors`` reads and caches embeddings
    (the application's is the project file, a simulation's is in memory)."""

    vectors: VectorSource
    labels: list[str]
    settings: ProjectSettings
    ids: list[ItemId]
    texts: list[str]
    splits: list[str]
    current: dict[ItemId, str]
    excluded: set[ItemId]
    round_index: int
    measured: list[tuple[ItemId, str, int]]  # (item, annotator, active ms) of timed labels
    random_share: set[ItemId] = field(default_factory=set)  # labeled as the batch's random share
    # Predicted labeling seconds per item (rows of ``ids``), when known ahead as a simulation's
    # cost column is: used instead of a cost model learned from measured times.
    predicted_costs: np.ndarray | None = None
    # stream mode and validation (issue 16): what the stream let arrive (item -> kind: 0 passed,
    # 1 asked, 2 asked as the random share; its score then), each item's import, and the
    # ``stratify_by`` metadata value of each item (None: not stratified).
    stream_seen: dict[ItemId, tuple[int, float | None]] = field(default_factory=dict)
    imports: list[int] | None = None
    strata: list[str | None] | None = None
    # Every item's true label (rows of ``ids``): a simulation's hidden answers, never a
    # project's. Only research baselines that cheat on purpose read it (``FROM_GOLD``).
    gold: list[str] | None = None
    # Span projects (issue 18): each item's stored tokens (rows of ``ids``).
    tokens: list[TokenOffsets] | None = None
    # issue 17: each label's description, and (a simulation's) the labels' prototype vectors
    # in the space of the features, rows in ``labels`` order (None: embedded by the round)
    label_descriptions: dict[str, str] = field(default_factory=dict)
    label_vectors: np.ndarray | None = None

    @property
    def task(self) -> Task:
        return task_for(self.settings)

    def classes(self, train_labels: list[str]) -> list[str]:
        """What the classifier predicts (the task decides: one column per label, also in a
        multi-label project, whose model gives each label its own probability)."""
        return self.task.classes(self.labels, train_labels)


@dataclass
class RoundResult:
    picks: list[Pick]
    predicted: dict[ItemId, tuple[str, float]]  # pool item -> (label, confidence)
    n_labeled: int
    metrics: dict[str, Any]  # on the labeled test split, when there is one (and a confusion)
    seconds: dict[str, float] = field(default_factory=dict)
    round_index: int = 0
    strategy: str = ""
    model_kind: str = ""
    weights: bytes | None = None
    cost: CostEstimate | None = None
    signals: list[Signal] = field(default_factory=list)
    # What the model saw of each pick: its two likeliest labels with their probabilities.
    top_two: dict[ItemId, tuple[tuple[str, float], tuple[str, float]]] = field(
        default_factory=dict)
    # What the round featurized with, when not the configured featurizer: a stand-in while
    # ``pending_embeddings`` texts still wait for their embeddings (``run_stand_in``).
    features: str = ""
    pending_embeddings: int = 0
    # Stream mode: what arrived this round, (item, kind, score, threshold) for ``stream_seen``.
    stream_seen: list[tuple[ItemId, int, float | None, float | None]] = field(
        default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the round fell back to, in words
    # multi-label (issue 21): the pool's per-label probabilities (ids, (n, labels) array,
    # labels), for the toggles; None for single-label rounds.
    label_probs: tuple[np.ndarray, np.ndarray, list[str]] | None = None
    # Span projects (issue 18): each pool item's per-token uncertainty ("why chosen").
    token_uncertainty: dict[ItemId, list[float]] = field(default_factory=dict)
    # cold start (issue 17): the features in words, for auto which embedder and why
    # ("multilingual e5 (auto: 94% of the first 500 texts are not in Latin script)")
    features_line: str = ""
    # issue 17: contrastive encoder: the encoder in use, in words (the model tab's line)
    encoder: str = ""
    # issue 17: pseudo-labels the model trained on this round, per class (None: self-training
    # off or not possible; the notes say why). Never labels: recomputed every round.
    pseudo_labels: dict[str, int] | None = None

    def label_probs_of(self, item_id: ItemId) -> dict[str, float] | None:
        """The model's probability for each label of a pool item (0.5: the label's tuned
        threshold), when this multi-label round scored it."""
        if self.label_probs is None:
            return None
        ids, probs, labels = self.label_probs
        rows = np.flatnonzero(ids == item_id)
        if not len(rows):
            return None
        return {name: float(p) for name, p in zip(labels, probs[rows[0]], strict=True)}

    @property
    def pseudo_label_count(self) -> int | None:
        """Issue 17: how many pseudo-labels the round's model trained on (None: none tried)."""
        return None if self.pseudo_labels is None else sum(self.pseudo_labels.values())

    def pseudo_label_text(self) -> str:
        """The Model tab's line about self-training ("" when it was off)."""
        if self.pseudo_labels is None:
            return ""
        per = ", ".join(f"{label} {n}" for label, n in self.pseudo_labels.items() if n)
        return (f"Pseudo-labels used in the last round: {self.pseudo_label_count}"
                + (f" ({per}); never stored as labels" if per else ""))

    @property
    def test_accuracy(self) -> float | None:
        return self.metrics.get("accuracy")

    def stored_metrics(self) -> dict[str, Any]:
        """Test metrics plus the stopping signals' values, kept per model version so forecasts
        (when will predictions stabilise?) survive a restart."""
        values = {f"signal_{s.name}": float(s.value) for s in self.signals if s.value is not None}
        if self.pseudo_labels is not None:  # issue 17: the round's record keeps the count
            values["pseudo_labels"] = float(self.pseudo_label_count or 0)
            values["pseudo_labels_per_class"] = dict(self.pseudo_labels)  # type: ignore[assignment]
        return {**self.metrics, **values}


@dataclass
class Features:
    matrix: Any  # what the classifier trains on (sparse TF-IDF, dense or several vectors)
    embeddings: np.ndarray  # unit-length dense vectors for diversity strategies
    name: str
    texts: np.ndarray  # object array of the texts, for models that read them directly
    dense: bool = True  # False: ``matrix`` is sparse (TF-IDF)
    several_inputs: bool = False  # ``matrix`` is one matrix per featurizer (MultiInput)

    def input_for(self, model: Classifier) -> Any:
        """What ``model`` reads, by what it declares (see ``alapp.ml.base``)."""
        if model.takes_texts:
            return self.texts
        if getattr(model, "reads_rows", False):  # issue 17: a graph model, addressed by row
            return np.arange(len(self.embeddings))
        if self.several_inputs and not model.several_inputs:
            return self.embeddings  # one input: the joined, normalised vectors
        if model.needs_dense and not self.dense:
            return self.embeddings  # dense input: LSA, not sparse TF-IDF
        return self.matrix


def featurize(snap: Snapshot, progress: Progress) -> Features:
    """One featurizer, or several joined by "+" (late fusion: one head per input)."""
    texts = np.array(snap.texts, dtype=object)
    spec = FeaturizerSpec.parse(snap.settings.featurizer)
    if spec.several:
        from alapp.ml.fusion import MultiInput

        # An item may lack an input (a post without an image): its rows are zeros and masked
        # in the model, and its diversity embedding joins the parts it has, renormalised.
        parts = [_featurize_part(snap, part, progress) for part in spec.parts]
        joined = np.concatenate([p[1] for p in parts], axis=1)
        joined /= np.maximum(np.linalg.norm(joined, axis=1, keepdims=True), 1e-12)
        return Features(MultiInput([p[0] for p in parts], [p[2] for p in parts]), joined,
                        str(spec), texts, dense=spec.dense, several_inputs=True)
    matrix, embeddings = _featurize_one(snap, spec.parts[0], progress)
    return Features(matrix, embeddings, str(spec), texts, dense=spec.dense)


def _featurize_one(snap: Snapshot, part: FeaturizerPart,
                   progress: Progress) -> tuple[Any, np.ndarray]:
    if part.kind is PartKind.TFIDF:
        from alapp.ml.features import tfidf_features

        progress.report("computing TF-IDF features", 0.1)
        tf = tfidf_features(snap.texts, seed=snap.settings.seed)
        return tf.matrix, tf.embeddings
    vectors = snap.vectors.load(_vector_name(snap, part, progress), snap.ids)
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors, vectors / norms


def _vector_name(snap: Snapshot, part: FeaturizerPart, progress: Progress) -> str:
    """Where a dense part's vectors are stored (computed first for a sentence embedder)."""
    name = str(part)  # imported vectors are stored under their "vectors:NAME"
    if part.is_embedder:
        from alapp.ml.embedders import make_embedder

        embedder = make_embedder(name, snap.texts, snap.settings.device)
        ensure_embeddings(snap.vectors, embedder, progress)
        name = embedder.name
    return name


def _featurize_part(snap: Snapshot, part: FeaturizerPart,
                    progress: Progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One input of several: its vectors, their unit-length copies and which items have it
    (imported vectors may cover some items only; a text embedder has nothing to say about an
    item without text, such as an image-only post). Missing rows are zeros."""
    vectors, present = snap.vectors.load_present(_vector_name(snap, part, progress), snap.ids)
    if part.is_embedder:
        present = present & np.array([bool(t.strip()) for t in snap.texts], dtype=bool)
    vectors = vectors * present[:, None]
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors, vectors / norms, present


class RoundRunner:
    """Runs rounds one at a time (the caller serialises them) and keeps the model warm."""

    def __init__(self) -> None:
        self.keeper = ModelKeeper()
        self._features: tuple[tuple[Any, ...], Features] | None = None
        self._stop_history: list[np.ndarray] = []  # predictions on the fixed stop set
        # the last round's pool predictions: item ids (ascending) and their stable codes
        self._previous_pool: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64),
                                                              np.zeros(0, int))
        self._codes: dict[str, int] = {}  # class name -> a code stable across rounds
        self._stats: tuple[tuple[int, ...], np.ndarray] | None = None
        self._uncertainty = UncertaintyMemory()  # the cost model's difficulty feature
        self._validation = ValidationSets()  # refreshed random samples for drift (issue 16)
        self._prototypes: tuple[tuple[Any, ...], np.ndarray | None] | None = None  # issue 17
        self._graph: tuple[tuple[Any, ...], KnnGraph] | None = None  # issue 17: kNN graph

    def _stable_codes(self, task: Task, classes: list[str], probs: np.ndarray) -> np.ndarray:
        """Predicted labels (a multi-label project's predicted sets) as codes that mean the
        same in every round."""
        if isinstance(task, Classification) and len(probs):  # without a step per row
            best = np.asarray(probs).argmax(axis=1)
            # codes given in the order the classes first appear among the guesses, as the
            # loop below gives them
            present, first = np.unique(best, return_index=True)
            for k in present[np.argsort(first)].tolist():
                self._codes.setdefault(classes[k], len(self._codes))
            table = np.array([self._codes.get(c, -1) for c in classes], dtype=int)
            codes: np.ndarray = table[best]
            return codes
        guesses, _ = task.decode(classes, probs)
        return np.array([self._codes.setdefault(g, len(self._codes)) for g in guesses],
                        dtype=int)

    def _text_stats_for(self, snap: Snapshot) -> np.ndarray:
        """The cost model's text statistics for every item, computed once: a Python loop over
        100k texts takes seconds and would hold the GIL (stalling the window) every round."""
        key = (len(snap.ids), snap.ids[-1] if snap.ids else 0, len(snap.labels))
        if self._stats is None or self._stats[0] != key:
            self._stats = (key, text_stats(snap.texts, len(snap.labels)))
        return self._stats[1]

    def _features_for(self, snap: Snapshot, progress: Progress) -> Features:
        key = (snap.settings.featurizer, len(snap.ids), snap.ids[-1] if snap.ids else 0)
        if self._features is None or self._features[0] != key:
            self._features = (key, featurize(snap, progress))
        return self._features[1]

    def run(self, snap: Snapshot, progress: Progress | None = None) -> RoundResult:
        from alapp.ml.threads import limit_threads

        limit_threads()
        progress = progress or Progress()
        s = snap.settings
        if s.task == options.TaskKind.SPANS:  # issue 18: the span round
            return self._span_runner().run(snap, progress)
        large = run_large(self, snap, progress)  # issue 20: vectors too many for memory
        if large is not None:
            return large
        timings: dict[str, float] = {}
        t = time.perf_counter()
        features = self._features_for(snap, progress)
        timings["featurize"] = time.perf_counter() - t

        index = {item_id: row for row, item_id in enumerate(snap.ids)}
        train_rows = [index[i] for i in snap.current if snap.splits[index[i]] != Split.TEST]
        train_labels = [snap.current[snap.ids[r]] for r in train_rows]
        pool_rows = np.array([r for r, i in enumerate(snap.ids)
                              if snap.splits[r] == Split.POOL and i not in snap.current
                              and i not in snap.excluded], dtype=int)
        if s.selection_mode == options.SelectionMode.STREAM:  # a passed item is never asked
            pool_rows = stream_round.not_passed(pool_rows, snap.ids, snap.stream_seen)
        needs = get_strategy(s.strategy).all_needs
        if needs & FROM_GOLD and snap.gold is None:
            raise AlappError(f"strategy {s.strategy!r} reads the true labels of unlabeled items, "
                             "which only a simulation knows: run it with `alapp simulate`, or "
                             "choose learning-loss for this project")
        notes: list[str] = []
        state = PoolState(
            ids=np.array([snap.ids[r] for r in pool_rows], dtype=np.int64),
            embeddings=features.embeddings[pool_rows] if len(pool_rows) else None,
            labeled_embeddings=features.embeddings[train_rows] if train_rows else None,
            target_embeddings=_test_embeddings(snap, features),
            n_labeled=len(train_rows), round_index=snap.round_index,
            strata=_strata(snap, pool_rows))
        if s.multi_label and train_labels:  # multi-label (issue 21): labels per labeled item
            state.label_cardinality = multilabel.mean_cardinality(train_labels)
        predicted: dict[ItemId, tuple[str, float]] = {}
        metrics: dict[str, Any] = {}
        model: Classifier | None = None
        # issue 17: the label names' zero-shot prior, checked on the labeled items
        prior = self._label_prior(snap, features, progress)
        prior_check = None
        if prior is not None:
            code = {name: k for k, name in enumerate(snap.labels)}
            prior_check = label_prior.check(prior[train_rows],
                                            [code[label] for label in train_labels],
                                            len(snap.labels))
            notes.append(prior_check.text)
            if not train_rows and len(pool_rows):  # no model yet: the names' guesses
                guesses, confidence = snap.task.decode(snap.labels, prior[pool_rows])
                for row, guess, p in zip(pool_rows, guesses, confidence, strict=True):
                    predicted[snap.ids[row]] = (guess, float(p))
        base: Classifier | None = None  # the kept classifier (model may wrap it, issue 17)
        pseudo: dict[str, int] | None = None
        if len(set(train_labels)) >= 1 and train_rows:
            progress.report(f"training on {len(train_rows)} labels", 0.5)
            t = time.perf_counter()
            classes = snap.classes(train_labels)
            # Batch-norm statistics are frozen in the active phase (001): once the passive
            # phase's labels are in (the model is then rebuilt once, on all of them).
            active = len(train_rows) >= s.passive_labels
            model = self.keeper.model_for(
                replace(s, freeze_batchnorm=s.freeze_batchnorm and active), classes,
                features.embeddings.shape[1], features.several_inputs)
            base = model
            model = self._with_graph(snap, features, model, notes)  # issue 17
            x = features.input_for(model)
            model.fit(x[train_rows], train_labels)
            notes += getattr(model, "notes", [])
            timings["fit"] = time.perf_counter() - t
            if s.self_training:  # issue 17
                t = time.perf_counter()
                pseudo = self._self_train(snap, features, model, x, train_rows, train_labels,
                                          classes, notes)
                timings["self_train"] = time.perf_counter() - t
            progress.report("scoring the pool", 0.75)
            t = time.perf_counter()
            if len(pool_rows):
                out = model.outputs(x[pool_rows], needs, s.mc_samples)
                for need, value in out.items():
                    state.put(need, value)
                probs = out[Need.PROBS]
                notes += _derived(snap, needs, state, pool_rows, classes, probs)
                if prior is not None and prior_check is not None and prior_check.weight > 0:
                    # The names' prior sharpens the suggestions shown while labels are few;
                    # selection keeps the classifier's own probabilities (a blended ranking
                    # cost AG News 0.03 at 32 labels, docs/cold_start.md).
                    probs = label_prior.blend(probs, prior[pool_rows], prior_check.weight)
                guesses, confidence = snap.task.decode(classes, probs)
                for row, guess, p in zip(pool_rows, guesses, confidence, strict=True):
                    predicted[snap.ids[row]] = (guess, float(p))
            metrics = _test_metrics(snap, index, model, features, classes)
            if prior is not None and prior_check is not None and prior_check.weight > 0:
                metrics.update(_prior_metrics(snap, index, model, features, classes, prior,
                                              prior_check.weight))
            metrics.update(stopping.interval_metrics(metrics, s.test_margin, s.test_confidence))
            if metrics and s.classifier == options.Classifier.LOGREG \
                    and not features.several_inputs:
                metrics.update(_random_baseline(snap, index, features, classes, train_rows))
            timings["score"] = time.perf_counter() - t
            signals = self._signals(snap, features, model, state, metrics, classes)
        else:
            signals = []
        progress.report("selecting the batch", 0.9)
        t = time.perf_counter()
        difficulty = self._uncertainty.difficulty(
            state, model, features.input_for(model) if model is not None else None,
            (i for i, _, _ in snap.measured), index) \
            if s.cost_model == options.CostModel.LEARNED and snap.predicted_costs is None \
            else None
        cost = _estimate_costs(snap, pool_rows, index, self._text_stats_for(snap), difficulty)
        state.costs = cost.seconds
        streamed = None
        if s.selection_mode == options.SelectionMode.STREAM:
            streamed = stream_round.select(state, snap.stream_seen, s.batch_size,
                                           s.stream_ask_rate, s.random_share, s.strategy, s.seed,
                                           snap.round_index, model is not None,
                                           strategy_params(s), s.price_cap_s or None,
                                           s.cost_aware)
            picks = streamed.picks
            signals.append(streamed.signal)
        else:
            picks = _compose(state, BatchRequest(
                s.strategy, s.batch_size, s.random_share, s.seed, snap.round_index,
                cost_aware=s.cost_aware, price_cap=s.price_cap_s or None,
                params=strategy_params(s)), s.passive_labels)
        timings["select"] = time.perf_counter() - t
        progress.report("done", 1.0)
        chosen_by = next((p.strategy for p in picks if not p.is_random),
                         picks[0].strategy if picks and s.passive_labels else s.strategy)
        top_two = (_top_two(picks, state, classes, s.multi_label)
                   if model is not None and state.probs is not None else {})
        self._uncertainty.remember(picks, state, difficulty)
        result = RoundResult(picks, predicted, len(train_rows), metrics,
                             {k: round(v, 4) for k, v in timings.items()}, snap.round_index,
                             chosen_by, _kind(model, base),
                             model.weights() if model is not None else None, cost, signals,
                             top_two, notes=notes)
        result.pseudo_labels = pseudo
        result.stream_seen = streamed.seen if streamed is not None else []
        if s.multi_label and model is not None and state.probs is not None:  # issue 21
            result.label_probs = (state.ids.copy(), state.probs, list(classes))
        result.features_line = _features_line(snap)  # issue 17
        return result

    def _span_runner(self) -> SpanRoundRunner:
        from alapp.loop.span_round import SpanRoundRunner

        runner: SpanRoundRunner | None = getattr(self, "_spans", None)
        if runner is None:
            runner = self._spans = SpanRoundRunner()
        return runner

    def _label_prior(self, snap: Snapshot, features: Features,
                     progress: Progress) -> np.ndarray | None:
        """(items, labels) zero-shot probabilities from the labels' prototypes (issue 17), or
        None: the setting is off, a multi-label project, or features without a space the
        label names share (TF-IDF, imported vectors unless a simulation gives prototypes)."""
        s = snap.settings
        if not s.label_prior or s.multi_label or s.task != options.TaskKind.CLASSIFICATION:
            return None
        vectors = snap.label_vectors
        if vectors is None:
            key = (s.featurizer, tuple(snap.labels), tuple(sorted(snap.label_descriptions.items())),
                   len(snap.ids))
            if self._prototypes is None or self._prototypes[0] != key:
                from alapp.ml.embedders import label_prototypes

                progress.report("embedding the label names", 0.3)
                self._prototypes = (key, label_prototypes(
                    s.featurizer, snap.labels, snap.label_descriptions, snap.texts, s.device))
            vectors = self._prototypes[1]
        if vectors is None or vectors.shape[1] != features.embeddings.shape[1]:
            return None
        return label_prior.zero_shot(features.embeddings, vectors)

    def _graph_for(self, snap: Snapshot, features: Features) -> KnnGraph:
        """The kNN graph of every item over the non-test items, built once per features."""
        key = (self._features[0] if self._features else None, snap.settings.propagation_k,
               tuple(r for r, split in enumerate(snap.splits) if split == Split.TEST))
        if self._graph is None or self._graph[0] != key:
            is_node = np.array([split != Split.TEST for split in snap.splits], dtype=bool)
            self._graph = (key, build_graph(features.embeddings, is_node,
                                            snap.settings.propagation_k))
        return self._graph[1]

    def _with_graph(self, snap: Snapshot, features: Features, model: Classifier,
                    notes: list[str]) -> Classifier:
        """Issue 17: hand a propagation classifier its graph, or blend label spreading into
        the classifier's probabilities (``propagation_weight``) where the blend applies."""
        s = snap.settings
        if isinstance(model, PropagationClassifier):
            model.use_graph(self._graph_for(snap, features), features.embeddings)
            return model
        if s.propagation_weight <= 0 or s.multi_label:  # multi-label: said once, in Settings
            return model
        why = ("the classifier reads several inputs" if features.several_inputs else
               "the classifier reads the texts" if model.takes_texts else "")
        if why:
            notes.append(f"label propagation not blended in: {why}")
            return model
        nodes = len(snap.splits) - snap.splits.count(Split.TEST)
        if nodes > s.propagation_max_items:
            notes.append(f"label propagation skipped: {nodes:,} items is above "
                         f"propagation_max_items ({s.propagation_max_items:,}); its kNN graph "
                         "would take minutes to build")
            return model
        return GraphBlend(model, features.input_for(model), self._graph_for(snap, features),
                          features.embeddings, s.propagation_weight, s.propagation_alpha,
                          s.propagation_fade)

    def _self_train(self, snap: Snapshot, features: Features, model: Classifier, x: Any,
                    train_rows: list[int], train_labels: list[str], classes: list[str],
                    notes: list[str]) -> dict[str, int] | None:
        """Issue 17: refit on the human labels plus the confident, kNN-verified pseudo-labels
        of the unlabeled pool (``alapp.al.selftrain``), each weighted
        ``self_training_weight``; no confidence below twice chance (at most 0.5) counts. The
        test set is never a candidate and never tunes anything;
        the pseudo-labels live in this round only. Returns the count per class (None: not
        possible, with a note saying why)."""
        s = snap.settings
        if s.multi_label:  # labels are sets, not one choice: said once, in Settings (issue 17)
            return None
        why = (f"the {type(getattr(model, 'base', model)).__name__} takes no per-item weights "
               "(logistic regression does)" if not getattr(model, "takes_weights", False) else
               "it needs labels of two classes" if len(set(train_labels)) < 2 else "")
        if why:
            notes.append(f"self-training skipped: {why}")
            return None
        labeled = set(snap.current)
        unlabeled = np.array([r for r, i in enumerate(snap.ids)
                              if snap.splits[r] == Split.POOL and i not in labeled], dtype=int)
        counts = dict.fromkeys(sorted(set(train_labels), key=classes.index), 0)
        if not len(unlabeled):
            return counts
        code = {c: k for k, c in enumerate(classes)}
        picked = select_pseudo_labels(
            model.predict_proba(x[unlabeled]), features.embeddings[unlabeled],
            features.embeddings[train_rows], np.array([code[y] for y in train_labels]),
            SelfTrainParams(s.self_training_quantile, min(0.5, 2 / len(classes)),
                            s.self_training_k, s.self_training_cap))
        if not len(picked.rows):
            return counts
        rows = np.concatenate([np.array(train_rows, dtype=int), unlabeled[picked.rows]])
        pseudo = [classes[c] for c in picked.codes.tolist()]
        weight = np.concatenate([np.ones(len(train_rows)),
                                 np.full(len(pseudo), s.self_training_weight)])
        model.fit_weighted(x[rows], [*train_labels, *pseudo], weight)  # type: ignore[attr-defined]
        for label in pseudo:
            counts[label] = counts.get(label, 0) + 1
        return counts

    def run_stand_in(self, snap: Snapshot, pending: int,
                     progress: Progress | None = None) -> RoundResult:
        """A round that waits for no embeddings, while ``pending`` texts are embedded in the
        background: without labels a random batch (no features at all: the first items
        appear at once); with labels the round on TF-IDF features. Its model is not kept for
        export (its weights are dropped): it reads TF-IDF, not the configured featurizer. The
        next round after the embeddings are done uses them."""
        progress = progress or Progress()
        if snap.settings.task == options.TaskKind.SPANS:  # issue 18: the CRF needs no vectors
            return self.run(snap, progress)
        if not any(snap.splits[r] != Split.TEST for r, i in enumerate(snap.ids)
                   if i in snap.current):
            result = self._random_batch(snap, progress)
        else:
            tfidf = replace(snap, settings=replace(snap.settings, featurizer="tfidf"))
            result = self.run(tfidf, progress)
            result.features = "tfidf"
        result.weights = None
        result.pending_embeddings = pending
        return result

    def _random_batch(self, snap: Snapshot, progress: Progress) -> RoundResult:
        s = snap.settings
        progress.report("choosing a random first batch", 0.5)
        t = time.perf_counter()
        index = {item_id: row for row, item_id in enumerate(snap.ids)}
        pool_rows = np.array([r for r, i in enumerate(snap.ids)
                              if snap.splits[r] == Split.POOL and i not in snap.current
                              and i not in snap.excluded], dtype=int)
        if s.selection_mode == options.SelectionMode.STREAM:
            pool_rows = stream_round.not_passed(pool_rows, snap.ids, snap.stream_seen)
        state = PoolState(ids=np.array([snap.ids[r] for r in pool_rows], dtype=np.int64),
                          embeddings=None, n_labeled=0, round_index=snap.round_index,
                          strata=_strata(snap, pool_rows))
        cost = _estimate_costs(snap, pool_rows, index, self._text_stats_for(snap))
        state.costs = cost.seconds
        if s.selection_mode == options.SelectionMode.STREAM:  # the first items, in order
            streamed = stream_round.select(state, snap.stream_seen, s.batch_size,
                                           s.stream_ask_rate, s.random_share, s.strategy, s.seed,
                                           snap.round_index, False)
            return RoundResult(streamed.picks, {}, 0, {},
                               {"select": round(time.perf_counter() - t, 4)}, snap.round_index,
                               "stream", cost=cost, features="none", signals=[streamed.signal],
                               stream_seen=streamed.seen)
        picks = compose_batch(state, BatchRequest(
            "random", s.batch_size, s.random_share, s.seed, snap.round_index,
            cost_aware=False, price_cap=s.price_cap_s or None))
        progress.report("done", 1.0)
        return RoundResult(picks, {}, 0, {}, {"select": round(time.perf_counter() - t, 4)},
                           snap.round_index, "random", cost=cost, features="none")

    def _signals(self, snap: Snapshot, features: Features, model: Classifier, state: PoolState,
                 metrics: dict[str, Any], classes: list[str]) -> list[Signal]:
        """Stopping signals with their values; the budget one is the session's."""
        s = snap.settings
        out = [stopping.target_metric(metrics.get("accuracy"), s.target_accuracy,
                                      n=metrics.get("test_items"),
                                      confidence=s.test_confidence)] \
            if s.target_accuracy > 0 and not s.multi_label else []
        if s.target_accuracy > 0 and s.multi_label:  # issue 21: the target is on micro-F1
            out.append(stopping.target_metric(metrics.get("micro_f1"), s.target_accuracy,
                                              "micro-F1"))
        # A fixed random set of pool items (seeded, so the same across rounds and restarts).
        pool_rows = split_rows(snap.splits, Split.POOL)
        rng = np.random.default_rng(s.seed)
        stop_rows = np.sort(rng.permutation(pool_rows)[: s.stop_set_size])
        if len(stop_rows):
            x = features.input_for(model)
            self._stop_history.append(self._stable_codes(snap.task, classes,
                                                         model.predict_proba(x[stop_rows])))
            out.append(stopping.stabilizing_predictions(self._stop_history))
        if state.probs is not None and len(state.probs):
            # multi-label: over every (item, label) yes/no decision (issue 21)
            decisions = multilabel.binary_view(state.probs) if s.multi_label else state.probs
            out.append(stopping.overall_uncertainty(decisions))
            out.append(stopping.max_confidence(decisions))
            codes = self._stable_codes(snap.task, classes, state.probs)
            ids = np.asarray(state.ids, dtype=np.int64)
            before, before_codes = self._previous_pool
            if len(before):  # the items in both pools, in this pool's order
                at = np.minimum(np.searchsorted(before, ids), len(before) - 1)
                common = before[at] == ids
                if common.any():
                    out.append(stopping.classification_change(before_codes[at[common]],
                                                              codes[common]))
            order = np.argsort(ids, kind="stable")
            self._previous_pool = (ids[order], codes[order])
            out.extend(self._drift(snap, state))
        return out

    def _drift(self, snap: Snapshot, state: PoolState) -> list[Signal]:
        """The refreshed validation samples' drift signal (``alapp.al.drift``), on the
        probabilities the round already has for the unlabeled pool."""
        if state.probs is None:
            return []
        s = snap.settings
        imports = (np.asarray(snap.imports, dtype=np.int64)[rows_of(snap.ids, state.ids)]
                   if snap.imports else np.zeros(len(state.ids), dtype=np.int64))
        signal = self._validation.check(state.ids, state.probs, imports,
                                        state.n_labeled, s.drift_every, s.drift_sample_size,
                                        s.seed)
        return [] if signal is None else [signal]


def _features_line(snap: Snapshot) -> str:
    """Which features the round used, in words (issue 17): for ``auto``, the embedder it chose
    for the pool's language and the share of texts that decided it."""
    from alapp.ml.embedders import features_line

    return features_line(snap.settings.featurizer, snap.texts)


def split_rows(splits: Sequence[str], split: str) -> np.ndarray:
    """Rows whose split is ``split``, ascending, without a Python step per row."""
    return np.flatnonzero(np.fromiter(map(operator.eq, splits, repeat(split)), dtype=bool,
                                      count=len(splits)))


def rows_of(ids: Sequence[ItemId], wanted: np.ndarray) -> np.ndarray:
    """Rows in ``ids`` of the ``wanted`` ids, every one of which is there."""
    every = np.asarray(ids, dtype=np.int64)
    if len(every) > 1 and not bool(np.all(every[1:] > every[:-1])):  # not in id order
        order = np.argsort(every, kind="stable")
        found: np.ndarray = order[np.searchsorted(every, wanted, sorter=order)]
        return found
    return np.searchsorted(every, wanted)


def _strata(snap: Snapshot, pool_rows: np.ndarray) -> np.ndarray | None:
    """Stratum codes of the pool rows by the ``stratify_by`` metadata value, when set."""
    if not snap.settings.stratify_by or snap.strata is None:
        return None
    return stratify.codes([snap.strata[r] for r in pool_rows])


def passive_reason(passive_labels: int) -> str:
    """Why an item of the passive phase is asked (its pick's ``strategy``)."""
    return f"passive phase: random until {passive_labels:,} labels"


def _compose(state: PoolState, request: BatchRequest, passive_labels: int) -> list[Pick]:
    """The batch; while fewer than ``passive_labels`` labels exist (the passive phase, 001;
    003: random first) the items still missing are drawn at random, marked as random (they
    feed the random baseline), and the rest of the batch is the strategy's."""
    missing = passive_labels - state.n_labeled
    if missing <= 0:
        return compose_batch(state, request)
    randoms = [replace(p, is_random=True, strategy=passive_reason(passive_labels))
               for p in compose_batch(state, replace(
                   request, strategy="random", batch_size=min(missing, request.batch_size),
                   random_share=0.0, cost_aware=False))]
    rest = request.batch_size - len(randoms)
    taken = np.isin(state.ids, [p.item_id for p in randoms])
    if rest <= 0 or taken.all():
        return randoms
    return randoms + compose_batch(subset(state, np.flatnonzero(~taken)),
                                   replace(request, batch_size=rest))


def validation_rows(snap: Snapshot, pool_rows: np.ndarray) -> np.ndarray:
    """Candidate positions (into ``pool_rows``) of the unlabeled validation set: a fixed
    seeded random sample of the pool (the same across rounds and restarts), less what has
    been labeled since. 000: the activations of known data come from a validation set that
    is unlabeled; the model never trained on it."""
    rows = [r for r, split in enumerate(snap.splits) if split == Split.POOL]
    rng = np.random.default_rng([snap.settings.seed, 17])
    sample = rng.permutation(np.array(rows, dtype=int))[:VALIDATION_SAMPLE]
    return np.flatnonzero(np.isin(pool_rows, sample))


def _derived(snap: Snapshot, needs: frozenset[Need], state: PoolState, pool_rows: np.ndarray,
             classes: list[str], probs: np.ndarray) -> list[str]:
    """Fill what the round derives from the model's output (``needs.DERIVED``, ``FROM_GOLD``);
    the notes say what it used."""
    notes: list[str] = []
    if Need.VALIDATION_ACTIVATIONS in needs and state.activations is not None:
        at = validation_rows(snap, pool_rows)
        if len(at) == 0:  # the sample is all labeled: the whole pool stands in
            at = np.arange(len(pool_rows))
        state.validation_activations = state.activations[at]
        notes.append(f"outlier ranks against {len(at)} unlabeled pool items (a fixed random "
                     "validation sample)")
    if Need.TRUE_LOSS in needs and snap.gold is not None:
        code = {c: k for k, c in enumerate(classes)}
        truth = np.array([code.get(snap.gold[r], -1) for r in pool_rows], dtype=int)
        p = np.where(truth >= 0, probs[np.arange(len(truth)), np.maximum(truth, 0)], 0.0)
        state.true_loss = -np.log(np.clip(p, 1e-12, 1.0))  # cross-entropy on the truth
    return notes


def _top_two(picks: list[Pick], state: PoolState, classes: list[str],
             multi_label: bool = False) -> dict[ItemId, tuple[tuple[str, float],
                                                             tuple[str, float]]]:
    """Each pick's two likeliest labels and their probabilities, as the model saw them
    (multi-label: the two labels closest to their thresholds, the ones it was unsure of)."""
    if state.probs is None or state.probs.ndim != 2 or state.probs.shape[1] < 2:
        return {}
    row = state.positions(int(p.item_id) for p in picks)
    out: dict[ItemId, tuple[tuple[str, float], tuple[str, float]]] = {}
    for pick in picks:
        r = row.get(pick.item_id)
        if r is None:
            continue
        p = state.probs[r]
        first, second = np.argsort(np.abs(p - 0.5) if multi_label else -p, kind="stable")[:2]
        out[ItemId(pick.item_id)] = ((classes[int(first)], float(p[first])),
                                     (classes[int(second)], float(p[second])))
    return out


def _estimate_costs(snap: Snapshot, pool_rows: np.ndarray, index: Mapping[ItemId, int],
                    stats: np.ndarray, difficulty: Difficulty | None = None) -> CostEstimate:
    """Predicted labeling seconds for the pool, learned from this project's measured times:
    each item's first timed label (a later change of it re-reads a known text), with the
    model's uncertainty as a statistic and the random share and test set weighted up
    (``al.costmodel``: the cost model's bias)."""
    if snap.predicted_costs is not None:
        return CostEstimate(snap.predicted_costs[pool_rows], "given", "high", 0)
    # Under half a second is a slip (a repeated key), not a labeling time: not evidence.
    first: dict[ItemId, tuple[ItemId, str, int]] = {}
    for i, a, ms in snap.measured:
        if i in index and ms >= MIN_TIMED_MS:
            first.setdefault(i, (i, a, ms))
    timed = list(first.values())
    measured_rows = [index[i] for i, _, _ in timed]
    seconds = np.array([ms / 1000 for _, _, ms in timed])
    annotators = [a for _, a, _ in timed]
    last = annotators[-1] if annotators else None
    unbiased = [i in snap.random_share or snap.splits[index[i]] == Split.TEST
                for i, _, _ in timed]
    measured_stats, pool_stats = stats[measured_rows], stats[pool_rows]
    if difficulty is not None:
        measured_stats = with_uncertainty(measured_stats, np.array(
            [difficulty.measured.get(i, 0.0) for i, _, _ in timed]))
        pool_stats = with_uncertainty(pool_stats, difficulty.pool)
    return estimate_costs(snap.settings.cost_model, measured_stats, seconds,
                          annotators, pool_stats, last, unbiased)


def _test_embeddings(snap: Snapshot, features: Features) -> np.ndarray | None:
    rows = [r for r, split in enumerate(snap.splits) if split == Split.TEST]
    return features.embeddings[rows] if rows else None


def _test_metrics(snap: Snapshot, index: Mapping[ItemId, int], model: Classifier,
                  features: Features, classes: list[str]) -> dict[str, Any]:
    """The task's quality measures (accuracy, macro-F1, the confusion matrix for
    classification) on the labeled test items."""
    test = [(index[i], label) for i, label in snap.current.items()
            if snap.splits[index[i]] == Split.TEST]
    if not test:
        return {}
    probs = model.predict_proba(features.input_for(model)[[r for r, _ in test]])
    guesses, _ = snap.task.decode(classes, probs)
    return snap.task.metrics(classes, [label for _, label in test], guesses)


def _kind(model: Classifier | None, base: Classifier | None) -> str:
    """The stored model kind: the classifier's, or the blend's that wraps it (issue 17)."""
    if isinstance(model, GraphBlend):
        return model.kind
    return type(base).__name__ if base is not None else ""


def _prior_metrics(snap: Snapshot, index: Mapping[ItemId, int], model: Classifier,
                   features: Features, classes: list[str], prior: np.ndarray,
                   weight: float) -> dict[str, float]:
    """Test accuracy of the probabilities the round ranked and predicted with: the model's
    blended with the label-name prior (issue 17). The exported model is the model alone,
    whose accuracy stays the ``accuracy``."""
    test = [(index[i], label) for i, label in snap.current.items()
            if snap.splits[index[i]] == Split.TEST]
    if not test:
        return {}
    rows = [r for r, _ in test]
    probs = label_prior.blend(model.predict_proba(features.input_for(model)[rows]), prior[rows],
                              weight)
    guesses, _ = snap.task.decode(classes, probs)
    right = sum(g == label for g, (_, label) in zip(guesses, test, strict=True))
    return {"prior_blend_accuracy": right / len(test), "prior_weight": weight}


def _random_baseline(snap: Snapshot, index: Mapping[ItemId, int], features: Features,
                     classes: list[str], train_rows: list[int]) -> dict[str, float]:
    """Test accuracy of the same model trained on the batches' random share alone: what random
    sampling would have bought with that many labels, measured on this project's data."""
    from alapp.ml.factory import baseline_model

    rows = [r for r in train_rows if snap.ids[r] in snap.random_share]
    labels = [snap.current[snap.ids[r]] for r in rows]
    if len(set(labels)) < 2:
        return {}
    baseline = baseline_model(classes, snap.settings)
    baseline.fit(features.matrix[rows], labels)
    measured = _test_metrics(snap, index, baseline, features, classes)
    out = {"random_baseline_accuracy": measured["accuracy"],
           "random_baseline_labels": float(len(rows))}
    if "micro_f1" in measured:  # multi-label (issue 21): the curve's measure
        out["random_baseline_micro_f1"] = measured["micro_f1"]
    return out
