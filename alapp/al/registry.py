"""Every query strategy by name, with the one-line explanation the GUI and CLI show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from alapp.al import committee, uncertainty
from alapp.al import multilabel_strategies as multilabel
from alapp.al.badge import badge_select
from alapp.al.clustering import normalize_rows
from alapp.al.diversity import (
    cluster_sample,
    coreset_greedy,
    model_outlier_scores,
    representative_scores,
)
from alapp.al.needs import Need
from alapp.al.sequence import SEQUENCE_STRATEGIES
from alapp.al.state import Floats, Ints, PoolState, Selected, require
from alapp.al.typicality import typiclust
from alapp.core.options import TaskKind
from alapp.core.settings import ProjectSettings


@dataclass
class StrategyParams:
    temperature: float = 1.0  # softmax temperature for the uncertainty scores
    cluster_picks: tuple[str, ...] = ("centroid", "random", "outlier")
    preselect_factor: int = 10  # uncertainty-cluster: candidates = factor x batch
    schedule_ramp: int = 200  # schedule: labels until selection is all uncertainty
    candidate_cap: int = 500  # batchbald: only the top BALD items are considered
    # cold start (issue 17): the strategy that stands in for a model-based one while fewer
    # than ``cold_start_labels`` labels exist (always in the first round, without labels)
    cold_start: str = "cold-start"
    cold_start_labels: int = 0


def strategy_params(settings: ProjectSettings) -> StrategyParams:
    """The knobs a project's settings turn: the softmax temperature of the uncertainty scores,
    the candidate-set size of the combined strategies (and of cost-aware selection) and the
    labels over which diversity gives way to uncertainty."""
    return StrategyParams(temperature=settings.temperature,
                          preselect_factor=settings.candidate_factor,
                          schedule_ramp=settings.diversity_ramp,
                          cold_start=COLD_STARTS[settings.cold_start],
                          cold_start_labels=settings.cold_start_labels)


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
    # What a pick is worth, per item, for cost-aware selection (ROI = utility / cost) when the
    # strategy has no per-item score of its own; None: no notion of value (random, clusters).
    utility: ScoreFn | None = None
    utility_name: str = ""  # the utility in words ("uncertainty (margin)")
    seed: str = ""  # where the method comes from: the seeds 000..004, or a survey reference

    def __post_init__(self) -> None:
        # Needs are Need members, never free strings (a typo would pass unnoticed).
        object.__setattr__(self, "needs", tuple(Need(n) for n in self.needs))
        object.__setattr__(self, "optional", tuple(Need(n) for n in self.optional))

    @property
    def all_needs(self) -> frozenset[Need]:
        """What the round should provide when it can: the needs and the optional ones."""
        return frozenset(self.needs) | frozenset(self.optional)

    @property
    def cost_effect(self) -> str:
        """What "rank by value per second (ROI)" does with this strategy, in one line."""
        if self.score is not None:
            return ("ROI: ranks by this strategy's score (scaled to 0..1) divided by the "
                    "predicted seconds.")
        if self.utility is not None:
            return (f"ROI: keeps the candidates with the most {self.utility_name} per predicted "
                    f"second (candidate factor x batch, at most half the pool), then "
                    f"{self.name} chooses among them.")
        return (f"ROI: {self.name} has no per-item value, so it chooses among the cheapest "
                "candidates (candidate factor x batch, at most half the pool).")


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


def _typiclust(state: PoolState, k: int, rng: np.random.Generator,
               _: StrategyParams) -> Selected:
    emb = require(state.embeddings, "embeddings", "typiclust")
    idx, typ = typiclust(emb, state.labeled_embeddings, k, rng)
    return Selected(idx, typ)


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


def _margin_candidates(state: PoolState, k: int, rng: np.random.Generator,
                       params: StrategyParams, name: str) -> tuple[Ints, Floats]:
    """The ``preselect_factor`` x k most uncertain items (margin) and every item's margin."""
    scores = uncertainty.margin(_probs(state, params, name))
    return top_k(scores, k * params.preselect_factor, rng), scores


