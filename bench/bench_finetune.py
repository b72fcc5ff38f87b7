"""Issue 17's fine-tuned-model target: AG News test accuracy with at most 1,000 actively chosen
labels (target: >= 0.90).

The labels are chosen actively on the cached MiniLM embeddings of the fixed 6,000-item pool
(bench/datasets.py): 20 random items, then batches of 20 by margin (``alapp.al.uncertainty``)
of a logistic regression retrained after each batch; a random order is the control. Each budget
takes the first N items of that order. On those labels:

- ``frozen``: logistic regression on the frozen MiniLM embeddings (the app's default head);
- ``contrastive``: the encoder fine-tuned on pairs from the labels (alapp/ml/contrastive.py,
  SetFit-style), then logistic regression on its embeddings;
- ``full``: the transformer fine-tuned end to end with a classification head
  (alapp/ml/finetune.py, the app's ``finetune`` classifier);
- ``frozen-app``: the app's own round (``RoundRunner``, the shipped settings: self-training
  and the propagation blend) on the frozen embeddings: the model the app deploys;
- ``contrastive-app``: the app's encoder job (``run_encoder_job``: a fifth of each label held
  out, pairs from the rest and from up to ``--pseudo-cap`` times each label's labels of
  kNN-verified pseudo-labels of the pool, kept only if the held-out head gains
  ``contrastive_min_gain``),
  then the app's round on the kept encoder's embeddings of the pool: the model the app deploys
  with ``contrastive_encoder`` on (the frozen-app model when the encoder is not kept).

Selections: ``margin`` and ``random`` as above; ``default``: the order in which the app's
default pipeline (``uncertainty-cluster`` with the shipped settings, batches of 32, through
``alapp.loop.simulate.run_one``) buys the labels.

Nothing is tuned on the test set: hyperparameters are fixed in advance (the app's defaults:
``finetune`` 3 epochs, learning rate 2e-5, batch 16; contrastive 1 epoch, learning rate 2e-5,
SetFit's); only the logistic head's C is chosen, by 5-fold cross-validation on the labeled items.
Results are written after every run (``--out``), so a long run that is stopped keeps what it did.

Usage: python bench/bench_finetune.py [--data FOLDER] [--budgets 1000,500,250]
       [--selections margin,random,default]
       [--methods frozen,contrastive,full,frozen-app,contrastive-app] [--seeds 0]
       [--max-pairs 2000] [--max-length 64] [--pseudo-cap 10] [--out bench-finetune.json]
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
import datasets
from machine import machine

from alapp.al.uncertainty import margin
from alapp.core.settings import ProjectSettings
from alapp.ml.contrastive import ContrastiveConfig, ContrastiveEncoder

FIRST, BATCH = 20, 20
C_GRID = (1.0, 10.0, 100.0)


def logistic(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=c)


def choose_c(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """The head's C by 5-fold cross-validation on the labeled items only."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    scores = [cross_val_score(logistic(c), x, y, cv=folds).mean() for c in C_GRID]
    return C_GRID[int(np.argmax(scores))]


