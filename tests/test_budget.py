"""Budget arithmetic, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from alapp.al import budget
from alapp.core.options import BudgetUnit


def test_spent_in_each_unit() -> None:
    # 90 labels in 1.5 active hours at 40 an hour
    assert budget.spent("items", 90, 1.5, 40.0) == 90.0
    assert budget.spent(BudgetUnit.HOURS, 90, 1.5, 40.0) == 1.5
    assert budget.spent("money", 90, 1.5, 40.0) == 60.0  # 1.5 h x 40
    assert budget.spent("money", 90, 1.5, 0.0) == 0.0  # no rate set: nothing spent in money
    with pytest.raises(ValueError):
        budget.spent("dollars", 90, 1.5, 40.0)  # an unknown unit never counts items silently


def test_remaining_never_below_zero_and_nan_without_a_budget() -> None:
    assert budget.remaining(100.0, 90.0) == 10.0
    assert budget.remaining(100.0, 130.0) == 0.0
    assert math.isnan(budget.remaining(0.0, 5.0))


def test_status_puts_it_together() -> None:
    # 20 h budget; 2 h 15 min spent on 135 labels (a minute each)
    now = budget.status("hours", 20.0, 135, 2.25, 50.0)
    assert now.spent == 2.25 and now.remaining == 17.75 and now.has_budget
    assert (now.labels, now.hours, now.unit) == (135, 2.25, BudgetUnit.HOURS)
    money = budget.status("money", 500.0, 135, 2.25, 50.0)
    assert money.spent == 112.5 and money.remaining == 387.5  # 2.25 h x 50; 500 - 112.5
    none = budget.status("items", 0.0, 135, 2.25, 50.0)
    assert none.spent == 135.0 and math.isnan(none.remaining) and not none.has_budget


def test_cost_per_label_at_a_pace() -> None:
    # 36 s a label is 0.01 h; at 60 an hour that is 0.6 a label
    assert budget.cost_per_label("items", 36.0, 60.0) == 1.0
    assert budget.cost_per_label("hours", 36.0, 60.0) == pytest.approx(0.01)
    assert budget.cost_per_label("money", 36.0, 60.0) == pytest.approx(0.6)


def test_labels_left_at_the_current_pace() -> None:
    assert budget.labels_left("items", 40.0, None, 0.0) == 40.0  # labels need no pace
    assert budget.labels_left("hours", 17.75, 36.0, 0.0) == pytest.approx(1775.0)  # 17.75/0.01
    assert budget.labels_left("money", 387.5, 36.0, 60.0) == pytest.approx(645.8333, rel=1e-6)
    assert budget.labels_left("hours", 17.75, None, 0.0) is None  # no pace yet
    assert budget.labels_left("hours", 17.75, 0.0, 0.0) is None
    assert budget.labels_left("money", 387.5, 36.0, 0.0) is None  # labels cost no money
    assert budget.labels_left("items", math.nan, 36.0, 0.0) is None  # no budget
