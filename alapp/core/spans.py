"""Spans: the values of a span-labeling project (issue 18), shared by every layer.

Offsets are Python code points into the item's original text (``text[start:end]``), never
UTF-16 units or bytes; Qt's UTF-16 positions are converted in the span view only. A token is a
``(start, end)`` pair of the same kind, and a span always starts and ends on token boundaries.
"""

from __future__ import annotations

import bisect
import itertools
import json
import unicodedata
from collections.abc import Iterable, Sequence
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


# -- tokenizers -----------------------------------------------------------------------------------
#
# A token never holds whitespace or an invisible format character (an RTL or LTR mark, a BOM, a
# bidi isolate): those separate tokens. A combining mark, a variation selector or an emoji skin
# tone stays with the character before it, a zero-width joiner glues the characters on both sides
# (family emoji), and two regional indicators make one flag, so no span can cut a visible
# character in half. Han characters are one token each in every language: Chinese has no spaces,
# and a character boundary is always a possible entity boundary (see ``docs/spans.md``).

_ZWJ = "\u200d"
_SPACE, _MARK, _JOIN, _HAN, _WORD, _SYMBOL, _FLAG = range(7)
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))


def _kind(ch: str) -> int:
    if ch.isspace():
        return _SPACE
    if ch == _ZWJ:
        return _JOIN
    category = unicodedata.category(ch)
    if category == "Cf":
        return _SPACE  # invisible: direction marks, BOM, isolates
    code = ord(ch)
    if category[0] == "M" or 0x1F3FB <= code <= 0x1F3FF:  # marks, selectors, skin tones
        return _MARK
    if any(lo <= code <= hi for lo, hi in _HAN_RANGES):
        return _HAN
    if ch.isalnum() or ch == "_":
        return _WORD
    if 0x1F1E6 <= code <= 0x1F1FF:
        return _FLAG
    return _SYMBOL


def _split(text: str) -> TokenOffsets:
    """Runs of letters and digits, each other visible character alone, Han one by one."""
    tokens: TokenOffsets = []
    start = -1  # the open token's start, -1 when none is open
    last = _SPACE  # what the open token ends with
    glue = False  # the previous character was a joiner inside a token
    for i, ch in enumerate(text):
        kind = _kind(ch)
        if kind == _SPACE or (kind == _JOIN and start < 0):
            if start >= 0:
                tokens.append((start, i))
            start, glue = -1, False
            continue
        if start >= 0 and (glue or kind in (_MARK, _JOIN)
                           or (kind == last and kind in (_WORD, _FLAG))):
            glue = kind == _JOIN
            last = _SYMBOL if kind == _FLAG and last == _FLAG else (last if kind == _MARK
                                                                     else kind)
            continue
        if start >= 0:
            tokens.append((start, i))
        start, last, glue = i, (_SYMBOL if kind == _MARK else kind), False
    if start >= 0:
        tokens.append((start, len(text)))
    return tokens


def _russian(text: str) -> TokenOffsets:
    """razdel's words ("кое-что", "3,14" stay whole) built from the pieces of ``_split``, so
    no token cuts a character in half or holds a space: neighbouring pieces join when razdel
    has them in one token, except Han characters and emoji, which stay alone (razdel glues
    "тест😀" together)."""
    import razdel

    group = [-1] * (len(text) + 1)  # the razdel token each code point belongs to
    for k, piece in enumerate(razdel.tokenize(text)):
        group[piece.start:piece.stop] = [k] * (piece.stop - piece.start)
    out: list[tuple[int, int, bool]] = []
    for a, b in _split(text):
        alone = _kind(text[a]) in (_HAN, _FLAG) or unicodedata.category(text[a]) == "So"
        if (out and not alone and not out[-1][2] and out[-1][1] == a
                and group[a] >= 0 and group[a] == group[out[-1][1] - 1]):
            out[-1] = (out[-1][0], b, False)
        else:
            out.append((a, b, alone))
    return [(a, b) for a, b, _ in out]


def tokenize(text: str, language: str | None = None) -> TokenOffsets:
    """The tokens of ``text`` as code-point offsets, in order, never empty, never overlapping,
    never holding whitespace. ``language``: "ru" uses razdel; "zh", "en" and any other use the
    rule above (letters and digits in runs, other visible characters alone, Han characters
    one each); None detects it from the text (``detect_language``)."""
    if language is None:
        language = detect_language([text])
    return _russian(text) if language == "ru" else _split(text)


def detect_language(texts: Iterable[str], sample_chars: int = 200_000) -> str:
    """"zh", "ru" or "en" by the scripts of the letters in (the first ``sample_chars`` of)
    ``texts``: Chinese when Han characters are at least a fifth of the letters (a Han character
    is a word, a Latin word several letters), Russian when Cyrillic letters outnumber Latin
    ones, English otherwise (also the answer for no letters at all)."""
    han = cyrillic = latin = letters = 0
    seen = 0
    for text in texts:
        for ch in text:
            if not ch.isalpha():
                continue
            letters += 1
            code = ord(ch)
            if any(lo <= code <= hi for lo, hi in _HAN_RANGES):
                han += 1
            elif 0x0400 <= code <= 0x04FF:
                cyrillic += 1
            elif code < 0x0250:
                latin += 1
        seen += len(text)
        if seen >= sample_chars:
            break
    if letters and han * 5 >= letters:
        return "zh"
    return "ru" if cyrillic > latin else "en"


