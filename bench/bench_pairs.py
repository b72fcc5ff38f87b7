"""Seed 002 (BERT on MRPC) replayed on a sentence-pair task built from real offline data:
start from 30% of the pool labeled at random, add 64 pairs per round chosen by entropy, and
compare with passive learning (64 random pairs per round).

The pairs (no paraphrase corpus is in ../shared/data, so one is built, honestly, from real
text): AG News ``test.csv`` (7,600 news items: class, title, description). Its rows are
shuffled with a fixed seed; the first ``--pairs`` are anchors. Half of the anchors keep their own
description (label ``match``); the other half get the description of another news item of the
SAME class, drawn without replacement from the rows that are not anchors (label ``mismatch``).
The task, "does this description belong to this title?", is a real pair task: the negatives
are hard (same topic, often the same kind of story), so topic words alone cannot answer it,
and no description appears in two pairs. Backslashes in the file stand for line breaks and
become spaces. The pairs go through the application's own path: a CSV imported with
``--text title --text-b description``, then ``alapp simulate`` (``simulate_file``).

Two replays, both through the application's own round:

1. ``finetune``: the seed's setup, fine-tuning the bundled MiniLM (all-MiniLM-L6-v2,
   22.7M parameters) on the pairs tokenized as pairs (``[CLS] title [SEP] description [SEP]``);
   each round continues from the previous round's weights (the application's warm start).
   Fine-tuning on 2 CPU cores is slow (a few examples a second), so this replay is small:
   by default 320 pool pairs and 160 test pairs, 30% (96) labeled first, +64 per round up to
   224 labels, 2 epochs a round, learning rate 5e-5 (2e-5, the seed's, barely moves a new head
   in the few dozen steps such a small set gives), 1 seed.
2. ``frozen``: the same protocol on frozen MiniLM pair features (each text embedded alone, the
   pair's vector ``[u, v, |u - v|, u * v]``, see ``alapp/core/pairs.py``) and logistic
   regression: cheap, so larger (default 2,000 pool and 1,000 test pairs, 30% = 600 first,
   +64 per round up to 1,304 labels) and over 5 seeds.

Reported per replay: accuracy and macro-F1 learning curves (mean over seeds) for entropy and
random, their mean (the seed's MRPC score is the mean of accuracy and F1), and the labels
saved against passive at matched accuracy: for each point of the random curve, how many labels
entropy needed to reach the same mean test accuracy (linear interpolation between its points;
null when it never does), and the difference.

Usage: python bench/bench_pairs.py [--pairs 480] [--frozen-pairs 3000] [--skip-finetune]
       [--skip-frozen] [--frozen-initial 0.3] [--frozen-rounds 11] [--out FILE]
Prints JSON with the machine; ``--out`` also writes it (docs/bench_pairs.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine

from alapp.app.simulate_file import simulate_file
from alapp.loop.simulate import SimulationConfig
from alapp.store.importer import ImportSpec

# ../shared/data beside the repository (a worktree may sit one folder deeper)
DATA = next((root / "shared" / "data" / "ag_news" / "test.csv"
             for root in Path(__file__).resolve().parents[2:4]
             if (root / "shared" / "data").is_dir()),
            Path(__file__).resolve().parents[2] / "shared" / "data" / "ag_news" / "test.csv")


def build_pairs(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` (id, title, description, label) rows: half ``match``, half ``mismatch`` with a
    same-class description from a news item outside the anchors."""
    with DATA.open(encoding="utf-8", newline="") as f:
        rows = [(int(c), t.replace("\\", " ").strip(), d.replace("\\", " ").strip())
                for c, t, d in csv.reader(f)]
    order = np.random.default_rng(seed).permutation(len(rows))
    if n > len(rows) // 2:
        raise SystemExit(f"--pairs at most {len(rows) // 2}")
    anchors, donors = order[:n], order[n:]
    spare: dict[int, list[int]] = {}
    for row in donors:
        spare.setdefault(rows[row][0], []).append(int(row))
    out = []
    for k, row in enumerate(anchors):
        klass, title, own = rows[row]
        if k % 2 == 0:
            out.append((f"n{row}", title, own, "match"))
        else:
            other = spare[klass].pop()
            out.append((f"n{row}-{other}", title, rows[other][2], "mismatch"))
    return out


def write_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("id", "title", "description", "label"))
        writer.writerows(rows)


