"""Which label an item trains on when several annotators labeled it.

1. An adjudicated label (a reviewer's decision) always wins.
2. Otherwise, by the project's rule:
   - ``majority``: the label most of the item's annotators gave; a tie between the top labels
     gives no training label (the item is reported, for review);
   - ``reliable``: the label of the item's most reliable annotator; annotators sharing the top
     reliability who disagree are a tie as above.
   An item only one annotator labeled trains on that label under either rule.

An annotator's reliability is their estimated accuracy under the "one-coin" Dawid & Skene
(1979) model: each annotator gives the true label with probability ``q_a`` and otherwise one of
the other labels at random. It is fitted by EM on the items that can tell (an adjudicated item,
whose label is then known, or an item two or more annotators labeled): starting from the vote
shares, each round re-estimates every item's label distribution from the annotators'
accuracies and each accuracy from those distributions, ``q_a = (expected agreements + 1) /
(items + 2)`` (a uniform prior, so one lucky agreement does not outrank a long record and an
annotator with nothing to compare scores 0.5). Unlike agreement with the others' plain
majority, this sees that two annotators who always agree are right when a third always differs,
even where every item has exactly one of each (a leave-one-out majority ties there). On
adjudicated items only, ``q_a`` is exactly the smoothed share of agreements with the reviewer.

Everything depends only on the sets of labels given, never on the order they came in, so
projects merged in any order train on the same labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from alapp.core.options import TrainingLabelRule as Rule

ItemKey = int | str
Votes = Mapping[ItemKey, Mapping[str, str]]  # item -> annotator -> label


_SAME = 1e-9  # accuracies this close are equal (EM stops at a 1e-10 change)


class How(StrEnum):
    """Why an item got the training label it got (or none)."""

    ADJUDICATED = "adjudicated"
    SINGLE = "single"  # one annotator
    UNANIMOUS = "unanimous"
    MAJORITY = "majority"
    RELIABLE = "reliable"
    TIE = "tie"  # no training label: the rule could not decide


@dataclass(frozen=True)
class Reliability:
    """An annotator's estimated accuracy and how many informative items it rests on."""

    score: float
    items: int


@dataclass(frozen=True)
class Resolution:
    """Training labels (items with a tie are absent from ``labels``), why each item got its
    label, the tied items (for the review queue) and each annotator's reliability."""

    labels: dict[ItemKey, str]
    how: dict[ItemKey, How]
    ties: list[ItemKey]
    reliability: dict[str, Reliability]


def _item_order(item: ItemKey) -> tuple[int, int, str]:
    return (0, item, "") if isinstance(item, int) else (1, 0, item)


