"""Agreement between annotators on spans (entities): pairwise exact-match F1.

Kappa needs a fixed set of things to label; entities have none (any token range could be one),
so span agreement is measured the way entity recognition is scored: between two annotators,
on the items both labeled, a span counts as agreed when the other annotator has exactly the
same ``(start, end, label)``. F1 = ``2 * agreed / (spans of the first + spans of the second)``,
which is symmetric, so it does not matter who is the "reference" (Hripcsak & Rothschild 2005:
with many possible negatives, F1 is what kappa tends to). Per entity type and micro-averaged
(all types pooled) for each pair, then averaged over the pairs of annotators.

An item someone labeled with no entities (``[]``) is part of the comparison: a span the other
annotator marked there counts against agreement. F1 is ``nan`` (undefined) where neither
annotator marked a span of that type on their shared items, and left out of the averages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alapp.core.spans import Span

ItemKey = int | str


@dataclass(frozen=True)
class PairCounts:
    """Exact-match counts for one pair of annotators on the items both labeled."""

    items: int
    agreed: Counter[str]  # per type: spans both marked identically
    first: Counter[str]  # per type: spans the first annotator marked
    second: Counter[str]  # per type: spans the second annotator marked

    def f1(self, label: str | None = None) -> float:
        """F1 for one type, or micro-averaged over all types (``label=None``)."""
        if label is None:
            agreed, total = sum(self.agreed.values()), sum(self.first.values()) + sum(
                self.second.values())
        else:
            agreed, total = self.agreed[label], self.first[label] + self.second[label]
        return 2.0 * agreed / total if total else math.nan


@dataclass(frozen=True)
class SpanAgreement:
    """Pairwise F1 averaged over the pairs of annotators (``nan`` where no pair defines it)."""

    micro: float
    per_type: dict[str, float]
    pairs: dict[tuple[str, str], PairCounts]


def pair_counts(first: Mapping[ItemKey, Sequence[Span]],
                second: Mapping[ItemKey, Sequence[Span]]) -> PairCounts:
    """Exact-match counts between two annotators' spans, on the items both labeled (a span
    listed twice by one annotator counts once)."""
    agreed: Counter[str] = Counter()
    one: Counter[str] = Counter()
    two: Counter[str] = Counter()
    shared = [item for item in first if item in second]
    for item in shared:
        a, b = set(first[item]), set(second[item])
        agreed.update(s.label for s in a & b)
        one.update(s.label for s in a)
        two.update(s.label for s in b)
    return PairCounts(len(shared), agreed, one, two)


def _mean(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else math.nan


def span_agreement(annotations: Mapping[str, Mapping[ItemKey, Sequence[Span]]]
                   ) -> SpanAgreement:
    """Pairwise exact-match F1 for every pair of annotators with at least one item in common
    (``annotations[annotator][item]`` = that annotator's spans on the item), per type and
    micro, averaged over the pairs."""
    names = sorted(annotations)
    pairs: dict[tuple[str, str], PairCounts] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            counts = pair_counts(annotations[a], annotations[b])
            if counts.items:
                pairs[a, b] = counts
    types = sorted({label for c in pairs.values() for label in (*c.first, *c.second)})
    return SpanAgreement(
        micro=_mean([c.f1() for c in pairs.values()]),
        per_type={t: _mean([c.f1(t) for c in pairs.values()]) for t in types},
        pairs=pairs)
