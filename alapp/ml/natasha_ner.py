"""Russian pre-annotation with natasha (optional extra ``russian``): PER, LOC and ORG spans as
suggestions before the project has a model of its own (issue 18).

natasha's entity types are mapped to the project's types by name (``PER`` to a type called
PER, Person, персона, ...); a natasha type without a match is dropped. natasha segments the
text itself, so its character offsets are snapped to the project's stored tokens: a span
becomes the run of tokens it overlaps, from the first one's start to the last one's end, and
a span overlapping an earlier one is dropped (a BIO project has no overlaps). natasha loads its
models from the installed package only (no network).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alapp.core.errors import AlappError
from alapp.core.spans import Span, TokenOffsets

MISSING = ("Russian pre-annotation needs the natasha package, which is not installed: "
           "pip install 'alapp[russian]' (or turn natasha_suggestions off)")
# natasha's types and the project type names (lower case) each may map to
ALIASES: dict[str, tuple[str, ...]] = {
    "PER": ("per", "pers", "person", "persons", "people", "name", "персона", "персоны",
            "человек", "люди", "имя", "лицо", "пер"),
    "LOC": ("loc", "location", "locations", "place", "gpe", "geo", "место", "локация",
            "география", "топоним", "лок"),
    "ORG": ("org", "organization", "organisation", "organizations", "company",
            "организация", "организации", "орг"),
}


def type_map(types: Sequence[str]) -> dict[str, str]:
    """natasha type -> the project's type of a matching name (first match in project order)."""
    out: dict[str, str] = {}
    for theirs, names in ALIASES.items():
        for ours in types:
            if ours.strip().lower() in names:
                out[theirs] = ours
                break
    return out


def snap_to_tokens(start: int, end: int, tokens: TokenOffsets) -> tuple[int, int] | None:
    """The characters of the tokens that ``[start, end)`` overlaps; None when it overlaps
    none (whitespace or text the tokenizer left out)."""
    inside = [(a, b) for a, b in tokens if a < end and start < b]
    if not inside:
        return None
    return inside[0][0], inside[-1][1]


def snap_spans(found: Sequence[tuple[int, int, str]], tokens: TokenOffsets,
               mapping: dict[str, str]) -> list[Span]:
    """natasha's (start, stop, type) spans as the project's spans on token boundaries."""
    out: list[Span] = []
    for start, stop, kind in sorted(found):
        label = mapping.get(kind)
        snapped = snap_to_tokens(start, stop, tokens) if label else None
        if label is None or snapped is None:
            continue
        span = Span(snapped[0], snapped[1], label)
        if not any(span.overlaps(other) for other in out):
            out.append(span)
    return out


class NatashaAnnotator:
    """natasha's news NER tagger, loaded once (several seconds), for a project's types."""

    def __init__(self, types: Sequence[str]) -> None:
        self.mapping = type_map(types)
        if not self.mapping:
            raise AlappError(f"none of the project's entity types ({', '.join(types)}) matches "
                             "natasha's PER, LOC or ORG; name a type PER, LOC or ORG (or "
                             "Person, Location, Organization) to get its suggestions")
        try:
            from natasha import NewsEmbedding, NewsNERTagger, Segmenter
        except ImportError:
            raise AlappError(MISSING) from None
        self._segmenter: Any = Segmenter()
        self._tagger: Any = NewsNERTagger(NewsEmbedding())

    def spans(self, text: str, tokens: TokenOffsets) -> list[Span]:
        from natasha import Doc

        if not text.strip():
            return []
        doc = Doc(text)
        doc.segment(self._segmenter)
        doc.tag_ner(self._tagger)
        return snap_spans([(s.start, s.stop, s.type) for s in doc.spans], tokens, self.mapping)
