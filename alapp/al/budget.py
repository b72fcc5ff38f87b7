"""Budget arithmetic in the project's budget unit (labels, active hours or money).

Labels are counted and timed from the stored events; money is active hours times the hourly
rate. A budget amount of 0 means no budget is set.

What is spent is every decision made in the application (``store.events.labels_paid``): new
labels, test-set labels and changes to earlier decisions, each with its active time. An undo
refunds nothing (the work was done). When the budget is spent, new labels stop; undo and
changing earlier decisions stay possible and keep counting, so the meter may pass 100 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alapp.al.stopping import Signal, budget_spent
from alapp.core.format import amount, duration
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

    @property
    def fraction(self) -> float | None:
        """Spent as a share of the budget (above 1 when overspent); None without a budget."""
        return self.spent / self.amount if self.amount > 0 else None

    def signal(self, currency: str = "EUR") -> Signal:
        """The budget's stopping signal (fires when the budget is spent), worded in its unit."""
        return budget_spent(self.spent, self.amount, stop_line(self, currency)
                            if self.has_budget else "")

    @property
    def exhausted(self) -> bool:
        return self.signal().reached


def stop_line(now: BudgetStatus, currency: str = "EUR") -> str:
    """"The budget is spent: 100 of 100 labels" (or "€50.20 of €50"), for the stop message;
    before that, how much is spent of it."""
    what = f"{amount(now.spent, now.unit, currency)} of {amount(now.amount, now.unit, currency)}"
    if now.unit is BudgetUnit.HOURS:
        what = f"{duration(now.spent)} of {duration(now.amount)} h active time"
    elif now.unit is BudgetUnit.ITEMS:
        what = f"{now.spent:,.0f} of {amount(now.amount, now.unit)}"
    if now.amount > 0 and now.spent >= now.amount * (1 - 1e-9):
        return f"The budget is spent: {what}"
    return f"{what} spent"


# What a spent budget still allows, in the words the session's refusal and the window use.
SPENT_RULES = ("Undo and changing earlier decisions stay possible (they are counted: a change "
               "is a decision, with the time it took); extend the budget to label new items.")


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
