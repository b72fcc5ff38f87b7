"""Stream-based selection (seed 004, 2.1.1): items arrive one by one in import order and a
threshold decides for each whether to ask the annotator.

The seed notes that a fixed threshold "has to be tuned for every task". Here the user sets an
ask rate instead (``stream_ask_rate``, e.g. 0.2: ask one arriving item in five) and the
threshold follows it: the ``1 - rate`` quantile of the scores of the ``window`` items that
arrived just before, as the current model scores them. A retrain changes the scale (an entropy
of 0.3 means something else after 500 labels than after 20), so the window never mixes models:

- Within a round (one model) the threshold for an arriving item is the quantile of the last
  ``window`` arrivals of that round, as the model scored them.
- At a round's start no item has arrived under the new model yet. Rather than hold the first
  items to the old model's scale (which under-asks after every retrain that makes the model
  surer), the threshold is calibrated on the first ``window`` items of this round's stream as
  the new model scores them: the items are already in the project, their labels are unknown
  and nothing about them is shown; each is still decided in order, once.
- Rescoring the items seen before with the new model is not used: the asked ones were trained
  on, so their scores drop and the quantile would ask far more than the rate.
- Only when fewer than ``MIN_WINDOW`` items are left to arrive are the scores the earlier
  items had on arrival (``history``) added to the window.

Decisions are final, as in a stream: an item below the threshold is *passed*. Its predicted
label is never stored as a label (a pass is not a decision about the item's class); the project
only records that the stream has seen it, with its score and the threshold, so it is not asked
again in stream mode.

- An item is asked when its score is strictly above the threshold (ties with it pass).
- With fewer than ``MIN_WINDOW`` scores in all there is no quantile to speak of, and when every
  score in the window is the same the model tells no item from another (one class labeled so
  far): in both cases the item is asked, as before any model. Passing it would be final.
- The random share keeps its meaning: that share of what is asked is drawn at random from the
  items the threshold would pass (so the sampler can still be checked); the threshold then asks
  at ``rate * (1 - share)`` and a passed item is asked at random with the probability that
  brings the total to ``rate``.
- Without a model (no labels yet) every arriving item is asked; with the ``random`` strategy
  each arriving item is asked with probability ``rate`` (the baseline a threshold must beat).

Pure numpy; the round decides which items arrive and what their scores are.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from alapp.al.state import Floats, Ints

MIN_WINDOW = 10  # scores needed before a quantile means anything
WINDOW = 200  # recent arrivals the threshold is the quantile of


def threshold(recent: Floats, ask_rate: float) -> float:
    """The ``1 - ask_rate`` quantile of ``recent`` scores (linear interpolation): about
    ``ask_rate`` of items like the recent ones score strictly above it. NaN scores are
    ignored; with none left the threshold is NaN (nothing to tune on)."""
    if not 0 < ask_rate <= 1:
        raise ValueError(f"ask rate {ask_rate} must be above 0 and at most 1")
    values = np.asarray(recent, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan")
    return float(np.quantile(values, 1.0 - ask_rate))


@dataclass
class Walk:
    """What the stream decided for the items that arrived, in arrival order: the walk stops
    after the asks it was allowed, so the rest of the stream is still to come."""

    asked: NDArray[np.bool_]  # per arrived item
    random: NDArray[np.bool_]  # asked as the random share
    scores: Floats  # the score each arrived item had (NaN: none, e.g. no model yet)
    thresholds: Floats  # the threshold it was held to (NaN: warm-up or no threshold)

    @property
    def arrived(self) -> int:
        return len(self.asked)

    @property
    def asked_rows(self) -> Ints:
        return np.flatnonzero(self.asked)

    @property
    def ask_rate(self) -> float | None:
        return float(self.asked.mean()) if self.arrived else None


def walk(scores: Floats, history: Sequence[float] | Floats, ask_rate: float, asks: int,
         rng: np.random.Generator, random_share: float = 0.0,
         window: int = WINDOW) -> Walk:
    """Let items with ``scores`` (in arrival order, all scored by one model) arrive until
    ``asks`` are asked or the stream ends. ``history``: the scores earlier items had when they
    arrived, oldest first (used only for a stream's last few items)."""
    if not 0 < ask_rate <= 1:
        raise ValueError(f"ask rate {ask_rate} must be above 0 and at most 1")
    if not 0 <= random_share < 1:
        raise ValueError(f"random share {random_share} must be from 0 up to 1")
    scores = np.asarray(scores, dtype=float)
    by_threshold = ask_rate * (1 - random_share)
    # A passed item (1 - by_threshold of them) is asked at random so that the total is rate.
    p_random = 0.0 if by_threshold >= 1 else ask_rate * random_share / (1 - by_threshold)
    n = len(scores)
    values = np.where(np.isnan(scores), -np.inf, scores)  # no score: never above, lowest
    asked = np.zeros(n, dtype=bool)
    random = np.zeros(n, dtype=bool)
    held = np.full(n, np.nan)
    # The round-start window: the first ``window`` items (with earlier arrivals' scores only
    # when this round's are too few); past it a sorted sliding window of the last arrivals.
    start = values[:window]
    if len(start) < MIN_WINDOW:
        past = np.asarray(history, dtype=float)
        start = np.concatenate([past[~np.isnan(past)], start])[-window:]
    recent = sorted(start.tolist())
    n_asked = 0
    for i in range(n):
        if n_asked >= asks:
            return _cut(asked, random, scores, held, i)
        if i > window:  # slide: the item ``window`` back leaves, the previous one enters
            del recent[bisect.bisect_left(recent, values[i - window - 1])]
            bisect.insort(recent, values[i - 1])
        elif i == window:
            recent = sorted(values[:window].tolist())
        level = _quantile(recent, 1.0 - by_threshold)
        if len(recent) < MIN_WINDOW or recent[0] == recent[-1] or not np.isfinite(level):
            asked[i] = True  # nothing to tune on, or a model that tells no item from another
        else:
            held[i] = level
            if values[i] > level:
                asked[i] = True
            elif p_random > 0 and rng.random() < p_random:
                asked[i] = random[i] = True
        n_asked += int(asked[i])
    return _cut(asked, random, scores, held, n)


def _quantile(ordered: list[float], q: float) -> float:
    """``np.quantile(values, q)`` (linear interpolation) of already sorted values."""
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    if ordered[high] == ordered[low]:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


def walk_random(n: int, ask_rate: float, asks: int, rng: np.random.Generator) -> Walk:
    """No scores (the ``random`` strategy): each arriving item is asked with probability
    ``ask_rate``, until ``asks`` are asked."""
    draws = rng.random(n) < ask_rate
    return _until(draws, asks)


def walk_all(n: int, asks: int) -> Walk:
    """No model yet: every arriving item is asked, until ``asks`` are."""
    return _until(np.ones(n, dtype=bool), asks)


def _until(draws: NDArray[np.bool_], asks: int) -> Walk:
    """The prefix of the stream up to and including the ``asks``-th asked item."""
    reached = np.flatnonzero(np.cumsum(draws) >= asks) if asks > 0 else np.zeros(1, dtype=int) - 1
    stop = int(reached[0]) + 1 if len(reached) else len(draws)
    asked = draws[:stop].copy()
    return Walk(asked, np.zeros(stop, dtype=bool), np.full(stop, np.nan),
                np.full(stop, np.nan))


def _cut(asked: NDArray[np.bool_], random: NDArray[np.bool_], scores: Floats, held: Floats,
         end: int) -> Walk:
    return Walk(asked[:end], random[:end], scores[:end], held[:end])


def summary(seen: int, asked: int, ask_rate: float, last_threshold: float | None,
            remaining: int) -> str:
    """One line for the side panel: how the stream's ask rate compares with the target."""
    if not seen:
        return f"no items have arrived yet (target ask rate {ask_rate:.0%})"
    line = f"asked {asked:,} of {seen:,} arrived items ({asked / seen:.0%}, target {ask_rate:.0%})"
    if last_threshold is not None and not np.isnan(last_threshold):
        line += f"; threshold {last_threshold:.3g}"
    return line + (f"; {remaining:,} still to arrive" if remaining else
                   "; every item has arrived")
