"""Readers for span projects (issue 18): CoNLL, span JSONL and raw text, one record per text.

- ``conll``: one token per line, its tag in the last column (``token TAG``, ``token POS chunk
  TAG``, ...), columns separated by tabs (when a line has one) or by runs of spaces, the same
  number on every token line; a blank line ends a sentence; ``-DOCSTART-`` lines are skipped.
  A sentence's text is its tokens joined by single spaces, so its offsets are exact. Tags are
  read in the scheme asked for (BIO, BIOES or IOB1, ``core.spans.tags_to_spans``).
- ``jsonl``: ``{"text": ..., "spans": [{"start", "end", "label"}], "tokens": [...], "id": ...}``
  per line (Prodigy/spaCy style): offsets are code points into ``text``, kept exactly as given
  (a text may begin or end with white space). "tokens" (optional) are objects with "start" and
  "end" (and a "text" that must match) or [start, end] pairs; without them the text is
  tokenized. A record without "spans" is unlabeled; ``"spans": []`` is a text with no entities.
  Every other key is kept and written back by the export, in its place after "spans".
- ``txt``: one text per line, tokenized; blank lines are skipped.

Every error names the file and line; nothing is returned half-read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import InputError
from alapp.core.spans import (
    Span,
    TagError,
    TokenOffsets,
    check_spans,
    check_tokens,
    tags_to_spans,
)
from alapp.store.readers import read_records

SPAN_FORMATS = ("conll", "jsonl", "txt")
_BY_SUFFIX = {".conll": "conll", ".bio": "conll", ".iob": "conll", ".iob1": "conll",
              ".iob2": "conll", ".bioes": "conll", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".txt": "txt"}
_TAG = re.compile(r"^(O|[BIES]-\S+)$")
_RESERVED = ("text", "tokens", "spans", "id")  # the keys a span JSONL record gives meaning to


@dataclass
class SpanRecord:
    """One text read from a file: ``tokens`` None means "tokenize it"; ``spans`` None means
    unlabeled. ``lines`` maps token indexes to file lines (CoNLL) for messages."""

    line: int
    text: str
    tokens: TokenOffsets | None
    spans: list[Span] | None
    ext_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the record's other keys (JSONL)
    token_lines: list[int] | None = None  # CoNLL: the file line of each token
    given: bool = False  # the tokens came with the file (CoNLL, JSONL "tokens")

    def line_of(self, span: Span) -> int:
        """Where a span shows in the file: its first token's line (CoNLL), else the record's."""
        if self.token_lines is None or self.tokens is None:
            return self.line
        starts = [a for a, _ in self.tokens]
        return self.token_lines[starts.index(span.start)] if span.start in starts else self.line


def guess_span_format(path: Path, sample: str) -> str:
    """The format from the name; a ``.txt`` file whose first lines look like ``token TAG``
    (every line two or more columns ending in a tag, or ``-DOCSTART-``) is CoNLL, as the
    CoNLL-2003 files are named."""
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(path, None, "cannot tell the format from the name; choose one of "
                         f"{', '.join(SPAN_FORMATS)} (--format)")
    if fmt == "txt":
        lines = [line for line in sample.splitlines()[:50] if line.strip()]
        if lines and all(line.startswith("-DOCSTART-") or (
                len(line.split()) >= 2 and _TAG.match(line.split()[-1])) for line in lines):
            return "conll"
    return fmt


def read_spans(path: Path, stream: IO[str], fmt: str, scheme: str,
               max_chars: int) -> Iterator[SpanRecord]:
    if fmt == "conll":
        yield from _conll(path, stream, scheme)
    elif fmt == "jsonl":
        yield from _jsonl(path, stream, max_chars)
    elif fmt == "txt":
        yield from _raw(path, stream, max_chars)
    else:
        raise InputError(path, None, f"format {fmt!r} cannot be read into a span project; "
                         f"choose one of {', '.join(SPAN_FORMATS)}")


# -- CoNLL --------------------------------------------------------------------------------------

def _conll(path: Path, stream: IO[str], scheme: str) -> Iterator[SpanRecord]:
    words: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    columns: tuple[int, int] | None = None  # (count, the line that set it)
    number = 0
    for number, raw in enumerate(stream, start=1):
        text = raw.rstrip("\r\n")
        if number == 1:
            text = text.lstrip("\ufeff")
        if _blank(text) or text.startswith("-DOCSTART-"):
            if words:
                yield _sentence(path, words, tags, lines, scheme)
                words, tags, lines = [], [], []
            continue
        parts = [p.strip() for p in text.split("\t")] if "\t" in text else text.split()
        if columns is None:
            columns = (len(parts), number)
        if len(parts) != columns[0]:
            raise InputError(path, number, f"{len(parts)} columns, but line {columns[1]} has "
                             f"{columns[0]}: every token line needs the same columns (token "
                             "first, tag last)")
        if len(parts) < 2:
            raise InputError(path, number, "a token without a tag: expected 'token TAG' "
                             "(tab- or space-separated)")
        if not parts[0] or any(ch.isspace() for ch in parts[0]):
            raise InputError(path, number, f"the token {parts[0]!r} is empty or holds white "
                             "space")
        words.append(parts[0])
        tags.append(parts[-1])
        lines.append(number)
    if words:
        yield _sentence(path, words, tags, lines, scheme)


def _blank(text: str) -> bool:
    """Nothing visible: white space and format characters only (WNUT-17's dev file ends with a
    line holding a lone BOM)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def _sentence(path: Path, words: list[str], tags: list[str], lines: list[int],
              scheme: str) -> SpanRecord:
    tokens: TokenOffsets = []
    at = 0
    for word in words:
        tokens.append((at, at + len(word)))
        at += len(word) + 1
    try:
        spans = tags_to_spans(tokens, tags, scheme)
    except TagError as e:
        raise InputError(path, lines[e.index], f"{e.problem}") from None
    return SpanRecord(lines[0], " ".join(words), tokens, spans, token_lines=list(lines),
                      given=True)


