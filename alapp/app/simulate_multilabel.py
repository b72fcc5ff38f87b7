"""`alapp simulate --project` on a multi-label project (issue 21): replay its labeled sets
through the application's multi-label round, every strategy and seed, and summarise the curves
as a single-label simulation is (``alapp.loop.simulate.summarize``), with micro-F1 in the place
of accuracy (``measure`` in the result says so).

Features are TF-IDF of the texts (what a multi-label round reads without embeddings); the
project is only read.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from alapp.core.errors import AlappError
from alapp.core.types import Split, split_labels
from alapp.loop.simulate import Curve, SimulationConfig, SimulationProgress, summarize
from alapp.loop.simulate_multilabel import MultiLabelReplay, run
from alapp.store.project import Project


def simulate_multilabel_project(project: Project, cfg: SimulationConfig, test_size: int,
                                split_seed: int,
                                progress: SimulationProgress | None = None) -> dict[str, Any]:
    labels = project.labels()
    current = project.current_labels()
    ids = sorted(current)
    if len(ids) < 4:
        raise AlappError(f"{project.path}: too few labeled items to simulate on ({len(ids)})")
    texts = project.texts(ids)
    split_of = project.splits()
    is_test = np.array([split_of[i] == Split.TEST.value for i in ids])
    if not is_test.any():
        if not 0 < test_size < len(ids):
            raise AlappError(f"--test-size must be between 1 and {len(ids) - 1}")
        rows = np.random.default_rng(split_seed).permutation(len(ids))[:test_size]
        is_test[rows] = True
    pool, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    replay = MultiLabelReplay(labels, [texts[r] for r in pool],
                              [split_labels(current[ids[r]]) for r in pool],
                              [texts[r] for r in test],
                              [split_labels(current[ids[r]]) for r in test])
    started = time.perf_counter()
    full = run(replay, "random", 0, len(pool), len(pool))  # every pool set: the reference
    curves: list[Curve] = []
    total = len(cfg.strategies) * cfg.seeds
    for s_index, strategy in enumerate(cfg.strategies):
        for seed in range(cfg.seeds):
            if progress:
                progress((s_index * cfg.seeds + seed) / total,
                         f"{strategy}, seed {seed + 1}/{cfg.seeds}")
            got = run(replay, strategy, seed, cfg.batch, min(cfg.budget, len(pool)))
            rounds = len(got.labels)
            curves.append(Curve(strategy, seed, labels=got.labels,
                                spent=[float(n) for n in got.labels],
                                accuracy=got.values["micro_f1"],
                                macro_f1=got.values["macro_f1"],
                                round_seconds=[got.seconds / rounds] * rounds,
                                model="MultiLabelClassifier"))
    result = summarize(curves, cfg, full.values["micro_f1"][-1], full.values["macro_f1"][-1])
    result["measure"] = "micro_f1"  # "accuracy" in the curves is micro-F1
    result["data"] = {"pool": len(pool), "test": len(test), "classes": labels,
                      "featurizer": "tfidf", "multi_label": True}
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
