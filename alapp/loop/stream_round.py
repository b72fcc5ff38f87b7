"""A round in stream mode (``selection_mode = stream``; the rule is in ``alapp.al.stream``).

Items arrive in import order (item id). The round lets arrive only as many as it takes to ask
``batch_size`` items, counting the asked ones still waiting for the annotator: those stay in the
batch, first, in their arrival order (a stream's decision is not taken back when the model
retrains). What arrived is returned as rows for the project's ``stream_seen`` table: asked
(1 by the threshold or before any model, 2 as the random share) or passed (0).

The score is the strategy's per-item score; a strategy that has none (a batch or cluster
strategy such as ``uncertainty-cluster``) falls back to the margin, and the picks say so. The
``random`` strategy asks each arriving item with probability ``stream_ask_rate``.

Costs: an item predicted to take longer than the price cap does not arrive while the cap holds
(it is neither asked nor passed, so lifting the cap lets it arrive); with cost-aware ranking the
threshold is held to the score per predicted second (value per cost), as in pool mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alapp.al import stream, uncertainty
from alapp.al.batch import Pick, round_rng
from alapp.al.registry import StrategyParams, get_strategy
from alapp.al.state import Floats, PoolState
from alapp.al.stopping import Signal
from alapp.core.types import ItemId

PASSED, ASKED, ASKED_RANDOM = 0, 1, 2
FALLBACK = "margin"

Seen = tuple[ItemId, int, float | None, float | None]  # item, PASSED/ASKED/ASKED_RANDOM, ...


@dataclass
class StreamChoice:
    picks: list[Pick]
    seen: list[Seen]  # what arrived this round
    signal: Signal


def not_passed(rows: np.ndarray, ids: list[ItemId],
               seen: dict[ItemId, tuple[int, float | None]]) -> np.ndarray:
    """The pool ``rows`` (of ``ids``) the stream may still ask: those it has not passed."""
    return np.array([r for r in rows if seen.get(ids[r], (ASKED, None))[0] != PASSED],
                    dtype=int)


def select(state: PoolState, seen: dict[ItemId, tuple[int, float | None]], batch_size: int,
           ask_rate: float, random_share: float, strategy: str, seed: int, round_index: int,
           trained: bool, params: StrategyParams | None = None,
           price_cap: float | None = None, cost_aware: bool = False) -> StreamChoice:
    """``state``: the pool candidates in arrival order (unlabeled, not passed), scored when
    ``trained``. ``seen``: what arrived in earlier rounds (kind, score at arrival)."""
    ids = [ItemId(int(i)) for i in state.ids.tolist()]
    waiting = [k for k, i in enumerate(ids) if i in seen]  # asked, not yet labeled
    affordable = (np.ones(len(ids), dtype=bool) if price_cap is None or state.costs is None
                  else np.asarray(state.costs) <= price_cap)
    arriving = np.array([k for k, i in enumerate(ids) if i not in seen and affordable[k]],
                        dtype=int)
    asks = max(0, batch_size - len(waiting))
    rng = round_rng(seed, round_index)
    name, scores = _scores(state, strategy, trained, params or StrategyParams())
    if scores is not None and cost_aware and state.costs is not None:
        scores = scores / np.maximum(np.asarray(state.costs, dtype=float), 1e-6)
        name = f"{name} per predicted second (ROI)"
    if not trained:
        name, walked = "everything (no model yet)", stream.walk_all(len(arriving), asks)
    elif scores is None:
        walked = stream.walk_random(len(arriving), ask_rate, asks, rng)
    else:
        history = [score for _, (_, score) in sorted(seen.items()) if score is not None]
        walked = stream.walk(scores[arriving], history, ask_rate, asks, rng, random_share)
    label = f"stream: {name}"
    picks = [_pick(state, k, scores, seen[ids[k]][0] == ASKED_RANDOM, label) for k in waiting]
    new_seen: list[Seen] = []
    for j in range(walked.arrived):
        k = int(arriving[j])
        score = None if np.isnan(walked.scores[j]) else float(walked.scores[j])
        held = None if np.isnan(walked.thresholds[j]) else float(walked.thresholds[j])
        kind = ASKED_RANDOM if walked.random[j] else ASKED if walked.asked[j] else PASSED
        new_seen.append((ids[k], kind, score, held))
        if walked.asked[j]:
            picks.append(_pick(state, k, scores, bool(walked.random[j]), label))
    arrived = len(seen) + walked.arrived
    asked = sum(kind != PASSED for kind, _ in seen.values()) + int(walked.asked.sum())
    last = walked.thresholds[~np.isnan(walked.thresholds)]
    still = len(arriving) - walked.arrived
    signal = Signal("stream", asked / arrived if arrived else None, ask_rate, False,
                    stream.summary(arrived, asked, ask_rate,
                                   float(last[-1]) if len(last) else None, still))
    return StreamChoice(picks, new_seen, signal)


def _scores(state: PoolState, strategy: str, trained: bool,
            params: StrategyParams) -> tuple[str, Floats | None]:
    """The per-item score the threshold is held to, and what it is called."""
    if not trained or state.probs is None or not state.size:
        return strategy, None
    if strategy == "random":
        return "random", None
    spec = get_strategy(strategy)
    if spec.score is not None and all(state.get(n) is not None for n in spec.needs):
        return strategy, np.asarray(spec.score(state, params), dtype=float)
    return f"{FALLBACK} ({strategy} has no per-item score)", uncertainty.margin(state.probs)


def _pick(state: PoolState, row: int, scores: Floats | None, is_random: bool,
          label: str) -> Pick:
    cost = None if state.costs is None else float(state.costs[row])
    score = None if scores is None else float(scores[row])
    return Pick(int(state.ids[row]), score, is_random, "random share" if is_random else label,
                cost)
