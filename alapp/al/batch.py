"""Composing the batch the annotator sees: strategy picks plus a marked random share.

The pool state holds only candidates (unlabeled, not test, not skipped for good), so whatever is
returned is by construction askable; picks are unique and never more than the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from alapp.al.cost import roi, within_price_cap
from alapp.al.needs import PER_ITEM_AXIS, SHARED, Need
from alapp.al.registry import StrategyParams, StrategySpec, get_strategy, top_k
from alapp.al.state import Ints, PoolState, Selected
from alapp.al.stratify import random_rows as random_rows_of

# By PoolState field: reference sets are kept whole; a few arrays list candidates on axis 1.
_SHARED: set[str] = {need.value for need in SHARED} | {"n_labeled", "round_index"}
_AXIS: dict[str, int] = {need.value: axis for need, axis in PER_ITEM_AXIS.items()}
COST_SUFFIX = " / cost"  # how a cost-aware pick names what chose it: "margin / cost"


@dataclass(frozen=True)
class Pick:
    item_id: int
    score: float | None
    is_random: bool
    strategy: str  # what chose it: the strategy, "random share" or a fallback
    predicted_cost: float | None = None
    # Cluster strategies: (cluster number from 1, clusters, how it was taken: "centroid",
    # "random", "outlier" or "top" = the most uncertain of its cluster).
    cluster: tuple[int, int, str] | None = None


@dataclass
class BatchRequest:
    strategy: str
    batch_size: int
    random_share: float = 0.1
    seed: int = 0
    round_index: int = 0
    cost_aware: bool = False  # rank by ROI = normalised utility / predicted cost
    price_cap: float | None = None  # never pick items predicted to cost more
    params: StrategyParams = field(default_factory=StrategyParams)


def round_rng(seed: int, round_index: int) -> np.random.Generator:
    """The same project seed and round give the same batch, across restarts."""
    return np.random.default_rng([seed, round_index])


def subset(state: PoolState, rows: Ints) -> PoolState:
    """The state restricted to candidate ``rows`` (shared reference sets are kept whole)."""
    changes: dict[str, Any] = {}
    for f in fields(state):
        value = getattr(state, f.name)
        if value is None or f.name in _SHARED:
            continue
        changes[f.name] = np.take(value, rows, axis=_AXIS.get(f.name, 0))
    return replace(state, **changes)


def _without(n: int, taken: Ints) -> Ints:
    """0..n-1 less ``taken``, ascending (what ``np.setdiff1d`` gives, without its sort of a
    million rows)."""
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(taken, dtype=np.intp)] = False
    return np.flatnonzero(keep)


def random_share_count(batch_size: int, share: float) -> int:
    """At least one random item whenever a share is asked for and the batch has room."""
    if share <= 0 or batch_size < 2:
        return 0
    return min(batch_size - 1, max(1, round(batch_size * share)))


def compose_batch(state: PoolState, request: BatchRequest) -> list[Pick]:
    rng = round_rng(request.seed, request.round_index)
    rows = within_price_cap(state.costs, request.price_cap) if state.costs is not None \
        else np.arange(state.size)
    pool = subset(state, rows) if len(rows) < state.size else state
    n = min(request.batch_size, pool.size)
    if n <= 0:
        return []
    n_random = random_share_count(n, request.random_share)
    name, chosen = _strategy_picks(pool, request, n - n_random, rng)
    rest = _without(pool.size, chosen.indices)
    random_rows = random_rows_of(rest, n_random, rng, pool.strata)  # by metadata, if set
    picks = [_pick(pool, int(r), float(s), False, name)
             for r, s in zip(chosen.indices, chosen.scores, strict=True)]
    roles = cluster_roles(name.removesuffix(COST_SUFFIX), len(picks), request.params)
    if roles:
        picks = [replace(p, cluster=role) for p, role in zip(picks, roles, strict=True)]
    randoms = [_pick(pool, int(r), None, True, "random share") for r in random_rows]
    picks = interleave(picks, randoms)
    assert len({p.item_id for p in picks}) == len(picks), "a batch never repeats an item"
    return picks


# Strategies that take items cluster by cluster (``diversity.cluster_sample``), and the rules
# they take them by, one rule per pass over the clusters.
CLUSTER_RULES: dict[str, tuple[str, ...] | None] = {
    "cold-start": ("centroid",), "uncertainty-cluster": ("top",), "cluster": None}


COLD_START_NAMES = ("cold-start", "typiclust")  # what a first round without labels may use


def cluster_roles(strategy: str, k: int,
                  params: StrategyParams) -> list[tuple[int, int, str]] | None:
    """For a cluster strategy's ``k`` picks in their order: (cluster, clusters, rule), as
    ``cluster_sample`` takes them (each pass over the clusters with the next rule). None for
    other strategies."""
    if strategy not in CLUSTER_RULES or k == 0:
        return None
    rules = CLUSTER_RULES[strategy] or params.cluster_picks
    clusters = max(1, -(-k // len(rules)))
    return [(i % clusters + 1, clusters, rules[(i // clusters) % len(rules)]) for i in range(k)]


def random_positions(n: int, n_random: int) -> list[int]:
    """Where the random share sits in a batch of ``n``: evenly spaced, the first a half-step
    in (n=20 with 2 random: 5 and 15; n=10 with 1: 5), so the annotator reaches it however
    early the next retrain replaces the batch's tail."""
    return [int((k + 0.5) * n / n_random) for k in range(n_random)] if n_random else []


