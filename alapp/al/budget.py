"""Budget arithmetic in the project's budget unit (labels, active hours or money).

Labels are counted and timed from the stored events; money is active hours times the hourly
rate. A budget amount of 0 means no budget is set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alapp.core.options import BudgetUnit

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class BudgetStatus:
    unit: BudgetUnit
    amount: float  # the budget; 0: none
    spent: float  # in the unit
    remaining: float  # in the unit; NaN without a budget
    labels: int
    hours: float  # active labeling hours

    @property
    def has_budget(self) -> bool:
        return self.amount > 0


def spent(unit: BudgetUnit | str, labels: int, hours: float, hourly_rate: float) -> float:
    """What ``labels`` decisions over ``hours`` of active labeling cost in ``unit``."""
    unit = BudgetUnit(unit)
    if unit is BudgetUnit.ITEMS:
        return float(labels)
    if unit is BudgetUnit.HOURS:
        return hours
    return hours * hourly_rate


def remaining(amount: float, spent_so_far: float) -> float:
    """What is left of the budget, never below 0; NaN when no budget is set."""
    return max(0.0, amount - spent_so_far) if amount > 0 else math.nan


def status(unit: BudgetUnit | str, amount: float, labels: int, hours: float,
           hourly_rate: float) -> BudgetStatus:
    value = spent(unit, labels, hours, hourly_rate)
    return BudgetStatus(BudgetUnit(unit), amount, value, remaining(amount, value), labels, hours)


def cost_per_label(unit: BudgetUnit | str, pace_s: float, hourly_rate: float) -> float:
    """One more label at ``pace_s`` seconds per label, in ``unit``."""
    unit = BudgetUnit(unit)
    if unit is BudgetUnit.ITEMS:
        return 1.0
    hours = pace_s / SECONDS_PER_HOUR
    return hours if unit is BudgetUnit.HOURS else hours * hourly_rate


def labels_left(unit: BudgetUnit | str, remaining_amount: float, pace_s: float | None,
                hourly_rate: float) -> float | None:
    """How many more labels the remaining budget buys at the current pace. None without a
    budget (NaN remaining), without a pace for time or money, or when labels cost nothing."""
    if math.isnan(remaining_amount):
        return None
    if BudgetUnit(unit) is BudgetUnit.ITEMS:
        return remaining_amount
    if not pace_s or pace_s <= 0:
        return None
    per_label = cost_per_label(unit, pace_s, hourly_rate)
    return remaining_amount / per_label if per_label > 0 else None
