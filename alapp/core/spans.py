"""Spans: the values of a span-labeling project (issue 18), shared by every layer.

Offsets are Python code points into the item's original text (``text[start:end]``), never
UTF-16 units or bytes; Qt's UTF-16 positions are converted in the span view only. A token is a
``(start, end)`` pair of the same kind, and a span always starts and ends on token boundaries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

TokenOffsets = list[tuple[int, int]]


@dataclass(frozen=True, order=True)
class Span:
    """One entity: ``text[start:end]`` is its surface, ``label`` one of the project's types."""

    start: int
    end: int
    label: str

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


def encode_spans(spans: list[Span]) -> str:
    """A span decision as one stored value: JSON ``[[start, end, label], ...]`` sorted, so the
    same set is always the same string. ``"[]"`` is an accepted text with no entities."""
    return json.dumps([[s.start, s.end, s.label] for s in sorted(set(spans))],
                      ensure_ascii=False, separators=(",", ":"))


def decode_spans(value: str) -> list[Span]:
    """The spans of a stored value; ``ValueError`` saying why it is not one."""
    try:
        rows = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a span list: {exc.msg}") from None
    if not isinstance(rows, list):
        raise ValueError("not a span list: expected [[start, end, label], ...]")
    spans = []
    for row in rows:
        if (not isinstance(row, list) or len(row) != 3 or type(row[0]) is not int
                or type(row[1]) is not int or not isinstance(row[2], str)):
            raise ValueError(f"not a span: {row!r}; expected [start, end, label]")
        if not 0 <= row[0] < row[1]:
            raise ValueError(f"span {row!r}: start must be >= 0 and before end")
        spans.append(Span(row[0], row[1], row[2]))
    return sorted(spans)
