"""Cost-aware selection in simulation: uncertainty only vs ROI (utility / predicted cost).

Labeling time is simulated as a function of the text: 5 s + 0.6 s per token, times log-normal
noise (sigma 0.3), so long texts cost more. The budget is in seconds; the cost model the ROI
ranking uses is the noiseless length model. Reports accuracy at equal spending.
Usage: python bench/bench_cost_sim.py [--dataset sms_spam|trec] [--budget-s 6000] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_simulate import datasets
from machine import machine

from alapp.al.costmodel import token_count
from alapp.app.simulate_file import labeled_arrays, stratified_split
from alapp.core.types import Split
from alapp.loop.simulate import SimulationConfig, simulate
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="sms_spam")
    parser.add_argument("--budget-s", type=float, default=6000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    d = datasets()[args.dataset]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        project = Project.create(Path(tmp) / "c.alapp", ["_"])
        spec: ImportSpec = d["spec"]
        spec.add_labels = True
        import_file(project, d["file"], spec, parallel=None)
        if d.get("test_file"):
            import_file(project, d["test_file"],
                        ImportSpec(**{**spec.__dict__, "split": Split.TEST}), parallel=None)
        x, y, splits, _ = labeled_arrays(project, "auto")
        texts = project.texts(sorted(project.current_labels()))
        project.close()
    used = sorted(set(y.tolist()))
    y = np.array([used.index(v) for v in y])
    if (splits == "test").any():
        pool, test = np.flatnonzero(splits != "test"), np.flatnonzero(splits == "test")
    else:
        pool, test = stratified_split(y, len(y) // 5, 0)
    tokens = np.array([token_count(t) for t in texts], dtype=float)
    rng = np.random.default_rng(0)
    true_cost = (5 + 0.6 * tokens) * np.exp(rng.normal(0, 0.3, len(tokens)))
    predicted = 5 + 0.6 * tokens
    results = {}
    for label, aware in (("margin", False), ("margin / ROI", True)):
        cfg = SimulationConfig(["margin"], batch=args.batch, budget=int(args.budget_s),
                               seeds=args.seeds, cost_aware=aware)
        # selection sees the predicted cost; spending is charged at the true cost
        r = simulate(x[pool], y[pool], x[test], y[test], cfg, costs=predicted[pool],
                     charged=true_cost[pool])
        s = r["strategies"]["margin"]
        results[label] = {"final_accuracy": round(s["accuracy_mean"][-1], 4),
                          "final_ci95": round(s["accuracy_ci95"][-1], 4),
                          "labels_bought": s["labels"][-1], "seconds_spent": s["spent"][-1],
                          "aulc": round(s["aulc_accuracy"], 4)}
    print(json.dumps({"benchmark": "cost_simulation", "dataset": args.dataset,
                      "budget_seconds": args.budget_s, "seeds": args.seeds,
                      "results": results, "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
