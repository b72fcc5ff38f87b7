"""Every query strategy by name, with the one-line explanation the GUI and CLI show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from alapp.al import committee, uncertainty
from alapp.al import multilabel_strategies as multilabel
from alapp.al.badge import badge_select
from alapp.al.diversity import (
    cluster_sample,
    coreset_greedy,
    model_outlier_scores,
    representative_scores,
)
from alapp.al.needs import Need
from alapp.al.state import Floats, Ints, PoolState, Selected, require


@dataclass
class StrategyParams:
    temperature: float = 1.0  # softmax temperature for the uncertainty scores
    cluster_picks: tuple[str, ...] = ("centroid", "random", "outlier")
    preselect_factor: int = 10  # uncertainty-cluster: candidates = factor x batch
    schedule_ramp: int = 200  # schedule: labels until selection is all uncertainty
    candidate_cap: int = 500  # batchbald: only the top BALD items are considered


ScoreFn = Callable[[PoolState, StrategyParams], Floats]
SelectFn = Callable[[PoolState, int, np.random.Generator, StrategyParams], Selected]


@dataclass(frozen=True)
class StrategySpec:
    name: str
    summary: str
    needs: tuple[Need, ...]
    select: SelectFn
    score: ScoreFn | None = None  # per-item scores for display, when the strategy has them
    optional: tuple[Need, ...] = field(default=())  # used when there, never required

    def __post_init__(self) -> None:
        # Needs are Need members, never free strings (a typo would pass unnoticed).
        object.__setattr__(self, "needs", tuple(Need(n) for n in self.needs))
        object.__setattr__(self, "optional", tuple(Need(n) for n in self.optional))

    @property
    def all_needs(self) -> frozenset[Need]:
        """What the round should provide when it can: the needs and the optional ones."""
        return frozenset(self.needs) | frozenset(self.optional)


def top_k(scores: Floats, k: int, rng: np.random.Generator) -> Ints:
    """Highest scores first; ties broken at random (seeded), NaN never preferred."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    k = min(k, len(s))
    if k <= 0:
        return np.zeros(0, dtype=int)
    jitter = rng.random(len(s))
    if k < len(s):  # only sort the contenders
        kth = np.partition(-s, k - 1)[k - 1]
        contenders = np.flatnonzero(-s <= kth)
    else:
        contenders = np.arange(len(s))
    order = np.lexsort((jitter[contenders], -s[contenders]))
    return contenders[order[:k]]


def _by_score(fn: ScoreFn) -> SelectFn:
    def select(state: PoolState, k: int, rng: np.random.Generator,
               params: StrategyParams) -> Selected:
        scores = fn(state, params)
        idx = top_k(scores, k, rng)
        return Selected(idx, scores[idx])
    return select


def _probs(state: PoolState, params: StrategyParams, name: str) -> Floats:
    return uncertainty.apply_temperature(require(state.probs, "class probabilities", name),
                                         params.temperature)


def _random(state: PoolState, k: int, rng: np.random.Generator, _: StrategyParams) -> Selected:
    idx = rng.permutation(state.size)[: min(k, state.size)]
    return Selected(idx, np.zeros(len(idx)))


def _stratified(state: PoolState, k: int, rng: np.random.Generator,
                _: StrategyParams) -> Selected:
    """Equal shares of each predicted class, so rare predicted classes are not crowded out."""
    predicted = require(state.probs, "class probabilities", "stratified-random").argmax(axis=1)
    groups = [rng.permutation(np.flatnonzero(predicted == c)) for c in np.unique(predicted)]
    order = [g[i] for i in range(max(len(g) for g in groups)) for g in groups if i < len(g)]
    idx = np.array(order[:k], dtype=int)
    return Selected(idx, np.zeros(len(idx)))


