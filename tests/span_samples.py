"""Texts, tokens and entries for the span view's GUI tests, benchmark and screenshots.

The tokens come from the project's tokenizer (``core.spans.tokenize``: razdel for Russian, one
token per Han character); the ui never tokenizes, a span project stores them with each item."""

from __future__ import annotations

from alapp.app.session import QueueEntry
from alapp.core.spans import Span, TokenOffsets, encode_spans, tokenize
from alapp.core.types import ItemId, Source

TYPES = ["PER", "LOC", "ORG", "MISC"]


def tokens_of(text: str, language: str = "en") -> TokenOffsets:
    return tokenize(text, language)


def span_of(text: str, surface: str, label: str, nth: int = 0) -> Span:
    """The span of the ``nth`` occurrence of ``surface`` in ``text``."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return Span(start, start + len(surface), label)


def entry(text: str, suggestions: list[Span] = (), confidence: float = 0.7,
          uncertainty: list[float] | None = None, item_id: int = 1,
          tokens: TokenOffsets | None = None) -> QueueEntry:
    return QueueEntry(ItemId(item_id), text, Source.AL, "mnlp", 0.4, 12.0, 1,
                      predicted=(encode_spans(list(suggestions)), confidence) if suggestions
                      else None,
                      tokens=tokens_of(text) if tokens is None else tokens,
                      token_uncertainty=uncertainty)


SAMPLES = {
    "en": ("Barack Obama met Angela Merkel in Berlin on Tuesday to discuss NATO funding with "
           "Siemens executives, before flying back to Washington for a dinner at the White "
           "House.",
           [("Barack Obama", "PER"), ("Berlin", "LOC")],
           [("Angela Merkel", "PER"), ("NATO", "ORG"), ("Siemens", "ORG"),
            ("Washington", "LOC")]),
    "ru": ("Владимир Путин встретился с Ангелой Меркель в Берлине, чтобы обсудить поставки "
           "газа «Газпрома» в Германию; переговоры продолжатся в Москве в декабре.",
           [("Владимир Путин", "PER"), ("Берлине", "LOC")],
           [("Ангелой Меркель", "PER"), ("Газпрома", "ORG"), ("Германию", "LOC"),
            ("Москве", "LOC")]),
    "zh": ("习近平在北京会见了德国总理默克尔，双方讨论了华为公司与西门子在上海的合作项目。",
           [("习近平", "PER"), ("北京", "LOC")],
           [("默克尔", "PER"), ("华为公司", "ORG"), ("西门子", "ORG"), ("上海", "LOC")]),
}


def sample_entry(language: str) -> tuple[QueueEntry, list[Span]]:
    """A sample sentence with the model's suggestions and per-token uncertainty, and the
    entities an annotator has typed on it (for screenshots)."""
    text, typed, suggested = SAMPLES[language]
    tokens = tokens_of(text, language)
    suggestions = [span_of(text, s, label) for s, label in suggested]
    uncertainty = [0.05] * len(tokens)
    for i, (a, _) in enumerate(tokens):
        if text[a] in "WСВ华西上" or i in (3, 4):
            uncertainty[i] = 0.6 + 0.05 * (i % 5)
    return (entry(text, suggestions, 0.64, uncertainty, tokens=tokens),
            [span_of(text, s, label) for s, label in typed])
