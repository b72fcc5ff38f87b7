"""Pairwise exact-match entity F1 between annotators (issue 19, spans)."""

from __future__ import annotations

import math

import pytest

from alapp.al.span_agreement import pair_counts, span_agreement
from alapp.core.spans import Span

A = {1: [Span(0, 5, "PER"), Span(10, 15, "LOC")], 2: [Span(0, 3, "ORG")], 3: []}
B = {1: [Span(0, 5, "PER"), Span(10, 16, "LOC")], 2: [Span(0, 3, "ORG")],
     3: [Span(4, 8, "PER")]}
C = {1: [Span(0, 5, "PER"), Span(0, 5, "PER")]}  # C labeled item 1 only; a span listed twice


def test_pair_counts_exact_match_per_type_and_micro() -> None:
    ab = pair_counts(A, B)
    assert ab.items == 3
    assert ab.f1() == pytest.approx(2 * 2 / (3 + 4))  # PER and ORG agreed; LOC off by one
    assert ab.f1("PER") == pytest.approx(2 / 3)  # B's extra PER on the item A left empty
    assert ab.f1("LOC") == 0.0  # (10, 15) and (10, 16) are different entities
    assert ab.f1("ORG") == 1.0
    assert math.isnan(ab.f1("MISC"))
    ba = pair_counts(B, A)
    assert (ba.f1(), ba.f1("PER"), ba.f1("LOC")) == (ab.f1(), ab.f1("PER"), ab.f1("LOC"))
    ac = pair_counts(A, C)
    assert ac.items == 1 and ac.f1() == pytest.approx(2 / 3) and ac.f1("PER") == 1.0


def test_span_agreement_averages_over_pairs() -> None:
    result = span_agreement({"ann": A, "bob": B, "cat": C})
    assert sorted(result.pairs) == [("ann", "bob"), ("ann", "cat"), ("bob", "cat")]
    assert result.micro == pytest.approx((4 / 7 + 2 / 3 + 2 / 3) / 3)
    assert result.per_type["PER"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert result.per_type["LOC"] == 0.0
    assert result.per_type["ORG"] == 1.0  # only the pair that shares item 2 defines it
    assert set(result.per_type) == {"LOC", "ORG", "PER"}


def test_span_agreement_without_shared_items_or_spans() -> None:
    result = span_agreement({"ann": {1: [Span(0, 1, "X")]}, "bob": {2: [Span(0, 1, "X")]}})
    assert result.pairs == {} and math.isnan(result.micro) and result.per_type == {}
    empty = span_agreement({"ann": {1: []}, "bob": {1: []}})
    assert math.isnan(empty.micro)  # nothing marked by anyone: F1 is undefined, not 1
    assert span_agreement({"solo": A}).pairs == {}