# -- JSONL ----------------------------------------------------------------------------------------

def _jsonl(path: Path, stream: IO[str], max_chars: int) -> Iterator[SpanRecord]:
    for line, record in read_records(path, stream, "jsonl", True, max_chars):
        text = record.get("text")
        if not isinstance(text, str):
            raise InputError(path, line, "no \"text\" string in the record")
        if not text.strip():
            raise InputError(path, line, "empty text")
        if "\x00" in text:
            raise InputError(path, line, "the text contains a NUL byte")
        tokens = _tokens(path, line, text, record["tokens"]) if "tokens" in record else None
        spans = _spans(path, line, text, record["spans"]) if "spans" in record else None
        ext_id = record.get("id")
        if ext_id is not None and (not isinstance(ext_id, (str, int)) or isinstance(ext_id, bool)
                                   or not str(ext_id).strip()):
            raise InputError(path, line, f"the id {ext_id!r} is not a text or a number")
        extra = {k: v for k, v in record.items() if k not in _RESERVED}
        yield SpanRecord(line, text, tokens, spans,
                         None if ext_id is None else str(ext_id).strip(), extra,
                         given=tokens is not None)


def _tokens(path: Path, line: int, text: str, raw: Any) -> TokenOffsets:
    if not isinstance(raw, list):
        raise InputError(path, line, "\"tokens\" must be a list")
    tokens: TokenOffsets = []
    for k, token in enumerate(raw):
        if isinstance(token, dict):
            pair = (token.get("start"), token.get("end"))
        elif isinstance(token, list) and len(token) == 2:
            pair = (token[0], token[1])
        else:
            raise InputError(path, line, f"token {k}: {token!r} is neither an object with "
                             "\"start\" and \"end\" nor a [start, end] pair")
        if type(pair[0]) is not int or type(pair[1]) is not int:
            raise InputError(path, line, f"token {k}: start and end must be whole numbers")
        tokens.append((pair[0], pair[1]))
        if isinstance(token, dict) and "text" in token and 0 <= pair[0] <= pair[1] <= len(text) \
                and token["text"] != text[pair[0]:pair[1]]:
            raise InputError(path, line, f"token {k}: its text {token['text']!r} is not the "
                             f"text at ({pair[0]}, {pair[1]}): {text[pair[0]:pair[1]]!r}")
    try:
        check_tokens(text, tokens)
    except ValueError as e:
        raise InputError(path, line, str(e)) from None
    return tokens


def _spans(path: Path, line: int, text: str, raw: Any) -> list[Span]:
    if not isinstance(raw, list):
        raise InputError(path, line, "\"spans\" must be a list")
    spans = []
    for k, span in enumerate(raw):
        if not isinstance(span, dict) or not {"start", "end", "label"} <= set(span):
            raise InputError(path, line, f"span {k}: expected an object with \"start\", "
                             "\"end\" and \"label\"")
        start, end, label = span["start"], span["end"], span["label"]
        if type(start) is not int or type(end) is not int:
            raise InputError(path, line, f"span {k}: start and end must be whole numbers")
        if not isinstance(label, str) or not label.strip():
            raise InputError(path, line, f"span {k}: the label must be a non-empty text")
        if not 0 <= start < end <= len(text):
            raise InputError(path, line, f"span ({start}, {end}, {label!r}): out of range "
                             f"for a text of {len(text)} characters")
        spans.append(Span(start, end, label))
    return spans


def check_record(path: Path, record: SpanRecord, labels: list[str]) -> None:
    """A record's spans against its tokens and the project's types (InputError at its line;
    a CoNLL record's at the line of the offending span's first token)."""
    if record.spans is None or record.tokens is None:
        return
    known = set(labels)
    for span in record.spans:
        if span.label not in known:
            raise InputError(path, record.line_of(span), f"entity type {span.label!r} is not "
                             f"in the project (it has: {', '.join(labels)}); add it first, or "
                             "import with --add-labels")
    try:
        check_spans(record.text, record.tokens, record.spans, labels)
    except ValueError as e:
        raise InputError(path, record.line, str(e)) from None


# -- raw text -----------------------------------------------------------------------------------

def _raw(path: Path, stream: IO[str], max_chars: int) -> Iterator[SpanRecord]:
    for number, raw in enumerate(stream, start=1):
        text = raw.removesuffix("\n").removesuffix("\r")
        if number == 1:
            text = text.lstrip("\ufeff")
        if len(text) > max_chars:
            raise InputError(path, number, f"line is longer than the limit of {max_chars:,} "
                             "characters")
        if "\x00" in text:
            raise InputError(path, number, "the text contains a NUL byte")
        if text.strip():
            yield SpanRecord(number, text, None, None)
