"""The simulation benchmark of the issue: five public datasets, batch 20, budget 1,000, 5 seeds,
random vs margin vs entropy vs the combined strategy, default featurizer (auto: MiniLM for
English, multilingual E5 otherwise) and logistic regression.

Reads ../shared/data; writes docs/simulation/<dataset>.json and .svg; prints a JSON summary.
Usage: python bench/bench_simulate.py [--only NAME] [--seeds 5] [--budget 1000] [--batch 20]
       [--strategies a,b] [--classifier logreg] [--out FOLDER]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.app.plot_svg import learning_curves_svg
from alapp.app.simulate_file import simulate_file
from alapp.loop.simulate import SimulationConfig
from alapp.store.importer import ImportSpec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "docs" / "simulation"


def names(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


def datasets() -> dict[str, dict]:
    return {
        "ag_news": {"file": DATA / "ag_news/test.csv", "test_size": 1600, "spec": ImportSpec(
            header=False, text=["2", "3"], label="1", meta=[],
            label_names=names(DATA / "ag_news/classes.txt"), label_base=1)},
        "trec": {"file": DATA / "trec/TREC.train.all", "test_file": DATA / "trec/TREC.test.all",
                 "spec": ImportSpec(format="labeled-txt", encoding="latin-1")},
        "sms_spam": {"file": DATA / "sms_spam/SMSSpamCollection", "spec": ImportSpec(
            format="tsv", text=["SMS"], label="Label", meta=[])},
        "thucnews_titles": {"file": DATA / "thucnews_titles/dev.txt",
                            "test_file": DATA / "thucnews_titles/test.txt", "spec": ImportSpec(
                                format="tsv", header=False, text=["1"], label="2", meta=[],
                                label_names=names(DATA / "thucnews_titles/class.txt"))},
        "rusentitweet": {"file": DATA / "rusentitweet/rusentitweet_train.csv",
                         "test_file": DATA / "rusentitweet/rusentitweet_test.csv",
                         "spec": ImportSpec(meta=[])},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--strategies", default="random,margin,entropy,uncertainty-cluster")
    parser.add_argument("--classifier", default="logreg", help="logreg, mlp or committee")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="where the JSON and SVG go (a trial run: not the docs folder)")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for name, d in datasets().items():
        if args.only and name != args.only:
            continue
        started = time.perf_counter()
        cfg = SimulationConfig(args.strategies.split(","), batch=args.batch, budget=args.budget,
                               seeds=args.seeds, classifier=args.classifier)
        result = simulate_file(d["file"], d["spec"], cfg, "auto", d.get("test_file"),
                               d.get("test_size", 0), 0)
        (out / f"{name}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        (out / f"{name}.svg").write_text(learning_curves_svg(result, name), encoding="utf-8")
        summary[name] = {
            "pool": result["data"]["pool"], "test": result["data"]["test"],
            "featurizer": result["data"]["featurizer"],
            "full_pool_accuracy": round(result["full_pool"]["accuracy"], 4),
            "recommendation": result["recommendation"],
            "seconds": round(time.perf_counter() - started, 1),
            "seconds_per_round": {s: round(v["seconds_per_round"], 4)
                                  for s, v in result["strategies"].items()},
            "strategies": {s: {"aulc": round(v["aulc_accuracy"], 4),
                               "acc_at_100": _at(v, 100), "acc_at_1000": _at(v, 1000),
                               "labels_to_95": v["labels_to_95pct_of_full"],
                               "labels_to_98": v["labels_to_98pct_of_full"],
                               "labels_to_99": v["labels_to_99pct_of_full"]}
                           for s, v in result["strategies"].items()}}
        print(json.dumps({name: summary[name]}), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "simulate", "seeds": args.seeds, "budget": args.budget,
                      "batch": args.batch, "results": summary, "machine": machine()}, indent=2))


def _at(v: dict, labels: int) -> float | None:
    for x, acc in zip(v["labels"], v["accuracy_mean"], strict=True):
        if x >= labels:
            return round(acc, 4)
    return None


if __name__ == "__main__":
    main()
