"""How well the review queue's label check (issue 19: confident learning on 5-fold
out-of-fold probabilities of the project's classifier, ``alapp/app/team.py``) finds labels
that were deliberately flipped.

For each dataset: the first ``--items`` pool items of the fixed split (``bench/datasets.py``)
become a project labeled with their true labels by one annotator, except ``--flip`` of them
(a seeded random share, each moved to another class at random); the check runs through the
application's own path (``team.scan_project``) on the featurizer given, and we count how many
flipped items it lists (recall) and how many of its suspects were flipped (precision against
the flips: the datasets have label noise of their own, so a suspect that was not flipped is
not necessarily wrong). Features: TF-IDF, and the dataset's embedder where its vectors are
cached (``--cache``; imported as ``vectors:emb``, as a user would with ``alapp
import-vectors``). A synthetic set of separable vectors is the sanity check.

    python bench/bench_label_check.py --items 2000 --flip 0.05 --seeds 3

``precision_at_flipped``: of the first k suspects in the queue's order (k = the number of
flipped labels), the share that were flipped: what a reviewer working down the queue sees.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alapp.app import team
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.vectors import import_npy
from bench import datasets
from bench.machine import machine


def _cached(texts: list[str], embedder: str, cache: Path) -> np.ndarray | None:
    import hashlib

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]  # as datasets.embedded
    path = cache / f"{embedder}-{len(texts)}-{key}.npy"
    return np.load(path) if path.exists() else None


def run(texts: list[str], labels: list[str], vectors: np.ndarray | None, featurizer: str,
        flip: float, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels))
    flipped = set(rng.choice(len(texts), round(flip * len(texts)), replace=False).tolist())
    given = [rng.choice([c for c in classes if c != y]) if k in flipped else y
             for k, y in enumerate(labels)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.alapp"
        data = Path(folder) / "items.jsonl"
        data.write_text("".join(json.dumps({"id": f"i{k}", "text": t}, ensure_ascii=False)
                                + "\n" for k, t in enumerate(texts)), "utf-8")
        with Project.create(path, classes, featurizer=featurizer) as project:
            import_file(project, data, ImportSpec(format="jsonl"))
            if vectors is not None:
                np.save(Path(folder) / "v.npy", vectors.astype(np.float32))
                import_npy(project, "emb", Path(folder) / "v.npy", None)
            row = {item: k for k, item in enumerate(project.item_ids())}  # import order
            for item, k in row.items():
                project.label_item(item, str(given[k]), "anna", None, 3000)
        start = time.perf_counter()
        scan = team.scan_project(path, lambda fn: None)
        seconds = time.perf_counter() - start
    ranked = [row[item] for item, _, _ in scan.suspects]  # most suspicious first
    found = set(ranked)
    hits = len(found & flipped)
    top = set(ranked[:len(flipped)])  # as many as were flipped: the head of the queue
    return {"flipped": len(flipped), "suspects": len(found), "found": hits,
            "recall": hits / max(len(flipped), 1), "precision": hits / max(len(found), 1),
            "precision_at_flipped": len(top & flipped) / max(len(top), 1),
            "estimated_errors": float(scan.estimated_errors or 0.0),
            "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--flip", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", default="synthetic,ag_news,rusentitweet,thucnews")
    parser.add_argument("--cache", type=Path, default=datasets.DEFAULT_CACHE)
    parser.add_argument("--features", default="tfidf,vectors",
                        help="tfidf and/or vectors (the dataset's cached embeddings)")
    args = parser.parse_args()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.datasets.split(","):
        runs: dict[str, list[dict[str, float]]] = {}
        if name == "synthetic":
            rng = np.random.default_rng(0)
            labels = [f"c{k % 4}" for k in range(args.items)]
            centres = rng.normal(0, 3, (4, 16))
            vectors = np.stack([centres[int(y[1])] + rng.normal(0, 1, 16) for y in labels])
            texts = [f"item {k}" for k in range(args.items)]
            arms = {"vectors:emb": vectors}
        else:
            try:
                data = datasets.load(name)
            except OSError as e:
                print(f"{name}: skipped ({e})", file=sys.stderr)
                continue
            full = _cached(data.pool_texts, data.embedder, args.cache)
            texts, labels = data.pool_texts[:args.items], data.pool_labels[:args.items]
            arms = {"tfidf": None} if "tfidf" in args.features else {}
            if full is not None and "vectors" in args.features:
                arms["vectors:emb"] = full[:args.items]
        for featurizer, vectors in arms.items():
            for seed in range(args.seeds):
                runs.setdefault(featurizer, []).append(
                    run(texts, labels, vectors, featurizer, args.flip, seed))
        results[name] = {f: {k: round(float(np.mean([r[k] for r in rs])), 3) for k in rs[0]}
                         for f, rs in runs.items()}
        print(name, json.dumps(results[name]), file=sys.stderr)
    print(json.dumps({"machine": machine(), "items": args.items, "flip": args.flip,
                      "seeds": args.seeds, "results": results}, indent=2))


if __name__ == "__main__":
    main()
