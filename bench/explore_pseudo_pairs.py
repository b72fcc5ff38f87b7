"""Exploration behind ``contrastive_pseudo_cap`` (issue 17): contrastive fine-tuning of MiniLM
on pairs from the labels *and* from kNN-verified pseudo-labels of the unlabeled pool (HAST),
on AG News, without the encoder job's held-out fifth (every label trains; nothing is gated).

The labels are the ones the app's default pipeline buys (``bench_finetune.default_order``).
The pseudo-labels: a logistic head (C by 5-fold cross-validation) on the frozen MiniLM vectors
of the labels, kept where ``alapp.al.selftrain.select_pseudo_labels`` agrees (per-class
threshold at the median, floor 0.5, 7-NN vote, at most ``cap`` x each class's labels). Then
the encoder (``alapp.ml.contrastive``) trains on pairs from both, the pool and the test set are
embedded with it, and the app's round (``bench_finetune.app_round``) and a plain logistic head
are scored on the test set. One JSON line per run (also added to ``--out``, which is
rewritten atomically with its earlier lines kept).

Usage: python bench/explore_pseudo_pairs.py --budget 64 --seed 0 --pairs 1024 --cap 10
       [--epochs 1] [--lr 2e-5] [--max-length 64] [--out explore-pseudo-pairs.jsonl]

The app's own path (held-out fifth, gate) is measured by ``bench_finetune.py --methods
contrastive-app --pseudo-cap N``; this script only screens settings quickly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import datasets
from bench_finetune import app_round, choose_c, codes, default_order, logistic
from machine import machine

from alapp.al.clustering import normalize_rows
from alapp.al.selftrain import SelfTrainParams, select_pseudo_labels
from alapp.core.files import atomic_output
from alapp.ml.contrastive import ContrastiveConfig, ContrastiveEncoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=datasets.DATA)
    ap.add_argument("--cache", type=Path, default=datasets.DEFAULT_CACHE)
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=1024)
    ap.add_argument("--cap", type=float, default=10.0, help="0: the labels alone")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--out", type=Path, default=Path("explore-pseudo-pairs.jsonl"))
    args = ap.parse_args()
    datasets.DATA = args.data
    ds = datasets.ag_news()
    x_pool = datasets.embedded(ds.pool_texts, "minilm", args.cache)
    x_test = datasets.embedded(ds.test_texts, "minilm", args.cache)
    y_pool, y_test = np.asarray(ds.pool_labels), np.asarray(ds.test_labels)
    rows = default_order(x_pool, y_pool, x_test, y_test, args.budget, args.seed)
    classes = sorted(set(y_pool.tolist()))
    started = time.perf_counter()
    texts, labels = [ds.pool_texts[r] for r in rows], [str(y) for y in y_pool[rows]]
    pseudo, pseudo_right = 0, None
    if args.cap > 0:
        head = logistic(choose_c(x_pool[rows], y_pool[rows], args.seed))
        head.fit(x_pool[rows], y_pool[rows])
        unlabeled = np.setdiff1d(np.arange(len(y_pool)), rows)
        unit = normalize_rows(x_pool)
        picked = select_pseudo_labels(
            head.predict_proba(x_pool[unlabeled]), unit[unlabeled], unit[rows],
            codes(y_pool[rows], classes), SelfTrainParams(0.5, 0.5, 7, args.cap))
        guessed_rows = unlabeled[picked.rows]
        guessed = [classes[c] for c in picked.codes]
        pseudo = len(guessed_rows)
        pseudo_right = float((np.asarray(guessed) == y_pool[guessed_rows]).mean())
        texts += [ds.pool_texts[r] for r in guessed_rows]
        labels += guessed
    encoder = ContrastiveEncoder(config=ContrastiveConfig(
        epochs=args.epochs, max_pairs=args.pairs, seed=args.seed, lr=args.lr,
        max_length=args.max_length), device="cpu")
    encoder.fit(texts, labels)
    trained = time.perf_counter()
    new_pool, new_test = encoder.embed(ds.pool_texts), encoder.embed(ds.test_texts)
    deployed = app_round(new_pool, y_pool, new_test, y_test, rows, args.seed)
    head = logistic(choose_c(new_pool[rows], y_pool[rows], args.seed))
    plain = float((head.fit(new_pool[rows], y_pool[rows]).predict(new_test) == y_test).mean())
    run = {"budget": args.budget, "seed": args.seed, "pairs": args.pairs, "cap": args.cap,
           "epochs": args.epochs, "lr": args.lr, "max_length": args.max_length,
           "pseudo_labels": pseudo, "pseudo_labels_right": pseudo_right,
           "app_round_accuracy": deployed["accuracy"], "logistic_accuracy": plain,
           "train_seconds": round(trained - started, 1),
           "seconds": round(time.perf_counter() - started, 1), "machine": machine(),
           "command": " ".join(sys.argv)}
    print(json.dumps(run), flush=True)
    earlier = args.out.read_text("utf-8") if args.out.exists() else ""
    with atomic_output(args.out) as f:  # the earlier runs' lines, then this one
        f.write(earlier + json.dumps(run) + "\n")


if __name__ == "__main__":
    main()