def _uncertainty_representative(state: PoolState, k: int, rng: np.random.Generator,
                                params: StrategyParams) -> Selected:
    """Seed 000: representative sampling alone overfits and repeats itself, "best combined
    with uncertainty": the most uncertain candidates, of them the most representative of the
    target set (the test set; without one, the pool) and least like the training data."""
    pre, scores = _margin_candidates(state, k, rng, params, "uncertainty-representative")
    emb = require(state.embeddings, "embeddings", "uncertainty-representative")
    target = state.target_embeddings if state.target_embeddings is not None else emb
    rep = representative_scores(emb[pre], target, state.labeled_embeddings,
                                np.random.default_rng(state.round_index))
    idx = pre[top_k(rep, k, rng)]
    return Selected(idx, scores[idx])


def _cluster_uncertainty(state: PoolState, k: int, rng: np.random.Generator,
                         params: StrategyParams) -> Selected:
    """Seed 003: sample with a diversity method, then filter by uncertainty: the
    ``preselect_factor`` x k items taken cluster by cluster (centroid, random, outlier), of
    them the k most uncertain."""
    emb = require(state.embeddings, "embeddings", "cluster-uncertainty")
    diverse, _ = cluster_sample(emb, k * params.preselect_factor, rng)
    scores = uncertainty.margin(_probs(state, params, "cluster-uncertainty"))
    idx = diverse[top_k(scores[diverse], k, rng)]
    return Selected(idx, scores[idx])


def _uncertainty_coreset(state: PoolState, k: int, rng: np.random.Generator,
                         params: StrategyParams) -> Selected:
    """Seed 004 ("SA", candidate set + most different): a candidate set larger than the
    batch by uncertainty, then k-center greedy over it (farthest from everything labeled)."""
    pre, scores = _margin_candidates(state, k, rng, params, "uncertainty-coreset")
    emb = require(state.embeddings, "embeddings", "uncertainty-coreset")[pre]
    rows, _ = coreset_greedy(emb, state.labeled_embeddings, k, rng)
    idx = pre[rows]
    return Selected(idx, scores[idx])


def _mc_entropy(state: PoolState, params: StrategyParams) -> Floats:
    """Entropy of the prediction averaged over the MC-dropout samples (DBAL's max entropy)."""
    mc = require(state.mc_probs, "Monte-Carlo dropout samples", "mc-entropy")
    mean = uncertainty.apply_temperature(mc.mean(axis=0), params.temperature)
    return uncertainty.entropy(mean, True)


def _margin_utility(state: PoolState, params: StrategyParams) -> Floats:
    return uncertainty.margin(_probs(state, params, "cost-aware selection"))


def _gradient_utility(state: PoolState, params: StrategyParams) -> Floats:
    """BADGE's uncertainty: the size of the last-layer gradient embedding, |p - e_yhat| |h|."""
    probs = require(state.probs, "class probabilities", "badge")
    hidden = require(state.hidden, "last-layer inputs", "badge")
    a = probs.astype(np.float64).copy()
    a[np.arange(len(a)), probs.argmax(axis=1)] -= 1.0
    out: Floats = np.sqrt((a * a).sum(axis=1) * (hidden.astype(np.float64) ** 2).sum(axis=1))
    return out


def _bald_utility(state: PoolState, params: StrategyParams) -> Floats:
    return committee.bald(require(state.mc_probs, "Monte-Carlo dropout samples", "batchbald"))


