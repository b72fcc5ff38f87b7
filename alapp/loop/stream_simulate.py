"""`alapp simulate --mode stream`: replay a labeled file as a stream (issue 16, seed 004).

The pool's items arrive in the file's order and the application's own round in stream mode
decides for each whether to ask (``alapp.loop.stream_round``); asked items are labeled from the
truth at once and the model retrains after every ``batch`` asks. Three runs share the data:

- ``stream: STRATEGY``: the threshold on the strategy's score, tuned to ``stream_ask_rate``;
- ``stream: random``: each arriving item asked with probability ``stream_ask_rate`` (what the
  threshold must beat at the same rate);
- ``ask everything``: every arriving item asked (passive labeling in file order).

The curves are test accuracy against labels bought, as for pool strategies (``summarize``);
each run also reports how many items had arrived at each point and the ask rate achieved:
overall, and after the warm-up (the items held to a threshold), against the target.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from alapp.core.errors import AlappError
from alapp.core.types import ItemId
from alapp.loop.round import RoundRunner
from alapp.loop.simulate import (
    Curve,
    References,
    Replay,
    SimulationConfig,
    SimulationProgress,
    _add_point,
    _run_round,
    run_settings,
    summarize,
)
from alapp.loop.stream_round import PASSED

RANDOM = "stream: random"
EVERYTHING = "ask everything"


def check_stream(cfg: SimulationConfig) -> None:
    if len(cfg.strategies) != 1:
        raise AlappError("stream simulation compares one strategy's threshold with random and "
                         "asking everything at the same rate: give one strategy (e.g. entropy)")
    if not 0 < cfg.stream_ask_rate <= 1:
        raise AlappError(f"ask rate {cfg.stream_ask_rate} must be above 0 and at most 1")


def simulate_stream(replay: Replay, cfg: SimulationConfig,
                    progress: SimulationProgress | None = None) -> dict[str, Any]:
    check_stream(cfg)
    strategy = cfg.strategies[0]
    runs = [(f"stream: {strategy}", strategy, cfg.stream_ask_rate),
            (RANDOM, "random", cfg.stream_ask_rate), (EVERYTHING, "random", 1.0)]
    full = References(replay, cfg).configured()
    curves: list[Curve] = []
    extra: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in runs}
    total = len(runs) * cfg.seeds
    for r, (name, using, rate) in enumerate(runs):
        for seed in range(cfg.seeds):
            if progress:
                progress((r * cfg.seeds + seed) / total, f"{name}, seed {seed + 1}/{cfg.seeds}")
            settings = replace(run_settings(cfg, using, seed), selection_mode="stream",
                               stream_ask_rate=rate, drift_every=0)
            curve, info = run_stream(replay, settings, name, cfg.budget)
            curves.append(curve)
            extra[name].append(info)
    out = summarize(curves, replace(cfg, strategies=[name for name, _, _ in runs]), *full)
    out["mode"] = "stream"
    for name, _, rate in runs:
        infos = extra[name]
        stats = out["strategies"][name]
        length = len(stats["labels"])
        stats["arrived"] = np.mean([i["arrived"][:length] for i in infos], axis=0).tolist()
        stats["ask_rate_target"] = rate
        stats["ask_rate_achieved"] = float(np.mean([i["rate"] for i in infos]))
        held = [i["rate_held"] for i in infos if i["rate_held"] is not None]
        stats["ask_rate_after_warm_up"] = float(np.mean(held)) if held else None
    baseline = out["strategies"][RANDOM]
    for stats in out["strategies"].values():
        stats["labels_saved_vs_random"] = {
            key: (None if stats[key] is None or baseline[key] is None
                  else baseline[key] - stats[key])
            for key in ("labels_to_95pct_of_full", "labels_to_98pct_of_full",
                        "labels_to_99pct_of_full")}
    if progress:
        progress(1.0, "done")
    return out


def run_stream(replay: Replay, settings: Any, name: str,
               budget: int) -> tuple[Curve, dict[str, Any]]:
    """One stream replay: rounds until the budget is spent or every item has arrived. Returns
    the learning curve and, per point, how many items had arrived, with the ask rates."""
    runner = RoundRunner()
    curve = Curve(name, settings.seed)
    seen: dict[ItemId, tuple[int, float | None]] = {}
    held: list[bool] = []  # per arrived item: held to a threshold (past the warm-up)
    bought: list[int] = []
    arrived: list[int] = []
    snap = replay.snapshot(settings, bought, 0)
    started = time.perf_counter()
    result = _run_round(runner, snap, name, 0)
    while True:
        for item, kind, score, threshold in result.stream_seen:
            seen[item] = (kind, score)
            held.append(threshold is not None)
        new = [p.item_id for p in result.picks if p.item_id not in set(bought)]
        new = new[: budget - len(bought)]
        if not new:
            break  # every item has arrived
        bought += new
        last = len(bought) >= budget or len(seen) >= replay.n_pool
        snap = replay.snapshot(settings, bought, result.round_index + 1, last)
        snap.stream_seen = dict(seen)
        result = _run_round(runner, snap, name, len(bought))
        _add_point(curve, result, len(bought), float(len(bought)))
        curve.round_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        arrived.append(len(seen))
        if last:
            break
    kinds = np.array([kind for kind, _ in seen.values()])
    asked = kinds != PASSED
    mask = np.array(held, dtype=bool)
    return curve, {"arrived": arrived,
                   "rate": float(asked.mean()) if len(asked) else 0.0,
                   "rate_held": float(asked[mask].mean()) if mask.any() else None}