def _uncertainty_cluster(state: PoolState, k: int, rng: np.random.Generator,
                         params: StrategyParams) -> Selected:
    """Take the most uncertain candidates, cluster them, and keep the most uncertain per cluster."""
    scores = uncertainty.margin(_probs(state, params, "uncertainty-cluster"))
    pre = top_k(scores, k * params.preselect_factor, rng)
    emb = require(state.embeddings, "embeddings", "uncertainty-cluster")[pre]
    rows, _ = cluster_sample(emb, k, rng, picks=("top",), priority=scores[pre])
    idx = pre[rows]
    return Selected(idx, scores[idx])


def _schedule(state: PoolState, k: int, rng: np.random.Generator,
              params: StrategyParams) -> Selected:
    """Diversity while few labels exist, shifting linearly to uncertainty by schedule_ramp."""
    weight = min(1.0, state.n_labeled / max(params.schedule_ramp, 1))
    n_unc = round(k * weight)
    scores = uncertainty.margin(_probs(state, params, "schedule"))
    unc = top_k(scores, n_unc, rng)
    rest = np.setdiff1d(np.arange(state.size), unc)
    emb = require(state.embeddings, "embeddings", "schedule")[rest]
    div_rows, _ = cluster_sample(emb, k - len(unc), rng)
    idx = np.concatenate([unc, rest[div_rows]]).astype(int)
    return Selected(idx, scores[idx])


def _cluster(state: PoolState, k: int, rng: np.random.Generator,
             params: StrategyParams) -> Selected:
    emb = require(state.embeddings, "embeddings", "cluster")
    idx, sim = cluster_sample(emb, k, rng, picks=params.cluster_picks)
    return Selected(idx, sim)


def _cold_start(state: PoolState, k: int, rng: np.random.Generator,
                _: StrategyParams) -> Selected:
    emb = require(state.embeddings, "embeddings", "cold-start")
    idx, sim = cluster_sample(emb, k, rng, picks=("centroid",))
    return Selected(idx, sim)


def _coreset(state: PoolState, k: int, rng: np.random.Generator, _: StrategyParams) -> Selected:
    emb = require(state.embeddings, "embeddings", "coreset")
    idx, gaps = coreset_greedy(emb, state.labeled_embeddings, k, rng)
    return Selected(idx, gaps)


def _representative(state: PoolState, params: StrategyParams) -> Floats:
    emb = require(state.embeddings, "embeddings", "representative")
    target = require(state.target_embeddings, "a target set's embeddings", "representative")
    rng = np.random.default_rng(state.round_index)
    return representative_scores(emb, target, state.labeled_embeddings, rng)


def _badge(state: PoolState, k: int, rng: np.random.Generator,
           params: StrategyParams) -> Selected:
    probs = require(state.probs, "class probabilities", "badge")
    hidden = require(state.hidden, "last-layer inputs", "badge")
    idx, dist = badge_select(probs, hidden, k, rng)
    return Selected(idx, dist)


def _batchbald(state: PoolState, k: int, rng: np.random.Generator,
               params: StrategyParams) -> Selected:
    mc = require(state.mc_probs, "Monte-Carlo dropout samples", "batchbald")
    idx, gains = committee.batch_bald(mc, k, rng, candidate_cap=params.candidate_cap)
    return Selected(idx, gains)


def _scored(name: str, summary: str, needs: tuple[Need, ...], fn: ScoreFn,
            optional: tuple[Need, ...] = ()) -> StrategySpec:
    return StrategySpec(name, summary, needs, _by_score(fn), fn, optional)


