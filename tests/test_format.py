"""Budget wording: money with its currency, time as h:mm, shares with sensible precision."""

from __future__ import annotations

import math

import pytest

from alapp.core.format import (
    METER_STEPS,
    amount,
    budget_line,
    duration,
    hours_range,
    labels_range,
    money,
    percent,
)


@pytest.mark.parametrize("value,currency,text", [
    (12.5, "EUR", "€12.50"), (200, "EUR", "€200"), (0.25, "eur", "€0.25"),
    (1234.5, "USD", "$1,234.50"), (3, "GBP", "£3"), (12.5, "CHF", "12.50 CHF"),
    (99, "RUB", "99 ₽"), (7.1, "credits", "7.10 credits"), (5, "", "€5")])
def test_money(value, currency, text) -> None:
    assert money(value, currency) == text


@pytest.mark.parametrize("hours,text", [(0, "0:00"), (0.006746, "0:00"), (0.5, "0:30"),
                                        (1.5, "1:30"), (2, "2:00"), (10.999, "11:00")])
def test_duration_is_h_mm(hours, text) -> None:
    assert duration(hours) == text


@pytest.mark.parametrize("share,text", [(0, "0%"), (0.0003, "<0.1%"), (0.0037, "0.4%"),
                                        (0.063, "6.3%"), (0.5, "50%"), (0.995, "99.5%"),
                                        (1.0, "100%"), (math.nan, "–")])
def test_percent(share, text) -> None:
    assert percent(share) == text


def test_amount_by_unit() -> None:
    assert amount(1, "items") == "1 label"
    assert amount(250, "items") == "250 labels"
    assert amount(1.25, "hours") == "1:15"
    assert amount(60, "money", "EUR") == "€60"


def test_budget_lines_name_the_unit_and_move_with_each_label() -> None:
    line = budget_line("money", 12.6, 200, 187.4, "EUR")
    assert line.text == "Spent €12.60 of €200 (6.3%); €187.40 left"
    assert line.meter == round(METER_STEPS * 12.6 / 200)
    hours = budget_line("hours", 0.006746, 2, 2 - 0.006746)
    assert hours.text == "Spent 0:00 of 2:00 h active time (0.3%); 2:00 h left"
    items = budget_line("items", 1, 500, 499)
    assert items.text == "Spent 1 of 500 labels (0.2%); 499 left"
    # one 10-second label of a 2-hour budget moves the meter
    one = budget_line("hours", 10 / 3600, 2, 2)
    two = budget_line("hours", 20 / 3600, 2, 2)
    assert 0 < one.meter < two.meter
    assert budget_line("items", 600, 500, 0).meter == METER_STEPS


def test_ranges() -> None:
    assert labels_range(120.4, 180.6) == "120–181 labels"
    assert labels_range(99.6, 100.4) == "100 labels"
    assert hours_range(0.5, 1.25) == "0:30–1:15 h"