def _coverage_utility(state: PoolState, params: StrategyParams) -> Floats:
    """Core-set's value: cosine distance to the nearest labeled item (all alike without)."""
    emb = require(state.embeddings, "embeddings", "coreset")
    if state.labeled_embeddings is None or not len(state.labeled_embeddings):
        return np.ones(len(emb))
    x = normalize_rows(emb)
    lab = normalize_rows(state.labeled_embeddings)
    gap = np.full(len(x), np.inf)
    for start in range(0, len(lab), 2048):
        gap = np.minimum(gap, 1.0 - (x @ lab[start:start + 2048].T).max(axis=1))
    return gap


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
    StrategySpec("typiclust", "Few labels: the most typical item of each dense region not "
                 "yet labeled (TypiClust).", (Need.EMBEDDINGS,), _typiclust,
                 optional=(Need.LABELED_EMBEDDINGS,)),
    # Issue 16: the seeds' remaining variants and combinations.
    _scored("mc-entropy", "Entropy of the prediction averaged over MC-dropout samples (DBAL).",
            (Need.MC_PROBS,), _mc_entropy),
    StrategySpec("uncertainty-representative",
                 "Uncertain items; of them those most like the target set, unlike training.",
                 (Need.PROBS, Need.EMBEDDINGS), _uncertainty_representative,
                 optional=(Need.TARGET_EMBEDDINGS, Need.LABELED_EMBEDDINGS)),
    StrategySpec("cluster-uncertainty",
                 "Diverse items taken cluster by cluster; of them the most uncertain.",
                 (Need.PROBS, Need.EMBEDDINGS), _cluster_uncertainty),
    StrategySpec("uncertainty-coreset",
                 "Uncertain items; of them those farthest from everything labeled (SA).",
                 (Need.PROBS, Need.EMBEDDINGS), _uncertainty_coreset,
                 optional=(Need.LABELED_EMBEDDINGS,)),
    # Learning loss on several layers, and 001's research baselines (issue 16).
    _scored("learning-loss-multi", "Highest loss predicted by a module reading several "
            "layers (hidden, logits, input), trained to rank losses (Yoo & Kweon; 001, 004).",
            (Need.PREDICTED_LOSS_LAYERS,), lambda s, p: require(
                s.predicted_loss_layers, "a multi-layer loss module",
                "learning-loss-multi").astype(float)),
    _scored("learning-loss-inverse", "Lowest predicted loss first: the inverse baseline "
            "(001), to check that high predicted loss is what helps.",
            (Need.PREDICTED_LOSS,), lambda s, p: -require(
                s.predicted_loss, "a loss head", "learning-loss-inverse").astype(float)),
    _scored("learning-loss-ideal", "Simulation only: the highest true loss of the current "
            "model, from the known labels (001's ideal learning loss).",
            (Need.PROBS, Need.TRUE_LOSS), lambda s, p: require(
                s.true_loss, "the true losses", "learning-loss-ideal").astype(float)),
    _scored("learning-loss-ideal-inverse", "Simulation only: the lowest true loss first "
            "(001's inverse ideal learning loss).",
            (Need.PROBS, Need.TRUE_LOSS), lambda s, p: -require(
                s.true_loss, "the true losses", "learning-loss-ideal-inverse").astype(float)),
    # multi-label (issue 21): scores of per-label probabilities
    *[_scored(name, summary, (Need.PROBS,), fn) for name, summary, fn in multilabel.TABLE],
]

