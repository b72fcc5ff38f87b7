"""The active-learning loop at scale: from "labels submitted" to "next batch ready".

A 100,000-item project with cached 384-d embeddings (synthetic, imported as precomputed
vectors) and 1,000 labels; each timed round re-reads the project, trains on the current labels
(warm start), scores the whole pool and selects a batch of 20. Prints JSON.
Usage: python bench/bench_loop.py [--pool N] [--labels N] [--classifier logreg|mlp]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.app.rounds import save_result, snapshot_of
from alapp.loop.round import RoundRunner
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.queue import entries
from alapp.store.vectors import import_npy


def build(folder: Path, pool: int, k: int, classifier: str, strategy: str) -> Path:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(k, 384)).astype(np.float32)
    y = rng.integers(0, k, pool)
    vectors = centres[y] + 2.5 * rng.normal(size=(pool, 384)).astype(np.float32)
    texts = folder / "texts.csv"
    with open(texts, "w", encoding="utf-8") as f:
        f.write("id,text,gold\n")
        for i in range(pool):
            f.write(f"t{i},synthetic item {i},c{y[i]}\n")
    np.save(folder / "v.npy", vectors)
    path = folder / "bench.alapp"
    with Project.create(path, [f"c{i}" for i in range(k)], featurizer="vectors:bench",
                        classifier=classifier, strategy=strategy, batch_size=20) as project:
        import_file(project, texts, parallel=None)
        import_npy(project, "bench", folder / "v.npy", None)
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--classifier", default="logreg")
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), args.pool, args.classes, args.classifier, args.strategy)
        runner = RoundRunner()
        with Project.open(path) as project:
            ids = project.item_ids()
            gold = {i: json.loads(project.item(i).meta or "{}")["gold"] for i in ids}
            for item in ids[: args.labels]:
                project.label_item(item, gold[item], "bench")
            t = time.perf_counter()
            save_result(project, runner.run(snapshot_of(project)))
            first = time.perf_counter() - t
            rounds = []
            for _ in range(args.rounds):
                for entry in entries(project):
                    project.label_item(entry.item_id, gold[entry.item_id], "bench")
                t = time.perf_counter()
                snap = snapshot_of(project)
                read = time.perf_counter() - t
                result = runner.run(snap)
                save_result(project, result)
                rounds.append({"total_s": round(time.perf_counter() - t, 3),
                               "read_s": round(read, 3), **result.seconds,
                               "n_labeled": result.n_labeled})
    print(json.dumps({
        "benchmark": "loop_round", "pool": args.pool, "labels": args.labels,
        "classifier": args.classifier, "strategy": args.strategy,
        "first_round_s_including_vector_load": round(first, 3),
        "median_round_s": float(np.median([r["total_s"] for r in rounds])),
        "rounds": rounds, "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