def check_tokens(text: str, tokens: TokenOffsets) -> None:
    """``ValueError`` saying why ``tokens`` are not a tokenization of ``text``: in order, not
    empty, not overlapping, inside the text."""
    previous = 0
    for i, token in enumerate(tokens):
        if (not isinstance(token, (tuple, list)) or len(token) != 2
                or type(token[0]) is not int or type(token[1]) is not int):
            raise ValueError(f"token {i}: {token!r} is not a (start, end) pair")
        start, end = token
        if not 0 <= start < end <= len(text):
            raise ValueError(f"token {i}: ({start}, {end}) is not inside the text of "
                             f"{len(text)} characters (or is empty)")
        if start < previous:
            raise ValueError(f"token {i}: ({start}, {end}) overlaps or comes before token "
                             f"{i - 1}")
        previous = end


def check_spans(text: str, tokens: TokenOffsets, spans: Iterable[Span],
                labels: Sequence[str]) -> None:
    """``ValueError`` saying why ``spans`` cannot stand on ``text``: each inside the text,
    starting at a token's start and ending at a token's end, with one of ``labels``, and no
    two overlapping."""
    starts = {s for s, _ in tokens}
    ends = {e for _, e in tokens}
    known = set(labels)
    ordered = sorted(spans)
    for span in ordered:
        where = f"span ({span.start}, {span.end}, {span.label!r})"
        if span.label not in known:
            raise ValueError(f"{where}: unknown label {span.label!r}; the project has: "
                             f"{', '.join(labels)}")
        if not 0 <= span.start < span.end <= len(text):
            raise ValueError(f"{where}: out of range for a text of {len(text)} characters")
        if span.start not in starts:
            raise ValueError(f"{where}: does not start at a token boundary "
                             f"({text[span.start:span.end]!r})")
        if span.end not in ends:
            raise ValueError(f"{where}: does not end at a token boundary "
                             f"({text[span.start:span.end]!r})")
    check_no_overlap(ordered)


def check_no_overlap(spans: Iterable[Span]) -> None:
    """``ValueError`` naming two spans that overlap, if any do."""
    for a, b in itertools.pairwise(sorted(spans)):  # sorted: one overlap shows between neighbours
        if a.overlaps(b):
            raise ValueError(f"spans ({a.start}, {a.end}, {a.label!r}) and ({b.start}, "
                             f"{b.end}, {b.label!r}) overlap")


def token_at(tokens: TokenOffsets, position: int) -> int | None:
    """The index of the token holding code point ``position``, or None (between tokens)."""
    k = bisect.bisect_right(tokens, (position, _BIG)) - 1
    return k if k >= 0 and tokens[k][0] <= position < tokens[k][1] else None


_BIG = 1 << 62


# -- tag schemes ----------------------------------------------------------------------------------
#
# bio:   B-X begins an entity, I-X continues one of the same type; I-X after O or another type
#        is an error (the token index is named).
# iob1:  I-X begins or continues; B-X begins a new entity right after one of the same type (the
#        only place the scheme uses it; a B-X elsewhere is read as a beginning too).
# bioes: B-X begins, I-X continues, E-X ends, S-X is a one-token entity; anything else errs.

SCHEMES = ("bio", "bioes", "iob1")


class TagError(ValueError):
    """Tags that break their scheme; ``index`` is the token where it shows (a file reader
    turns it into a line number)."""

    def __init__(self, index: int, problem: str) -> None:
        self.index = index
        self.problem = problem
        super().__init__(f"token {index}: {problem}")
_PREFIXES = {"bio": "BI", "iob1": "BI", "bioes": "BIES"}


