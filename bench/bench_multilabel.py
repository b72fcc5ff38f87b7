"""Multi-label strategies against random on GoEmotions (real multi-label Reddit comments;
the 7-label Ekman grouping by default), through the application's own round (TF-IDF features,
one-vs-rest logistic regression with tuned thresholds). Prints JSON: per strategy the test
micro-F1, macro-F1, subset accuracy and Hamming loss after each round, their mean over the
rounds (the area under the learning curve) and at the end, with 95% confidence intervals over
seeds, and the paired difference to random (same first batch per seed).

Usage: python bench/bench_multilabel.py [--data DIR] [--pool N] [--test N] [--batch B]
       [--budget L] [--seeds S] [--strategies a,b,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.loop.simulate_multilabel import MEASURES, MultiLabelReplay, run

DATA = Path("/work/shared/data/goemotions/ekman")
# t quantiles (two-sided 95%) for small samples; normal beyond.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228}


def read_tsv(path: Path, labels: list[str]) -> tuple[list[str], list[list[str]]]:
    """GoEmotions' layout: text <TAB> comma-separated label indices <TAB> comment id."""
    texts, sets = [], []
    for line in path.read_text("utf-8").splitlines():
        text, codes, _ = line.split("\t")
        texts.append(text)
        sets.append([labels[int(c)] for c in codes.split(",")])
    return texts, sets


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (t distribution)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan")
    half = _T95.get(len(x) - 1, 1.96) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return float(x.mean()), half


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument("--test", type=int, default=600)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default="random,ml-mmc,ml-margin-mean,ml-entropy-max")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    labels = (args.data / "labels.txt").read_text("utf-8").split()
    train_texts, train_sets = read_tsv(args.data / "train.tsv", labels)
    test_texts, test_sets = read_tsv(args.data / "test.tsv", labels)
    rng = np.random.default_rng(12345)  # the subset is fixed; the seeds vary the runs
    pool = rng.permutation(len(train_texts))[: args.pool]
    test = rng.permutation(len(test_texts))[: args.test]
    replay = MultiLabelReplay(labels, [train_texts[i] for i in pool],
                              [train_sets[i] for i in pool], [test_texts[i] for i in test],
                              [test_sets[i] for i in test])
    strategies = args.strategies.split(",")
    curves: dict[str, list[Any]] = {s: [] for s in strategies}
    start = time.perf_counter()
    for seed in range(args.seeds):
        for strategy in strategies:
            curve = run(replay, strategy, seed, args.batch, args.budget)
            curves[strategy].append(curve)
            print(f"seed {seed} {strategy}: micro-F1 "
                  + " ".join(f"{v:.3f}" for v in curve.values["micro_f1"])
                  + f" ({curve.seconds:.0f} s)", file=sys.stderr, flush=True)

    results: dict[str, Any] = {}
    for strategy, runs in curves.items():
        entry: dict[str, Any] = {"labels": runs[0].labels}
        for m in MEASURES:
            per_round = np.array([c.values[m] for c in runs])
            entry[m] = {"curve_mean": per_round.mean(axis=0).round(4).tolist(),
                        "area": mean_ci(per_round.mean(axis=1).tolist()),
                        "final": mean_ci(per_round[:, -1].tolist())}
            if strategy != "random" and "random" in curves:
                base = np.array([c.values[m] for c in curves["random"]])
                entry[m]["area_minus_random"] = mean_ci(
                    (per_round.mean(axis=1) - base.mean(axis=1)).tolist())
                entry[m]["final_minus_random"] = mean_ci(
                    (per_round[:, -1] - base[:, -1]).tolist())
        entry["seconds_per_run"] = round(float(np.mean([c.seconds for c in runs])), 1)
        results[strategy] = entry
    report = {
        "dataset": str(args.data), "labels": labels,
        "pool": len(pool), "test": len(test), "batch": args.batch, "budget": args.budget,
        "seeds": args.seeds,
        "test_items_with_several_labels": round(float(np.mean(
            [len(test_sets[i]) > 1 for i in test])), 4),
        "features": "tfidf", "model": "one-vs-rest logistic regression, tuned thresholds",
        "ci": "95% (t over seeds); *_minus_random: paired per seed, same first batch",
        "results": results, "seconds": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")
    print(text)


if __name__ == "__main__":
    main()
