"""The cost model's bias (lecture 000): active learning asks for the hardest texts, so a cost
model trained on the times it measured learns what hard texts cost, and overestimates the rest.

Synthetic pool: each text has a length and a hidden difficulty; labeling takes
(4 s + 0.5 s per token) x exp(1.2 (difficulty - 0.5)) x log-normal noise (sigma 0.25). The
model's margin uncertainty follows the difficulty with noise (what makes a text hard for a
person also makes it hard for the model). Active learning takes, each batch of 20, the 18
most uncertain items and a random share of 2 (10 %), as the application does. The cost model
learns from those measured times; its error is measured on a random held-out set of pool items
never labeled (what the budget forecast and ROI are about).

Compared: today's model (no uncertainty, every item weighted alike), each correction alone, and
both (``al.costmodel``: uncertainty as a statistic, the random share weighted up).
Usage: python bench/bench_cost_bias.py [--seeds 10] [--pool 4000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.al.costmodel import LearnedCost, LengthCost, text_stats, unbiased_weights

# name: (cost model, uncertainty as a statistic, random share weighted up)
VARIANTS: dict[str, tuple[type[LearnedCost] | type[LengthCost], bool, bool]] = {
    "uncorrected": (LearnedCost, False, False),  # the learned model before this change
    "uncertainty only": (LearnedCost, True, False),
    "weights only": (LearnedCost, False, True),
    "corrected": (LearnedCost, True, True),  # the learned model now
    "length, uncorrected": (LengthCost, False, False),
    "length, weighted": (LengthCost, False, True),  # the length model now
}


def _texts(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    vocabulary = ["".join(rng.choice(list("abcdefghijklmnoprstuvy"), size=k))
                  for k in rng.integers(2, 10, size=3000)]
    tokens = np.clip(np.round(rng.lognormal(np.log(25), 0.7, size=n)), 3, 300).astype(int)
    return [" ".join(rng.choice(vocabulary, size=k)) for k in tokens], tokens


def experiment(seed: int = 0, pool: int = 4000, rounds: int = 15, batch: int = 20,
               random_share: float = 0.1, held_out: int = 1000,
               proxy_noise: float = 0.15) -> dict[str, Any]:
    """One run: returns each variant's MAE, bias (mean predicted - actual) and relative error
    of the held-out set's total time, in seconds."""
    rng = np.random.default_rng(seed)
    texts, tokens = _texts(rng, pool)
    difficulty = rng.uniform(0, 1, pool)
    uncertainty = np.clip(difficulty + rng.normal(0, proxy_noise, pool), 0, 1)
    seconds = ((4 + 0.5 * tokens) * np.exp(1.2 * (difficulty - 0.5))
               * np.exp(rng.normal(0, 0.25, pool)))
    order = rng.permutation(pool)
    test = order[:held_out]  # never labeled: a random sample of the pool
    left = set(order[held_out:].tolist())
    chosen: list[int] = []
    is_random: list[bool] = []
    n_random = max(1, round(batch * random_share))
    for _ in range(rounds):
        candidates = np.array(sorted(left))
        top = candidates[np.argsort(-uncertainty[candidates], kind="stable")[:batch - n_random]]
        rest = np.setdiff1d(candidates, top)
        lucky = rng.choice(rest, size=n_random, replace=False)
        for item, random_pick in [(int(i), False) for i in top] + [(int(i), True) for i in lucky]:
            chosen.append(item)
            is_random.append(random_pick)
            left.discard(item)
    rows = np.array(chosen)
    zero = np.zeros(pool)
    plain = text_stats(texts, 3, zero)
    informed = text_stats(texts, 3, uncertainty)
    weights = unbiased_weights(is_random)
    out: dict[str, Any] = {}
    for name, (kind, with_uncertainty, weighted) in VARIANTS.items():
        stats = informed if with_uncertainty else plain
        model = kind().fit(stats[rows], seconds[rows], weights=weights if weighted else None)
        predicted = model.predict(stats[test])
        actual = seconds[test]
        out[name] = {"mae_s": float(np.mean(np.abs(predicted - actual))),
                     "bias_s": float(np.mean(predicted - actual)),
                     "total_error": float(abs(predicted.sum() - actual.sum()) / actual.sum())}
    out["labeled"] = {"al": int(len(rows) - sum(is_random)), "random": int(sum(is_random)),
                      "mean_seconds_labeled": float(seconds[rows].mean()),
                      "mean_seconds_held_out": float(seconds[test].mean())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--pool", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--proxy-noise", type=float, default=0.15,
                        help="how loosely the model's uncertainty follows the difficulty")
    args = parser.parse_args()
    runs = [experiment(seed, args.pool, args.rounds, proxy_noise=args.proxy_noise)
            for seed in range(args.seeds)]
    summary = {}
    for name in VARIANTS:
        summary[name] = {key: round(float(np.mean([r[name][key] for r in runs])), 3)
                         for key in ("mae_s", "bias_s", "total_error")}
        summary[name]["mae_sd"] = round(float(np.std([r[name]["mae_s"] for r in runs])), 3)
    wins = sum(r["corrected"]["mae_s"] < r["uncorrected"]["mae_s"] for r in runs)
    print(json.dumps({"benchmark": "cost_model_bias", "seeds": args.seeds, "pool": args.pool,
                      "proxy_noise": args.proxy_noise,
                      "labeled": runs[0]["labeled"], "held_out": 1000,
                      "results": summary, "corrected_beats_uncorrected": f"{wins}/{len(runs)}",
                      "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