def _parse_tag(tag: str, index: int, scheme: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    if not dash or len(prefix) != 1 or prefix not in _PREFIXES[scheme] or not kind:
        raise TagError(index, f"tag {tag!r} is not a {scheme.upper()} tag")
    return prefix, kind


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; schemes are {', '.join(SCHEMES)}")


def tags_to_spans(tokens: TokenOffsets, tags: Sequence[str], scheme: str = "bio",
                  strict: bool = True) -> list[Span]:
    """The entities that one tag per token describes, as character spans over ``tokens``;
    ``ValueError`` naming the token index where the tags break ``scheme``.

    ``strict=False`` reads a model's guesses, which may break the scheme, the way conlleval
    does: an I- or E- that continues nothing begins an entity, and a B- or S- ends the one
    before (a tag that is no tag of the scheme is still an error)."""
    _check_scheme(scheme)
    if not strict and scheme == "bio":
        scheme = "iob1"  # the same reading, with a stray I- beginning an entity
    if len(tags) != len(tokens):
        raise ValueError(f"{len(tags)} tags for {len(tokens)} tokens")
    spans: list[Span] = []
    open_kind, open_at = "", -1

    def close(last: int) -> None:
        nonlocal open_kind
        if open_kind:
            spans.append(Span(tokens[open_at][0], tokens[last][1], open_kind))
        open_kind = ""

    for i, tag in enumerate(tags):
        prefix, kind = _parse_tag(tag, i, scheme)
        if scheme == "bioes" and not strict:
            if prefix in "BSO" or open_kind != kind:
                close(i - 1)
            if prefix != "O" and not open_kind:
                open_kind, open_at = kind, i
            if prefix in "ES":
                close(i)
            continue
        if scheme == "bioes":
            if prefix in "BSO" and open_kind:
                raise TagError(i, f"{tag} before the {open_kind} entity begun at token "
                                     f"{open_at} has ended (E-{open_kind})")
            if prefix in "IE" and open_kind != kind:
                raise TagError(i, f"{tag} does not continue a B-{kind} or I-{kind}")
            if prefix in "BS":
                open_kind, open_at = kind, i
            if prefix in "ES":
                close(i)
            continue
        if prefix == "O":
            close(i - 1)
        elif prefix == "B" or open_kind != kind:
            if prefix == "I" and scheme == "bio":
                raise TagError(i, f"{tag} without B-{kind} before it (BIO); a file that "
                                  "begins entities with I- (or has stray I- tags) reads as "
                                  "IOB1")
            close(i - 1)
            open_kind, open_at = kind, i
    if open_kind and scheme == "bioes" and strict:
        raise TagError(len(tags) - 1, f"the {open_kind} entity begun at token {open_at} "
                       f"has no E-{open_kind}")
    close(len(tags) - 1)
    return spans


def span_tokens(tokens: TokenOffsets, span: Span) -> tuple[int, int]:
    """The first and last token index of ``span``; ``ValueError`` when it is not on token
    boundaries."""
    first = bisect.bisect_left(tokens, (span.start, -1))
    if first == len(tokens) or tokens[first][0] != span.start:
        raise ValueError(f"span ({span.start}, {span.end}, {span.label!r}) does not start at "
                         "a token boundary")
    last = bisect.bisect_left(tokens, (span.end, -1)) - 1
    if last < first or tokens[last][1] != span.end:
        raise ValueError(f"span ({span.start}, {span.end}, {span.label!r}) does not end at "
                         "a token boundary")
    return first, last


def spans_to_tags(tokens: TokenOffsets, spans: Iterable[Span], scheme: str = "bio") -> list[str]:
    """One tag per token for ``spans`` in ``scheme``; ``ValueError`` for a span off the token
    boundaries or two overlapping spans."""
    _check_scheme(scheme)
    tags = ["O"] * len(tokens)
    previous: tuple[int, str] = (-2, "")  # last token and label of the span before
    for span in sorted(spans):
        first, last = span_tokens(tokens, span)
        if first <= previous[0]:
            raise ValueError(f"span ({span.start}, {span.end}, {span.label!r}) overlaps the "
                             "span before it")
        x = span.label
        if scheme == "bio":
            tags[first] = f"B-{x}"
            tags[first + 1:last + 1] = [f"I-{x}"] * (last - first)
        elif scheme == "iob1":
            adjacent = previous == (first - 1, x)
            tags[first] = f"B-{x}" if adjacent else f"I-{x}"
            tags[first + 1:last + 1] = [f"I-{x}"] * (last - first)
        elif first == last:
            tags[first] = f"S-{x}"
        else:
            tags[first] = f"B-{x}"
            tags[first + 1:last] = [f"I-{x}"] * (last - first - 1)
            tags[last] = f"E-{x}"
        previous = (last, x)
    return tags


# -- Qt's UTF-16 positions ------------------------------------------------------------------------

class Utf16Map:
    """Positions in ``text`` as Qt counts them (UTF-16 code units: a character outside the
    Basic Multilingual Plane, most emoji, is two) and as Python does (code points). The span
    view converts every position it hands to or takes from Qt here, and nowhere else."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._wide = [i for i, ch in enumerate(text) if ord(ch) > 0xFFFF]  # code points
        self._wide16 = [i + k for k, i in enumerate(self._wide)]  # their UTF-16 positions
        self.utf16_length = len(text) + len(self._wide)

    def to_utf16(self, position: int) -> int:
        """The UTF-16 position of code point ``position`` (0..len(text))."""
        if not 0 <= position <= len(self.text):
            raise ValueError(f"position {position} outside a text of {len(self.text)} characters")
        return position + bisect.bisect_left(self._wide, position)

    def from_utf16(self, position: int) -> int:
        """The code point at UTF-16 ``position``; a position between the two halves of a
        surrogate pair (Qt never puts a cursor there) counts as the character's start."""
        if not 0 <= position <= self.utf16_length:
            raise ValueError(f"UTF-16 position {position} outside a text of "
                             f"{self.utf16_length} units")
        before = bisect.bisect_left(self._wide16, position)  # wide characters starting before
        if before and self._wide16[before - 1] + 1 == position:
            return self._wide[before - 1]  # inside the pair
        return position - before
