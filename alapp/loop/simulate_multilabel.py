"""Replaying the loop on a multi-label dataset (issue 21), through the application's own round.

Like ``alapp.loop.simulate`` but the known answers are label sets: each run is a
``RoundRunner`` fed an in-memory snapshot of a multi-label project every round (texts, TF-IDF or
given vectors, the sets bought so far, the labeled test split), so the model, its thresholds
and the strategies are exactly what a multi-label project uses. A run starts from a random
first batch (seeded) and buys the picks' known sets round after round until the budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId, Split, join_labels
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundRunner, Snapshot

# What each round records of the test metrics (see ``alapp.al.multilabel.metrics``).
MEASURES = ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss")


@dataclass
class MultiLabelCurve:
    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MEASURES})
    seconds: float = 0.0


class MultiLabelReplay:
    """Pool rows first, then test rows; an item's id is its row. Sets are lists of names."""

    def __init__(self, labels: Sequence[str], pool_texts: Sequence[str],
                 pool_sets: Sequence[Sequence[str]], test_texts: Sequence[str],
                 test_sets: Sequence[Sequence[str]]) -> None:
        self.labels = list(labels)
        self.n_pool = len(pool_texts)
        self.texts = [*pool_texts, *test_texts]
        self.truth = [join_labels(list(s), self.labels) for s in [*pool_sets, *test_sets]]
        self.ids = [ItemId(i) for i in range(len(self.texts))]
        self.splits = [Split.POOL.value] * self.n_pool + \
            [Split.TEST.value] * (len(self.texts) - self.n_pool)
        self.test_labels = {i: self.truth[i] for i in self.ids[self.n_pool:]}
        self.vectors = MemoryVectors()
        self.features: Any = None  # the first run's features, shared by the later runs

    def snapshot(self, settings: ProjectSettings, bought: Sequence[int], round_index: int,
                 last: bool = False) -> Snapshot:
        current = {ItemId(r): self.truth[r] for r in bought}
        current.update(self.test_labels)
        excluded = set(self.ids[:self.n_pool]) - set(current) if last else set()
        return Snapshot(self.vectors, self.labels, settings, self.ids, self.texts,
                        self.splits, current, excluded, round_index, measured=[])


def settings_for(strategy: str, seed: int, batch: int, model: str = "ovr",
                 featurizer: str = "tfidf", **more: Any) -> ProjectSettings:
    return ProjectSettings(name="simulation", seed=seed, multi_label=True, strategy=strategy,
                           batch_size=batch, random_share=0.0, featurizer=featurizer,
                           cost_model="equal", target_accuracy=0.0, stop_set_size=0,
                           multilabel_model=model, **more)


def run(replay: MultiLabelReplay, strategy: str, seed: int, batch: int, budget: int,
        initial: int | None = None, model: str = "ovr", **more: Any) -> MultiLabelCurve:
    """One run: a random first batch of ``initial`` (default ``batch``) items, then rounds of
    ``strategy`` until ``budget`` labels; the test metrics after every round's training."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    bought = list(rng.permutation(replay.n_pool)[: initial or batch].tolist())
    runner = RoundRunner()
    if replay.features is not None:  # TF-IDF of the same texts: computed once per replay
        runner._features = replay.features
    curve = MultiLabelCurve(strategy, seed)
    round_index = 1
    while True:
        last = len(bought) >= budget or len(bought) >= replay.n_pool
        settings = settings_for(strategy, seed, min(batch, budget - len(bought)) or 1,
                                model, **more)
        result = runner.run(replay.snapshot(settings, bought, round_index, last))
        replay.features = runner._features
        curve.labels.append(len(bought))
        for m in MEASURES:
            curve.values[m].append(float(result.metrics.get(m, np.nan)))
        if last:
            break
        bought.extend(int(p.item_id) for p in result.picks)
        round_index += 1
    curve.seconds = time.perf_counter() - start
    return curve
