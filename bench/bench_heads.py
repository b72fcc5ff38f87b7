"""001's learning-loss experiment replayed: learning loss (one layer and several), its inverse,
and the ideal and inverse-ideal baselines that read the known labels, against random, on the
MLP; plus the passive phase and the softmax temperature as simulate settings.

Reads ../shared/data/trec (question types, 6 classes); embeds a sample once with MiniLM (cached
in --cache); prints JSON with the machine. The MLP trains on one torch thread: its matrices are
tiny, and on a shared 2-core machine two threads spin against each other (measured 16 ms
against 0.2 ms for one batch-norm call).
Usage: python bench/bench_heads.py [--data FOLDER] [--pool 1500] [--budget 300] [--batch 20]
       [--seeds 3] [--strategies a,b] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.app.simulate_file import parse_settings
from alapp.loop.simulate import SimulationConfig, simulate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec"
STRATEGIES = ("random,learning-loss,learning-loss-multi,learning-loss-inverse,"
              "learning-loss-ideal,learning-loss-ideal-inverse")


def load(path: Path) -> tuple[list[str], list[str]]:
    rows = [line.split(" ", 1) for line in path.read_text("latin-1").splitlines() if line]
    return [t for _, t in rows], [label for label, _ in rows]


def embedded(texts: list[str], cache: Path) -> np.ndarray:
    if cache.exists():
        return np.load(cache)
    from alapp.ml.embedders import make_embedder

    vectors = np.asarray(make_embedder("minilm", texts).embed(texts), dtype=np.float32)
    np.save(cache, vectors)
    return vectors


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=1500)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/alapp-bench-trec"))
    parser.add_argument("--data", type=Path, default=DATA, help="the trec folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    texts, labels = load(args.data / "TREC.train.all")
    test_texts, test_labels = load(args.data / "TREC.test.all")
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(texts))[: args.pool]
    args.cache.mkdir(parents=True, exist_ok=True)
    x = embedded([texts[r] for r in rows], args.cache / f"pool{args.pool}.npy")
    x_test = embedded(test_texts, args.cache / "test.npy")
    names = sorted(set(labels))
    y = np.array([names.index(labels[r]) for r in rows])
    y_test = np.array([names.index(label) for label in test_labels])
    cfg = SimulationConfig(args.strategies.split(","), batch=args.batch, budget=args.budget,
                           seeds=args.seeds, initial="random", classifier="mlp",
                           settings=parse_settings(args.set))
    started = time.perf_counter()
    result = simulate(x, y, x_test, y_test, cfg)
    print(json.dumps({
        "benchmark": "heads", "data": f"trec, pool {len(y)}, test {len(y_test)}",
        "config": {k: v for k, v in result["config"].items()},
        "seconds": round(time.perf_counter() - started, 1),
        "strategies": {s: {"aulc": round(v["aulc_accuracy"], 4),
                           "final": round(v["accuracy_mean"][-1], 4),
                           "labels": v["labels"][-1],
                           "seconds_per_round": round(v["seconds_per_round"], 3)}
                       for s, v in result["strategies"].items()},
        "machine": machine()}, indent=1))


if __name__ == "__main__":
    main()
