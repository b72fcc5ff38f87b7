"""Time every query strategy on a synthetic 100,000-item pool (384-d embeddings, 10 classes,
batch 50) and print JSON. Usage: python bench/bench_strategies.py [--pool N] [--repeat R]"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.al.batch import BatchRequest, compose_batch
from alapp.al.registry import STRATEGIES
from alapp.al.state import PoolState


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def synthetic_pool(n: int, d: int, k: int, samples: int, seed: int = 0) -> PoolState:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    emb = (centres[y] + 1.5 * rng.standard_normal((n, d))).astype(np.float32)
    w = rng.standard_normal((d, k)).astype(np.float32) / np.sqrt(d)
    logits = emb @ w * 3
    mc = np.stack([softmax(logits + rng.standard_normal((n, k)).astype(np.float32))
                   for _ in range(samples)])
    return PoolState(
        ids=np.arange(n), probs=softmax(logits), mc_probs=mc, committee_probs=mc[:5],
        embeddings=emb, hidden=emb, activations=emb[:, :128],
        validation_activations=(centres[rng.integers(0, k, 2000)]
                                + rng.standard_normal((2000, d)))[:, :128].astype(np.float32),
        labeled_embeddings=emb[:1000], target_embeddings=emb[1000:3000],
        wrong_prob=rng.random(n), predicted_loss=rng.random(n), costs=1 + rng.random(n),
        n_labeled=1000, round_index=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    state = synthetic_pool(args.pool, 384, 10, args.samples)
    results = {}
    for name in STRATEGIES:
        times = []
        for r in range(args.repeat):
            start = time.perf_counter()
            compose_batch(state, BatchRequest(name, args.batch, round_index=r))
            times.append(time.perf_counter() - start)
        results[name] = {"median_s": round(float(np.median(times)), 4),
                         "min_s": round(min(times), 4)}
    print(json.dumps({"benchmark": "strategies", "pool": args.pool, "dim": 384, "classes": 10,
                      "batch": args.batch, "mc_samples": args.samples, "repeat": args.repeat,
                      "machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
