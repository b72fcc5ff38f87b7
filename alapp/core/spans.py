"""Spans: the values of a span-labeling project (issue 18), shared by every layer.

Offsets are Python code points into the item's original text (``text[start:end]``), never
UTF-16 units or bytes; Qt's UTF-16 positions are converted in the span view only. A token is a
``(start, end)`` pair of the same kind, and a span always starts and ends on token boundaries.
"""

from __future__ import annotations

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