def _majority(labels: Counter[str]) -> str | None:
    """The most frequent label, ``None`` on a tie (or no labels)."""
    top = labels.most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def annotator_reliability(votes: Votes, adjudicated: Mapping[ItemKey, str] | None = None,
                          *, iterations: int = 500) -> dict[str, Reliability]:
    """Each annotator's accuracy under the one-coin Dawid-Skene model (see the module)."""
    adjudicated = adjudicated or {}
    names = sorted({a for given in votes.values() for a in given})
    items = sorted((i for i, given in votes.items() if i in adjudicated or len(given) >= 2),
                   key=_item_order)
    labels = sorted({v for i in items for v in votes[i].values()}
                    | {adjudicated[i] for i in items if i in adjudicated})
    if len(labels) < 2:  # nothing to tell apart: every informative vote agrees
        counted = Counter(a for i in items for a in votes[i])
        return {a: Reliability((counted[a] + 1) / (counted[a] + 2), counted[a]) for a in names}
    row = {a: r for r, a in enumerate(names)}
    col = {v: c for c, v in enumerate(labels)}
    k = len(labels)
    # one row per (item, annotator) vote on the informative items
    vote_item = np.array([n for n, i in enumerate(items) for _ in votes[i]], dtype=np.int64)
    vote_by = np.array([row[a] for i in items for a in sorted(votes[i])], dtype=np.int64)
    vote_label = np.array([col[votes[i][a]] for i in items for a in sorted(votes[i])],
                          dtype=np.int64)
    known = np.array([n for n, i in enumerate(items) if i in adjudicated], dtype=np.int64)
    known_label = np.array([col[adjudicated[items[n]]] for n in known], dtype=np.int64)
    posterior = np.zeros((len(items), k))
    np.add.at(posterior, (vote_item, vote_label), 1.0)
    posterior /= posterior.sum(axis=1, keepdims=True).clip(min=1.0)
    posterior[known] = 0.0
    posterior[known, known_label] = 1.0
    per_annotator = np.bincount(vote_by, minlength=len(names)).astype(np.float64)
    accuracy = np.full(len(names), 0.5)
    for _ in range(iterations):
        agree = np.bincount(vote_by, weights=posterior[vote_item, vote_label],
                            minlength=len(names))
        new = (agree + 1.0) / (per_annotator + 2.0)
        prior = posterior.mean(axis=0).clip(min=1e-9)
        right, wrong = np.log(new), np.log((1.0 - new) / (k - 1))
        logp = np.tile(np.log(prior), (len(items), 1))
        np.add.at(logp, vote_item, wrong[vote_by][:, None])
        np.add.at(logp, (vote_item, vote_label), right[vote_by] - wrong[vote_by])
        logp -= logp.max(axis=1, keepdims=True)
        posterior = np.exp(logp)
        posterior /= posterior.sum(axis=1, keepdims=True)
        posterior[known] = 0.0
        posterior[known, known_label] = 1.0
        done = np.abs(new - accuracy).max() < 1e-10
        accuracy = new
        if done:
            break
    return {a: Reliability(float(accuracy[r]), int(per_annotator[r])) for a, r in row.items()}


def resolve_item(given: Mapping[str, str], adjudicated: str | None = None,
                 rule: Rule | str = Rule.MAJORITY,
                 reliability: Mapping[str, Reliability] | None = None
                 ) -> tuple[str | None, How | None]:
    """One item's training label and why: ``(None, None)`` without votes or adjudication,
    ``(None, TIE)`` when the rule cannot decide. An annotator missing from ``reliability``
    scores 0.5 (nothing known)."""
    if adjudicated is not None:
        return adjudicated, How.ADJUDICATED
    distinct = set(given.values())
    if not distinct:
        return None, None
    if len(distinct) == 1:
        return next(iter(distinct)), How.SINGLE if len(given) == 1 else How.UNANIMOUS
    if Rule(rule) is Rule.MAJORITY:
        chosen = _majority(Counter(given.values()))
        return (chosen, How.MAJORITY) if chosen is not None else (None, How.TIE)
    scores = {a: (reliability or {}).get(a, Reliability(0.5, 0)).score for a in given}
    best = max(scores.values())
    top = {label for a, label in given.items() if scores[a] >= best - _SAME}
    return (next(iter(top)), How.RELIABLE) if len(top) == 1 else (None, How.TIE)


def resolve(votes: Votes, adjudicated: Mapping[ItemKey, str] | None = None,
            rule: Rule | str = Rule.MAJORITY) -> Resolution:
    """The training label of every item that has votes or an adjudication."""
    adjudicated = adjudicated or {}
    reliability = annotator_reliability(votes, adjudicated)
    labels: dict[ItemKey, str] = {}
    how: dict[ItemKey, How] = {}
    for item in [*votes, *(i for i in adjudicated if i not in votes)]:
        label, why = resolve_item(votes.get(item, {}), adjudicated.get(item), rule, reliability)
        if why is not None:
            how[item] = why
        if label is not None:
            labels[item] = label
    ties = sorted((item for item, why in how.items() if why is How.TIE), key=_item_order)
    return Resolution(labels, how, ties, reliability)
