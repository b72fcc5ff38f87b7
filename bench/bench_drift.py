"""Does the drift signal (refreshed random validation samples, issue 16) fire on a real shift
and stay quiet without one? AG News, MiniLM embeddings, logistic regression, the application's
own round.

Each trial: a first import of ``--first`` news items with the four topics equally likely, a model
trained on ``--labels`` of them, then a second import of ``--second`` items that is either drawn
the same way (no shift) or with one topic making up ``--share`` of it (a prior shift, as when a
new source starts sending mostly sports). Prints how often the round's drift signal is reached
in each case, with the statistics.

Usage: python bench/bench_drift.py [--trials 10] [--first 1200] [--second 400] [--labels 100]
       [--share 0.7]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundRunner
from alapp.loop.simulate import Replay
from alapp.ml.embedders import make_embedder

# ../shared/data from the project's root (a worktree's may be further up)
DATA = next((p / "shared" / "data" for p in Path(__file__).resolve().parents
             if (p / "shared" / "data").is_dir()), Path("shared/data")) / "ag_news" / "test.csv"


def load(limit: int, seed: int) -> tuple[list[str], np.ndarray]:
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    order = np.random.default_rng(seed).permutation(len(rows))[:limit]
    texts = [f"{rows[i][1]}. {rows[i][2]}".replace("\\", " ") for i in order]
    return texts, np.array([int(rows[i][0]) - 1 for i in order])


def trial(x: np.ndarray, y: np.ndarray, args: argparse.Namespace, shift: bool,
          seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(y))
    first = rows[: args.first]
    rest = rows[args.first:]
    if shift:  # one topic makes up ``share`` of the new import
        topic = int(rng.integers(0, 4))
        hot = rest[y[rest] == topic][: int(args.second * args.share)]
        cold = rest[y[rest] != topic][: args.second - len(hot)]
        second = np.concatenate([hot, cold])
    else:
        second = rest[: args.second]
    test = np.setdiff1d(rest, second)[:300]
    pool = np.concatenate([first, second])
    replay = Replay(x[pool], y[pool], x[test], y[test])
    settings = ProjectSettings(name="drift", seed=seed, featurizer="vectors:sim",
                               strategy="margin", cost_model="equal", stop_set_size=0,
                               drift_every=50, drift_sample_size=200)
    labeled = list(range(args.labels))  # the first import's first items
    snap = replay.snapshot(settings, labeled, 1)
    snap.imports = [1] * args.first + [2] * args.second + [1] * len(test)
    result = RoundRunner().run(snap)
    signal = next(s for s in result.signals if s.name == "drift")
    return {"reached": signal.reached, "largest_tvd": signal.value, "detail": signal.detail}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--first", type=int, default=1200)
    parser.add_argument("--second", type=int, default=400)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--share", type=float, default=0.7)
    args = parser.parse_args()
    started = time.perf_counter()
    texts, y = load(args.first + args.second + 1400, seed=0)
    x = make_embedder("minilm", texts).embed(texts)
    embedded = time.perf_counter() - started
    out: dict[str, object] = {"machine": machine(), "args": vars(args),
                              "embed_seconds": round(embedded, 1)}
    for shift in (False, True):
        runs = [trial(x, y, args, shift, seed) for seed in range(args.trials)]
        out["shift" if shift else "no_shift"] = {
            "reached": sum(bool(r["reached"]) for r in runs), "trials": len(runs),
            "largest_tvd": [round(float(r["largest_tvd"] or 0), 3) for r in runs],
            "example": runs[0]["detail"]}
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