def interleave(chosen: list[Pick], randoms: list[Pick]) -> list[Pick]:
    """The strategy's picks in their order, the random share spread evenly among them."""
    n = len(chosen) + len(randoms)
    at = dict(zip(random_positions(n, len(randoms)), randoms, strict=True))
    rest = iter(chosen)
    return [at[i] if i in at else next(rest) for i in range(n)]


def _strategy_picks(pool: PoolState, request: BatchRequest, k: int,
                    rng: np.random.Generator) -> tuple[str, Selected]:
    spec = get_strategy(request.strategy)
    if pool.n_labeled == 0 and spec.needs and spec.name not in COLD_START_NAMES:
        # No model without labels: start from typical items or cluster centres, not random ones.
        spec = get_strategy(request.params.cold_start if pool.embeddings is not None
                            else "random")
    elif (pool.n_labeled < request.params.cold_start_labels and Need.PROBS in spec.needs
          and pool.embeddings is not None):  # few labels (issue 17): still the cold start
        spec = get_strategy(request.params.cold_start)
    missing = [need for need in spec.needs if pool.get(need) is None]
    if missing:
        raise ValueError(f"strategy {spec.name!r} needs {', '.join(missing)}; "
                         "choose a model that provides them or another strategy")
    if request.cost_aware and pool.costs is not None:
        return spec.name + COST_SUFFIX, cost_aware_select(spec, pool, k, rng, request.params)
    return spec.name, spec.select(pool, k, rng, request.params)


def cost_candidates(k: int, pool_size: int, params: StrategyParams) -> int:
    """How many candidates cost-aware selection hands a batch strategy: candidate factor x
    batch, but at most half the pool, so that cost always narrows the choice (never fewer
    than the batch)."""
    return max(k, min(k * params.preselect_factor, pool_size // 2))


def cost_aware_select(spec: StrategySpec, pool: PoolState, k: int, rng: np.random.Generator,
                      params: StrategyParams) -> Selected:
    """ROI for every strategy. One with per-item scores takes the best score per predicted
    second (the seed's ROI = normalised uncertainty / price). A batch strategy keeps the
    candidates with the best utility per second (its own uncertainty, gradient size, BALD
    or distance; none for random and cluster strategies: the cheapest) and chooses among
    them as it would among the whole pool, so its diversity is kept."""
    if pool.costs is None:
        raise ValueError("cost-aware selection needs predicted costs")
    costs = pool.costs
    if spec.score is not None:
        value = roi(spec.score(pool, params), costs)
        idx = top_k(value, k, rng)
        return Selected(idx, value[idx])
    utility = spec.utility(pool, params) if spec.utility is not None else np.ones(pool.size)
    rows = top_k(roi(utility, costs), cost_candidates(k, pool.size, params), rng)
    chosen = spec.select(subset(pool, rows), k, rng, params)
    return Selected(rows[chosen.indices], chosen.scores)


def _pick(pool: PoolState, row: int, score: float | None, is_random: bool,
          strategy: str) -> Pick:
    cost = None if pool.costs is None else float(pool.costs[row])
    return Pick(int(pool.ids[row]), score, is_random, strategy, cost)
