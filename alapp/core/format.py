"""Numbers in words for the window: money with its currency, durations as h:mm, shares with a
precision that shows a change of one label, the budget meter's line. Pure and unit-tested; the
window only shows what these return."""

from __future__ import annotations

import math
from dataclasses import dataclass

from alapp.core.options import BudgetUnit

# Currencies written before the amount; any other code or name goes after it ("12.50 CHF").
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "¥", "RUB": "₽", "INR": "₹"}
SUFFIXED = {"RUB"}  # "12.50 ₽", the way it is written
METER_STEPS = 10_000  # the meter's resolution: one step is 0.01 % of the budget


def money(amount: float, currency: str = "EUR") -> str:
    """``money(12.5, "EUR") == "€12.50"``; whole amounts without cents (``"€200"``); a currency
    without a symbol here goes after the amount (``"12.50 CHF"``)."""
    code = currency.strip() or "EUR"
    text = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    symbol = SYMBOLS.get(code.upper())
    if symbol is None:
        return f"{text} {code}"
    if code.upper() in SUFFIXED:
        return f"{text} {symbol}"
    return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"


def duration(hours: float) -> str:
    """Hours as h:mm (``duration(1.5) == "1:30"``); under a minute shows ``"0:00"``."""
    minutes = max(0, round(hours * 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def percent(share: float) -> str:
    """A share with the precision it needs: ``"0%"`` only for nothing, ``"<0.1%"`` for a
    sliver, one decimal under 10 % (``"0.4%"``, ``"6.3%"``), whole percent above."""
    if math.isnan(share):
        return "–"
    value = 100 * share
    if value == 0:
        return "0%"
    if 0 < value < 0.1:
        return "<0.1%"
    if value < 10:
        return f"{value:.1f}%"
    if 99 < value < 100:
        return f"{value:.1f}%"  # never round an unspent sliver up to "100%"
    return f"{value:.0f}%"


def amount(value: float, unit: BudgetUnit | str, currency: str = "EUR") -> str:
    """An amount in the budget's unit: labels, h:mm of active time, or money."""
    unit = BudgetUnit(unit)
    if unit is BudgetUnit.MONEY:
        return money(value, currency)
    if unit is BudgetUnit.HOURS:
        return duration(value)
    return f"{value:,.0f} label{'' if round(value) == 1 else 's'}"


@dataclass(frozen=True)
class BudgetLine:
    text: str  # "Spent €12.50 of €200 (6.3%); €187.50 left"
    meter: int  # 0..METER_STEPS
    meter_text: str  # what the meter shows on itself ("6.3%")


def budget_line(unit: BudgetUnit | str, spent: float, budget: float, remaining: float,
                currency: str = "EUR") -> BudgetLine:
    """The budget meter's line and position; ``budget`` > 0."""
    share = min(1.0, spent / budget) if budget > 0 else 0.0
    left = 0.0 if math.isnan(remaining) else remaining
    unit = BudgetUnit(unit)
    if unit is BudgetUnit.HOURS:
        what = f"{duration(spent)} of {duration(budget)} h active time"
        rest = f"{duration(left)} h left"
    elif unit is BudgetUnit.MONEY:
        what = f"{money(spent, currency)} of {money(budget, currency)}"
        rest = f"{money(left, currency)} left"
    else:
        what = f"{spent:,.0f} of {amount(budget, unit)}"
        rest = f"{left:,.0f} left"
    return BudgetLine(f"Spent {what} ({percent(share)}); {rest}",
                      round(METER_STEPS * share), percent(share))


def labels_range(low: float, high: float) -> str:
    """``"120–180 labels"``, or one number when the two round to the same."""
    lo, hi = round(low), round(high)
    return f"{lo:,} labels" if lo == hi else f"{lo:,}–{hi:,} labels"


def hours_range(low: float, high: float) -> str:
    """``"0:40–1:10 h"``."""
    lo, hi = duration(low), duration(high)
    return f"{lo} h" if lo == hi else f"{lo}–{hi} h"