def matched(random: dict[str, Any], active: dict[str, Any]) -> list[dict[str, Any]]:
    """For each point of the random curve: the labels ``active`` needed for the same mean
    accuracy (interpolated between its points), and the labels saved."""
    xs, ys = active["labels"], active["accuracy_mean"]
    out = []
    for labels, accuracy in zip(random["labels"], random["accuracy_mean"], strict=True):
        needed = None
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if y >= accuracy:
                if i == 0:
                    needed = float(x)
                else:
                    x0, y0 = xs[i - 1], ys[i - 1]
                    needed = float(x0 + (x - x0) * (accuracy - y0) / max(y - y0, 1e-12))
                break
        out.append({"random_labels": labels, "random_accuracy": round(accuracy, 4),
                    "entropy_labels": None if needed is None else round(needed, 1),
                    "labels_saved": None if needed is None else round(labels - needed, 1)})
    return out


def replay(name: str, pairs: int, test: int, cfg: SimulationConfig, tmp: Path) -> dict[str, Any]:
    rows = build_pairs(pairs + test)
    data = tmp / f"{name}.csv"
    write_csv(data, rows)
    started = time.perf_counter()
    spec = ImportSpec(text=["title"], text_b="description", label="label", meta=[])
    result = simulate_file(data, spec, cfg, "minilm", None, test, 0)
    seconds = time.perf_counter() - started
    s = result["strategies"]
    curves = {k: {"labels": v["labels"],
                  "accuracy": [round(a, 4) for a in v["accuracy_mean"]],
                  "accuracy_ci95": [round(a, 4) for a in v["accuracy_ci95"]],
                  "macro_f1": [round(a, 4) for a in v["macro_f1_mean"]],
                  "acc_f1_mean": [round((a + f) / 2, 4) for a, f in
                                  zip(v["accuracy_mean"], v["macro_f1_mean"], strict=True)],
                  "aulc": round(v["aulc_accuracy"], 4), "model": v["model"],
                  "seconds_per_round": round(v["seconds_per_round"], 1)}
              for k, v in s.items()}
    return {
        "pool": result["data"]["pool"], "test": result["data"]["test"],
        "classes": result["data"]["classes"], "featurizer": result["data"]["featurizer"],
        "config": {k: v for k, v in result["config"].items() if k != "strategies"},
        "full_pool": {k: round(v, 4) for k, v in result["full_pool"].items()},
        "curves": curves,
        "matched_accuracy": matched(s["random"], s["entropy"]),
        "labels_saved_vs_random_at_pct_of_full": s["entropy"]["labels_saved_vs_random"],
        "recommendation": result["recommendation_detail"]["text"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=480, help="fine-tuning: pool + test pairs")
    parser.add_argument("--test", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--frozen-pairs", type=int, default=3000)
    parser.add_argument("--frozen-test", type=int, default=1000)
    parser.add_argument("--frozen-seeds", type=int, default=5)
    parser.add_argument("--frozen-initial", type=float, default=0.3,
                        help="the frozen replay's first labeled set: a share or a count")
    parser.add_argument("--frozen-rounds", type=int, default=11, help="rounds of 64 after it")
    parser.add_argument("--skip-finetune", action="store_true")
    parser.add_argument("--skip-frozen", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pairs-") as tmp:
        if not args.skip_frozen:
            pool = args.frozen_pairs - args.frozen_test
            first = (round(args.frozen_initial * pool) if args.frozen_initial < 1
                     else int(args.frozen_initial))
            cfg = SimulationConfig(["entropy", "random"], batch=64, seeds=args.frozen_seeds,
                                   budget=first + 64 * args.frozen_rounds, initial="random",
                                   initial_labels=args.frozen_initial, classifier="logreg")
            results["frozen"] = replay("frozen", pool, args.frozen_test, cfg, Path(tmp))
            print(json.dumps({"frozen": results["frozen"]}), file=sys.stderr, flush=True)
        if not args.skip_finetune:
            pool = args.pairs - args.test
            cfg = SimulationConfig(["entropy", "random"], batch=64, seeds=1,
                                   budget=round(0.3 * pool) + 64 * 2, initial="random",
                                   initial_labels=0.3, classifier="finetune",
                                   finetune_lr=args.lr, finetune_epochs=args.epochs,
                                   finetune_batch_size=16)
            results["finetune"] = replay("finetune", pool, args.test, cfg, Path(tmp))
            print(json.dumps({"finetune": results["finetune"]}), file=sys.stderr, flush=True)
    report = {"benchmark": "pairs (seed 002: MRPC-style replay)",
              "data": "AG News test.csv title/description pairs, same-class hard negatives",
              "results": results, "seconds_total": round(time.perf_counter() - started, 1),
              "machine": machine()}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
