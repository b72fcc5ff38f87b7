"""The cost model's view of how hard an item is: the model's margin uncertainty about it when
a round picked it (``al.costmodel.margin_uncertainty``), and which measured items are an
unbiased sample (the batches' random share and the held-out test set).

A round remembers the uncertainty of what it picks, so a labeled item's value is the one the
model had when it was chosen (hard then), not the current model's (trained on it, so sure of
it). An item without a remembered value (labeled before this window's first round, or before
any model) gets the current model's value once, and keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from alapp.al.costmodel import margin_uncertainty
from alapp.al.state import PoolState
from alapp.core.types import ItemId


@dataclass
class Difficulty:
    """Uncertainty for the pool rows a round scored, and a way to get it for measured rows."""

    pool: np.ndarray  # per pool row, in the round's pool order
    measured: dict[ItemId, float]  # per measured item


class UncertaintyMemory:
    """Per item, the margin uncertainty when it was picked (kept by the ``RoundRunner``)."""

    def __init__(self) -> None:
        self.at_pick: dict[ItemId, float] = {}

    def difficulty(self, state: PoolState, model: Any, x: Any, measured: Iterable[ItemId],
                   index: Mapping[ItemId, int]) -> Difficulty | None:
        """The round's uncertainties: the pool's from its scored probabilities, the measured
        items' remembered (else the current model's, on ``x`` rows). None without a model."""
        if model is None or state.probs is None or len(state.probs) == 0:
            return None
        missing = [i for i in dict.fromkeys(measured) if i not in self.at_pick and i in index]
        if missing:
            probs = model.predict_proba(x[[index[i] for i in missing]])
            for item, value in zip(missing, margin_uncertainty(probs), strict=True):
                self.at_pick[item] = float(value)
        return Difficulty(margin_uncertainty(state.probs), dict(self.at_pick))

    def remember(self, picks: Iterable[Any], state: PoolState,
                 difficulty: Difficulty | None) -> None:
        """Keep each pick's uncertainty as the round saw it."""
        if difficulty is None:
            return
        picks = list(picks)
        row = state.positions(int(p.item_id) for p in picks)
        for pick in picks:
            r = row.get(int(pick.item_id))
            if r is not None:
                self.at_pick[ItemId(pick.item_id)] = float(difficulty.pool[r])