def active_order(x_pool: np.ndarray, y_pool: np.ndarray, budget: int, selection: str,
                 seed: int, x_test: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if selection == "random":
        return rng.permutation(len(y_pool))[:budget]
    if selection == "default":
        return default_order(x_pool, y_pool, x_test, y_test, budget, seed)
    chosen = list(rng.choice(len(y_pool), FIRST, replace=False))
    while len(chosen) < budget:
        rest = np.setdiff1d(np.arange(len(y_pool)), chosen)
        if len(set(y_pool[chosen])) < 2:  # no model yet: another random batch
            picks = rng.choice(rest, BATCH, replace=False)
        else:
            head = logistic(10.0).fit(x_pool[chosen], y_pool[chosen])
            probs = head.predict_proba(x_pool[rest])
            picks = rest[np.argsort(-margin(probs), kind="stable")[:BATCH]]  # least sure
        chosen.extend(int(i) for i in picks[:budget - len(chosen)])
    return np.asarray(chosen)


def codes(y: np.ndarray, classes: list[str]) -> np.ndarray:
    index = {c: k for k, c in enumerate(classes)}
    return np.array([index[v] for v in y])


def default_order(x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """The pool rows the app's default pipeline labels, in order, up to ``budget``."""
    from alapp.loop.simulate import Replay, SimulationConfig, run_one

    classes = sorted(set(y_pool.tolist()))
    replay = Replay(x_pool, codes(y_pool, classes), x_test, codes(y_test, classes))
    curve = run_one(replay, "uncertainty-cluster", seed,
                    SimulationConfig(["uncertainty-cluster"], batch=32, budget=budget, seeds=1))
    return np.asarray(curve.bought[:budget])


def app_round(x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              rows: np.ndarray, seed: int) -> dict[str, Any]:
    """The app's round with the shipped settings, trained on ``rows``: its test accuracy and
    how many pseudo-labels it used."""
    from alapp.loop.round import RoundRunner
    from alapp.loop.simulate import Replay, SimulationConfig, run_settings

    classes = sorted(set(y_pool.tolist()))
    replay = Replay(x_pool, codes(y_pool, classes), x_test, codes(y_test, classes))
    settings = run_settings(SimulationConfig(["uncertainty-cluster"], batch=32, seeds=1),
                            "uncertainty-cluster", seed)
    result = RoundRunner().run(replay.snapshot(settings, [int(r) for r in rows], 1, last=True))
    return {"accuracy": float(result.metrics["accuracy"]),
            "pseudo_labels": result.pseudo_label_count}


def run_frozen_app(x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray,
                   y_test: np.ndarray, rows: np.ndarray, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    return {**app_round(x_pool, y_pool, x_test, y_test, rows, seed),
            "seconds": time.perf_counter() - started}


def run_contrastive_app(texts: list[str], y_pool: np.ndarray, test_texts: list[str],
                        y_test: np.ndarray, x_pool: np.ndarray, x_test: np.ndarray,
                        rows: np.ndarray, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The app's encoder job on these labels (as a project would run it), then the app's round
    on the embeddings of the encoder it keeps."""
    import tempfile

    from alapp.app.encoder import attempts, run_encoder_job
    from alapp.core.progress import Progress
    from alapp.core.types import ItemId, Split
    from alapp.loop.embedding import MemoryVectors

    n_pool = len(texts)
    all_texts = [*texts, *test_texts]
    ids = [ItemId(r) for r in range(len(all_texts))]
    splits = [Split.POOL.value] * n_pool + [Split.TEST.value] * len(test_texts)
    current = {ids[int(r)]: str(y_pool[int(r)]) for r in rows}
    current.update({ids[n_pool + k]: str(y) for k, y in enumerate(y_test)})
    settings = ProjectSettings(name="bench", seed=seed, featurizer="minilm",
                               contrastive_encoder=True, contrastive_epochs=args.epochs,
                               contrastive_max_pairs=args.max_pairs,
                               contrastive_pseudo_cap=args.pseudo_cap)
    vectors = MemoryVectors(dict(zip(ids, all_texts, strict=True)))
    # the frozen vectors, stored as a project's rounds store them (pseudo-labels read them)
    from alapp.ml.embedders import make_embedder

    frozen = make_embedder(settings.featurizer, all_texts, settings.device).name
    vectors.vectors[frozen] = dict(zip(ids, np.vstack([x_pool, x_test]), strict=True))
    used: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alapp-bench-encoder-") as folder:
        project = Path(folder) / "bench.alapp"
        run_encoder_job(project, settings, ids, all_texts, splits, current, vectors, 1,
                        used.append, Progress())
        attempt = attempts(project)[-1]
        job_seconds = time.perf_counter() - started
        if used:
            from alapp.ml.embedders import HFEmbedder

            name = HFEmbedder(Path(used[0])).name
            x_pool = vectors.load(name, ids[:n_pool])
            x_test = vectors.load(name, ids[n_pool:])
    run = app_round(x_pool, y_pool, x_test, y_test, rows, seed)
    return {**run, "taken": bool(used), "held_out_before": attempt.get("held_out_before"),
            "held_out_after": attempt.get("held_out_after"), "pairs": attempt.get("pairs"),
            "pseudo": attempt.get("pseudo"),
            "train_seconds": attempt.get("train_seconds"), "job_seconds": job_seconds,
            "seconds": time.perf_counter() - started}


def run_frozen(x_pool: np.ndarray, y_pool: np.ndarray, x_test: np.ndarray,
               y_test: np.ndarray, rows: np.ndarray, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    c = choose_c(x_pool[rows], y_pool[rows], seed)
    head = logistic(c).fit(x_pool[rows], y_pool[rows])
    return {"accuracy": float((head.predict(x_test) == y_test).mean()), "C": c,
            "seconds": time.perf_counter() - started}


def run_contrastive(texts: list[str], y_pool: np.ndarray, test_texts: list[str],
                    y_test: np.ndarray, rows: np.ndarray, seed: int,
                    args: argparse.Namespace) -> dict[str, Any]:
    cfg = ContrastiveConfig(epochs=args.epochs, lr=2e-5, batch_size=16,
                            max_length=args.max_length, max_pairs=args.max_pairs, seed=seed)
    encoder = ContrastiveEncoder(config=cfg, device="cpu")
    train_texts = [texts[i] for i in rows]
    started = time.perf_counter()
    report = encoder.fit(train_texts, list(y_pool[rows]))
    trained = time.perf_counter()
    x_train = encoder.embed(train_texts)
    x_test = encoder.embed(test_texts)
    embedded = time.perf_counter()
    c = choose_c(x_train, y_pool[rows], seed)
    head = logistic(c).fit(x_train, y_pool[rows])
    return {"accuracy": float((head.predict(x_test) == y_test).mean()), "C": c,
            "pairs": report.pairs, "loss": list(report.losses),
            "pairs_per_second": report.pairs_per_second,
            "train_seconds": trained - started, "embed_seconds": embedded - trained,
            "seconds": time.perf_counter() - started}


def run_full(texts: list[str], y_pool: np.ndarray, test_texts: list[str], y_test: np.ndarray,
             classes: list[str], rows: np.ndarray, seed: int,
             args: argparse.Namespace) -> dict[str, Any]:
    from alapp.ml.finetune import TransformerClassifier

    model = TransformerClassifier(classes, epochs=3, lr=2e-5, batch_size=16,
                                  max_length=args.max_length, device="cpu", seed=seed)
    started = time.perf_counter()
    model.fit([texts[i] for i in rows], list(y_pool[rows]))
    trained = time.perf_counter()
    probs = model.predict_proba(test_texts)
    predicted = np.asarray(classes)[probs.argmax(1)]
    return {"accuracy": float((predicted == y_test).mean()),
            "examples_per_second": model.examples_per_second,
            "train_seconds": trained - started, "predict_seconds": time.perf_counter() - trained,
            "seconds": time.perf_counter() - started}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=datasets.DATA)
    ap.add_argument("--cache", type=Path, default=datasets.DEFAULT_CACHE)
    ap.add_argument("--budgets", default="1000,500,250")
    ap.add_argument("--selections", default="margin,random")
    ap.add_argument("--methods", default="frozen,contrastive,full")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=1, help="contrastive epochs")
    ap.add_argument("--max-pairs", type=int, default=2000)
    ap.add_argument("--max-length", type=int, default=64, help="tokens per text in training")
    ap.add_argument("--pseudo-cap", type=float, default=ProjectSettings.contrastive_pseudo_cap,
                    help="contrastive-app: pseudo-labels in the pairs, x each label's labels "
                         "(0: human labels only)")
    ap.add_argument("--out", type=Path, default=Path("bench-finetune.json"))
    args = ap.parse_args()
    datasets.DATA = args.data
    budgets = sorted((int(b) for b in args.budgets.split(",")), reverse=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    ds = datasets.ag_news()
    x_pool = datasets.embedded(ds.pool_texts, "minilm", args.cache)
    x_test = datasets.embedded(ds.test_texts, "minilm", args.cache)
    y_pool, y_test = np.asarray(ds.pool_labels), np.asarray(ds.test_labels)
    result: dict[str, Any] = {
        "benchmark": "bench_finetune", "dataset": "ag_news", "pool": len(y_pool),
        "test": len(y_test), "machine": machine(), "command": " ".join(sys.argv),
        "settings": {"first": FIRST, "batch": BATCH, "contrastive_epochs": args.epochs,
                     "max_pairs": args.max_pairs, "max_length": args.max_length,
                     "pseudo_cap": args.pseudo_cap,
                     "full_epochs": 3, "lr": 2e-5, "c_grid": list(C_GRID)},
        "runs": []}
    for seed in seeds:
        orders = {s: active_order(x_pool, y_pool, budgets[0], s, seed, x_test, y_test)
                  for s in args.selections.split(",")}
        for budget in budgets:
            for selection, order in orders.items():
                rows = order[:budget]
                for method in args.methods.split(","):
                    if method == "frozen":
                        run = run_frozen(x_pool, y_pool, x_test, y_test, rows, seed)
                    elif method == "contrastive":
                        run = run_contrastive(ds.pool_texts, y_pool, ds.test_texts, y_test, rows,
                                              seed, args)
                    elif method == "frozen-app":
                        run = run_frozen_app(x_pool, y_pool, x_test, y_test, rows, seed)
                    elif method == "contrastive-app":
                        run = run_contrastive_app(ds.pool_texts, y_pool, ds.test_texts, y_test,
                                                  x_pool, x_test, rows, seed, args)
                    elif method == "full":
                        run = run_full(ds.pool_texts, y_pool, ds.test_texts, y_test, ds.classes,
                                       rows, seed, args)
                    else:
                        raise SystemExit(f"unknown method {method!r}")
                    run = {"seed": seed, "budget": budget, "selection": selection,
                           "method": method, **run}
                    result["runs"].append(run)
                    print(json.dumps(run), flush=True)
                    args.out.write_text(json.dumps(result, indent=2))
    summary: dict[str, dict[str, float]] = {}
    for run in result["runs"]:
        key = f"{run['selection']}/{run['method']}/{run['budget']}"
        summary.setdefault(key, {"runs": 0, "accuracy": 0.0, "seconds": 0.0})
        summary[key]["runs"] += 1
        summary[key]["accuracy"] += run["accuracy"]
        summary[key]["seconds"] += run["seconds"]
    for value in summary.values():  # means over the seeds
        value["accuracy"] = round(value["accuracy"] / value["runs"], 4)
        value["seconds"] = round(value["seconds"] / value["runs"], 1)
    result["summary"] = summary
    result["target_0.90_met_by"] = sorted(
        k for k, v in summary.items() if not k.startswith("random/") and
        "/frozen" not in k and int(k.rsplit("/", 1)[1]) <= 1000
        and v["accuracy"] >= 0.90)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
