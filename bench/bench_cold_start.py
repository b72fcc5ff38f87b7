"""The cold-start benchmark of issue 17: test accuracy at 16, 32, 64 and 128 labels of random,
margin, today's default (uncertainty-cluster, cluster-centre first batch) and the default with
a typicality cold start (TypiClust) and/or the label-name prior, on the five shared datasets
(bench/datasets.py: fixed splits, cached embeddings of the language's default embedder).

Every run is the application's own round (``alapp.loop.simulate.run_one``: the same
RoundRunner, logistic regression on the precomputed vectors), batch 16, random share 0, seeds
0..4 (a seed changes k-means and tie-breaks; the split is fixed). Means with a 95% t interval
across seeds, and each arm's paired difference from margin and from today's default.

Usage: python bench/bench_cold_start.py [--only ag_news,trec] [--seeds 5] [--arms a,b]
       [--out bench_cold_start.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
import datasets as bench_data
from machine import machine

from alapp.loop.simulate import Replay, SimulationConfig, run_one

BATCH = 16
POINTS = (16, 32, 64, 128)
OLD = {"cold_start": "centroids", "cold_start_labels": 0, "label_prior": False}
# arm -> (strategy, project settings). "default" is today's default strategy as it was before
# issue 17 (its first batch: the items nearest to cluster centres).
ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", OLD),
    "margin": ("margin", OLD),
    "default": ("uncertainty-cluster", OLD),
    "default+typiclust-first": ("uncertainty-cluster", {**OLD, "cold_start": "typiclust"}),
    "default+typiclust-32": ("uncertainty-cluster",
                             {**OLD, "cold_start": "typiclust", "cold_start_labels": 32}),
    "default+typiclust-64": ("uncertainty-cluster",
                             {**OLD, "cold_start": "typiclust", "cold_start_labels": 64}),
    "margin+typiclust-first": ("margin", {**OLD, "cold_start": "typiclust"}),
    "default+prior": ("uncertainty-cluster", {**OLD, "label_prior": True}),
    "default+typiclust-64+prior": ("uncertainty-cluster",
                                   {**OLD, "cold_start": "typiclust", "cold_start_labels": 64,
                                    "label_prior": True}),
}


def mean_ci(rows: list[list[float]]) -> tuple[list[float], list[float]]:
    from scipy import stats

    m = np.array(rows, dtype=float)
    half = stats.t.ppf(0.975, len(m) - 1) * m.std(axis=0, ddof=1) / np.sqrt(len(m)) \
        if len(m) > 1 else np.zeros(m.shape[1])
    return [round(float(v), 4) for v in m.mean(axis=0)], [round(float(v), 4) for v in half]


def aulc(labels: list[int], acc: list[float]) -> float:
    return float(np.trapezoid(acc, labels) / (labels[-1] - labels[0]))


def run_dataset(name: str, arms: list[str], seeds: int, label_vectors: bool) -> dict[str, Any]:
    ds = bench_data.load(name)
    x_pool = bench_data.embedded(ds.pool_texts, ds.embedder)
    x_test = bench_data.embedded(ds.test_texts, ds.embedder)
    code = {c: i for i, c in enumerate(ds.classes)}
    y_pool = np.array([code[c] for c in ds.pool_labels])
    y_test = np.array([code[c] for c in ds.test_labels])
    replay = Replay(x_pool, y_pool, x_test, y_test)
    out_prior: dict[str, Any] = {}
    if label_vectors:
        from alapp.al.prior import zero_shot

        replay.label_vectors = label_prototypes(ds)
        guess = zero_shot(x_test, replay.label_vectors).argmax(axis=1)
        out_prior = {"label_texts": [names_of(name).get(c, c) for c in ds.classes],
                     "zero_shot_test_accuracy": round(float((guess == y_test).mean()), 4)}
        print(f"{name} zero-shot: {out_prior}", file=sys.stderr, flush=True)
    cfg = SimulationConfig(["random"], batch=BATCH, budget=max(POINTS), seeds=seeds)
    out: dict[str, Any] = {"pool": len(y_pool), "test": len(y_test), "classes": ds.classes,
                           "embedder": ds.embedder, "label_prior": out_prior, "arms": {}}
    per_seed: dict[str, list[list[float]]] = {}
    for arm in arms:
        strategy, settings = ARMS[arm]
        started = time.perf_counter()
        curves = [run_one(replay, strategy, seed, SimulationConfig(
            [strategy], batch=BATCH, budget=cfg.budget, seeds=seeds, settings=dict(settings)))
            for seed in range(seeds)]
        labels = curves[0].labels
        rows = [[c.accuracy[labels.index(p)] for p in POINTS] for c in curves]
        per_seed[arm] = rows
        acc, ci = mean_ci(rows)
        blended, blended_ci = mean_ci([[c.prior_accuracy[labels.index(p)] for p in POINTS]
                                       for c in curves])
        areas = [aulc(c.labels, c.accuracy) for c in curves]
        a_mean, a_ci = mean_ci([[a] for a in areas])
        out["arms"][arm] = {"strategy": strategy, "settings": settings,
                            "accuracy_mean": dict(zip(map(str, POINTS), acc, strict=True)),
                            "accuracy_ci95": dict(zip(map(str, POINTS), ci, strict=True)),
                            "aulc_16_128": a_mean[0], "aulc_ci95": a_ci[0],
                            # the model blended with the label-name prior, as the round ranks
                            # and predicts with it (= accuracy when the prior is off)
                            "blended_accuracy_mean": dict(zip(map(str, POINTS), blended,
                                                              strict=True)),
                            "blended_accuracy_ci95": dict(zip(map(str, POINTS), blended_ci,
                                                              strict=True)),
                            "per_seed_accuracy": [[round(v, 4) for v in r] for r in rows],
                            "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name} {arm}: " + " ".join(f"{p}:{a:.3f}±{c:.3f}" for p, a, c
                                          in zip(POINTS, acc, ci, strict=True))
              + ("" if blended == acc else " blended " + " ".join(f"{b:.3f}" for b in blended)),
              file=sys.stderr, flush=True)
    for base in ("margin", "default"):
        if base not in per_seed:
            continue
        for arm, rows in per_seed.items():
            diff, half = mean_ci((np.array(rows) - np.array(per_seed[base])).tolist())
            out["arms"][arm][f"minus_{base}"] = {
                "mean": dict(zip(map(str, POINTS), diff, strict=True)),
                "ci95": dict(zip(map(str, POINTS), half, strict=True))}
    return out


def label_prototypes(ds: bench_data.Dataset) -> np.ndarray:
    """The class names, embedded by the dataset's embedder (the app's label-name prior)."""
    from alapp.ml.embedders import make_embedder

    texts = [names_of(ds.name).get(c, c) for c in ds.classes]
    return np.asarray(make_embedder(ds.embedder, texts).embed(texts), dtype=np.float32)


# What a user would type as label names where the file's labels are codes (TREC's coarse
# classes are 0-5 in the shared file; the names are the dataset's own, read off examples):
# the names only, no descriptions, nothing tuned. ``--raw-names`` embeds the codes instead
# (the prior must then find them not meaningful).
LABEL_TEXTS: dict[str, dict[str, str]] = {
    "trec": {"0": "description", "1": "entity", "2": "abbreviation", "3": "human",
             "4": "location", "5": "number"},
}


def markdown(reports: list[dict[str, Any]]) -> str:
    """Tables of accuracy mean ± 95% half-width per dataset and arm, from saved reports."""
    lines: list[str] = []
    for report in reports:
        for name, result in report["results"].items():
            zero = result.get("label_prior", {}).get("zero_shot_test_accuracy")
            head = f"### {name} (pool {result['pool']:,}, test {result['test']:,}, " \
                f"{result['embedder']}" + (f", zero-shot from label names {zero:.3f}"
                                          if zero is not None else "") + ")"
            lines += ["", head, "",
                      "| arm | " + " | ".join(f"{p} labels" for p in POINTS) + " | AULC |",
                      "|---|" + "---|" * (len(POINTS) + 1)]
            for arm, v in result["arms"].items():
                cells = [f"{v['accuracy_mean'][str(p)]:.3f} ± {v['accuracy_ci95'][str(p)]:.3f}"
                         for p in POINTS]
                blended = [v.get("blended_accuracy_mean", {}).get(str(p)) for p in POINTS]
                if any(b is not None and b != v["accuracy_mean"][str(p)]
                       for b, p in zip(blended, POINTS, strict=True)):
                    cells = [f"{c} (blended {b:.3f})" if b is not None else c
                             for c, b in zip(cells, blended, strict=True)]
                lines.append(f"| {arm} | " + " | ".join(cells)
                             + f" | {v['aulc_16_128']:.3f} ± {v['aulc_ci95']:.3f} |")
    return "\n".join(lines)


RAW_NAMES = False  # --raw-names


def names_of(dataset: str) -> dict[str, str]:
    return {} if RAW_NAMES else LABEL_TEXTS.get(dataset, {})


def main() -> None:
    global RAW_NAMES
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(bench_data.LOADERS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--raw-names", action="store_true",
                        help="embed the file's label codes as they are (TREC: 0-5)")
    parser.add_argument("--markdown", nargs="+", type=Path, metavar="JSON",
                        help="print tables from saved reports instead of running")
    args = parser.parse_args()
    if args.markdown:
        print(markdown([json.loads(p.read_text("utf-8")) for p in args.markdown]))
        return
    RAW_NAMES = args.raw_names
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm {unknown[0]!r}; choose from {', '.join(ARMS)}")
    started = time.perf_counter()
    prior = any(ARMS[a][1].get("label_prior") for a in arms)
    results = {name: run_dataset(name, arms, args.seeds, prior)
               for name in args.only.split(",")}
    report = {"benchmark": "cold_start", "batch": BATCH, "raw_names": RAW_NAMES,
              "points": list(POINTS),
              "seeds": args.seeds, "classifier": "logreg", "results": results,
              "seconds": round(time.perf_counter() - started, 1), "machine": machine()}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