# Where each method comes from: the seed articles (000 lecture slides, 001 VK multimodal,
# 002 BERT/MRPC, 003 medical imaging, 004 survey) and, past them, the paper that defines it.
SOURCES: dict[str, str] = {
    "random": "000, 003 (the baseline; a random share in every batch)",
    "stratified-random": "003 (random, \"possibly stratified\")",
    "least-confidence": "000, 001, 004",
    "margin": "000, 001, 003, 004",
    "ratio": "000, 004",
    "entropy": "000, 001, 003, 004",
    "vote-entropy": "000 (query by committee)",
    "consensus-kl": "000 (committee disagreement; survey: McCallum & Nigam 1998)",
    "bald": "001, 004 (Houlsby et al. 2011; Gal et al. 2017)",
    "batchbald": "004 (Kirsch et al. 2019)",
    "cluster": "000 (cluster-based sampling)",
    "coreset": "004 (Sener & Savarese 2018)",
    "representative": "000 (representative sampling)",
    "model-outliers": "000 (model-based sampling)",
    "uncertainty-cluster": "000 (uncertainty and clustering)",
    "badge": "004 (Ash et al. 2020)",
    "schedule": "000 (diversity early, uncertainty later)",
    "active-transfer": "000 (active transfer learning)",
    "learning-loss": "001, 003, 004 (Yoo & Kweon 2019)",
    "cold-start": "000 (cluster centres at the start)",
    "typiclust": "none (Hacohen, Dekel & Weinshall 2022, TypiClust: typical points of "
                 "uncovered clusters for low budgets)",
    "mc-entropy": "001, 004 (DBAL: Gal et al. 2017)",
    "uncertainty-representative": "000 (representative combined with uncertainty)",
    "cluster-uncertainty": "003 (diversity first, then an uncertainty filter)",
    "uncertainty-coreset": "004 (SA: candidate set, then the most different)",
    "learning-loss-multi": "001, 004 (Yoo & Kweon 2019: the module reads several layers)",
    "learning-loss-inverse": "001 (the inverse baseline: lowest predicted loss first)",
    "learning-loss-ideal": "001 (the ideal baseline: the true loss; simulation only)",
    "learning-loss-ideal-inverse": "001 (the ideal baseline inverted; simulation only)",
    # Multi-label (issue 21): beyond the seeds, which treat one label per item.
    "ml-margin-mean": "none (multi-label: per-label margin, averaged; small-text, Prodigy)",
    "ml-margin-max": "none (multi-label: per-label margin, the least sure label)",
    "ml-entropy-mean": "none (multi-label: per-label binary entropy, averaged)",
    "ml-entropy-max": "none (multi-label: per-label binary entropy, the least sure label)",
    "ml-mmc": "none (multi-label: Yang et al. 2009, maximum loss reduction, MMC)",
    "ml-cardinality": "none (multi-label: Li & Guo 2013, label-cardinality inconsistency)",
}
# Cost-aware selection for the strategies without per-item scores: what an item is worth.
UTILITIES: dict[str, tuple[str, ScoreFn]] = {
    "uncertainty-cluster": ("uncertainty (margin)", _margin_utility),
    "schedule": ("uncertainty (margin)", _margin_utility),
    "uncertainty-representative": ("uncertainty (margin)", _margin_utility),
    "cluster-uncertainty": ("uncertainty (margin)", _margin_utility),
    "uncertainty-coreset": ("uncertainty (margin)", _margin_utility),
    "badge": ("gradient size", _gradient_utility),
    "batchbald": ("BALD", _bald_utility),
    "coreset": ("distance from the labeled items", _coverage_utility),
}


def _completed(spec: StrategySpec) -> StrategySpec:
    """The spec with its source and its cost-aware utility filled in from the tables above
    (a strategy with per-item scores is worth its score)."""
    name, fn = UTILITIES.get(spec.name, ("its score", spec.score) if spec.score else ("", None))
    return replace(spec, seed=spec.seed or SOURCES.get(spec.name, ""),
                   utility=spec.utility or fn, utility_name=spec.utility_name or name)


# The ``cold_start`` setting's values and the strategy each names (issue 17).
COLD_STARTS: dict[str, str] = {"typiclust": "typiclust", "centroids": "cold-start"}
STRATEGIES: dict[str, StrategySpec] = {s.name: _completed(s) for s in _SPECS}
MULTI_LABEL_STRATEGIES = frozenset(multilabel.NAMES)  # multi-label (issue 21)


def get_strategy(name: str) -> StrategySpec:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; choose one of "
                         f"{', '.join(STRATEGIES)}") from None


# Span projects (issue 18): the sequence strategies (``alapp.al.sequence``) are a task's own
# list; a span project accepts only them and a classification project never does.
SOURCES.update({name: spec.source for name, spec in SEQUENCE_STRATEGIES.items()})


def strategies_for(task: str) -> list[str]:
    """The strategy names a project of ``task`` (``core.options.TaskKind``) accepts."""
    if task == TaskKind.SPANS:
        return list(SEQUENCE_STRATEGIES)
    return list(STRATEGIES)
