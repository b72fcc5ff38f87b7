"""Cost-aware ranking: return on investment and a price cap."""

from __future__ import annotations

import numpy as np

from alapp.al.state import Floats, Ints


def normalize_utility(scores: Floats) -> Floats:
    """Min-max to [0, 1] so utilities of different strategies divide by cost alike."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    if not finite.any():
        return np.zeros_like(s)
    lo, hi = float(s[finite].min()), float(s[finite].max())
    out = np.where(finite, (s - lo) / (hi - lo) if hi > lo else 1.0, 0.0)
    return out


def roi(scores: Floats, costs: Floats) -> Floats:
    """Utility per unit of predicted cost: normalised utility / cost."""
    c = np.asarray(costs, dtype=np.float64)
    if np.any(c <= 0) or not np.all(np.isfinite(c)):
        raise ValueError("predicted costs must be positive and finite")
    out: Floats = normalize_utility(scores) / c
    return out


def within_price_cap(costs: Floats | None, cap: float | None) -> Ints:
    """Rows whose predicted cost does not exceed ``cap`` (all rows without a cap or costs)."""
    if costs is None or cap is None:
        return np.arange(0 if costs is None else len(costs))
    return np.flatnonzero(np.asarray(costs) <= cap)