_SPECS = [
    StrategySpec("random", "Items in random order: the honest baseline.", (), _random),
    StrategySpec("stratified-random", "Random items, an equal share per predicted class.",
                 (Need.PROBS,), _stratified),
    _scored("least-confidence", "Lowest probability for the predicted label: 1 - p(1).",
            (Need.PROBS,),
            lambda s, p: uncertainty.least_confidence(_probs(s, p, "least-confidence"), True)),
    _scored("margin", "Smallest gap between the two likeliest labels: 1 - (p(1) - p(2)).",
            (Need.PROBS,), lambda s, p: uncertainty.margin(_probs(s, p, "margin"))),
    _scored("ratio", "Second-likeliest over likeliest label: p(2) / p(1).",
            (Need.PROBS,), lambda s, p: uncertainty.ratio(_probs(s, p, "ratio"))),
    _scored("entropy", "Most spread-out prediction over all labels: -sum p log p.",
            (Need.PROBS,), lambda s, p: uncertainty.entropy(_probs(s, p, "entropy"), True)),
    _scored("vote-entropy", "Committee members vote for different labels.",
            (Need.COMMITTEE_PROBS,), lambda s, p: committee.vote_entropy(
                require(s.committee_probs, "a committee", "vote-entropy"))),
    _scored("consensus-kl", "Committee members' distributions diverge from their consensus.",
            (Need.COMMITTEE_PROBS,), lambda s, p: committee.consensus_kl(
                require(s.committee_probs, "a committee", "consensus-kl"))),
    _scored("bald", "The model's weights disagree about the label (MC dropout, BALD).",
            (Need.MC_PROBS,), lambda s, p: committee.bald(
                require(s.mc_probs, "Monte-Carlo dropout samples", "bald"))),
    StrategySpec("batchbald", "A batch whose labels are jointly informative (BatchBALD).",
                 (Need.MC_PROBS,), _batchbald),
    StrategySpec("cluster", "A few items per cluster of the pool: centroid, random, outlier.",
                 (Need.EMBEDDINGS,), _cluster),
    StrategySpec("coreset", "Items farthest from everything labeled (k-center greedy).",
                 (Need.EMBEDDINGS,), _coreset, optional=(Need.LABELED_EMBEDDINGS,)),
    _scored("representative", "Items like the target set but unlike the training data.",
            (Need.EMBEDDINGS, Need.TARGET_EMBEDDINGS), _representative,
            optional=(Need.LABELED_EMBEDDINGS,)),
    _scored("model-outliers", "Items that excite the model's neurons less than known data.",
            (Need.ACTIVATIONS, Need.VALIDATION_ACTIVATIONS),
            lambda s, p: model_outlier_scores(
                require(s.activations, "hidden activations", "model-outliers"),
                require(s.validation_activations, "validation activations", "model-outliers"))),
    StrategySpec("uncertainty-cluster", "The most uncertain items, spread over clusters.",
                 (Need.PROBS, Need.EMBEDDINGS), _uncertainty_cluster),
    StrategySpec("badge", "Large and diverse gradient embeddings (BADGE).",
                 (Need.PROBS, Need.HIDDEN), _badge),
    StrategySpec("schedule", "Diversity in early rounds, uncertainty as labels accumulate.",
                 (Need.PROBS, Need.EMBEDDINGS), _schedule),
    _scored("active-transfer", "Items a second head predicts the model gets wrong.",
            (Need.WRONG_PROB,), lambda s, p: require(
                s.wrong_prob, "a will-be-wrong head", "active-transfer").astype(float)),
    _scored("learning-loss", "Items with the highest loss predicted by a loss head.",
            (Need.PREDICTED_LOSS,), lambda s, p: require(
                s.predicted_loss, "a loss head", "learning-loss").astype(float)),
    StrategySpec("cold-start", "No labels yet: the items closest to cluster centres.",
                 (Need.EMBEDDINGS,), _cold_start),
    # multi-label (issue 21): scores of per-label probabilities
    *[_scored(name, summary, (Need.PROBS,), fn) for name, summary, fn in multilabel.TABLE],
]
STRATEGIES: dict[str, StrategySpec] = {s.name: s for s in _SPECS}
MULTI_LABEL_STRATEGIES = frozenset(multilabel.NAMES)  # multi-label (issue 21)


def get_strategy(name: str) -> StrategySpec:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose one of "
                         f"{', '.join(STRATEGIES)}") from None
