"""Export a span project's labeled texts (issue 18): CoNLL in a chosen tag scheme, or JSONL.

- ``conll``: ``token TAG`` per line (one space between), a blank line after each text; tags in
  BIO, BIOES or IOB1. A file read from CoNLL (two columns, single spaces) is written back byte
  for byte; extra columns (POS, chunk) and ``-DOCSTART-`` lines are not kept.
- ``jsonl``: ``{"id", "text", "tokens"?, "spans": [{"start", "end", "label"}], ...}`` per
  labeled text, ``tokens`` only where the file gave them (as Prodigy's token objects: text,
  start, end, id, ws), then the record's other keys as imported. A file in this layout
  imports and exports back byte for byte; offsets are code points into the exact text.

Written atomically (``core.files.atomic_output``): a failed export leaves no file behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import AlappError
from alapp.core.files import atomic_output, refuse_protected
from alapp.core.spans import SCHEMES, Span, TokenOffsets, decode_spans, spans_to_tags
from alapp.store.project import CURRENT_LABEL_SQL, Project
from alapp.store.spans import decode_tokens

SPAN_EXPORT_FORMATS = ("conll", "jsonl")
_BY_SUFFIX = {".jsonl": "jsonl", ".ndjson": "jsonl", ".conll": "conll", ".bio": "conll",
              ".iob": "conll", ".iob1": "conll", ".iob2": "conll", ".bioes": "conll",
              ".txt": "conll"}

_LABELED_SQL = f"""
    SELECT i.id, i.ext_id, i.text, i.meta, t.offsets, t.given, cur.label FROM items i
    JOIN ({CURRENT_LABEL_SQL}) cur ON cur.item_id = i.id
    JOIN item_tokens t ON t.item_id = i.id
    ORDER BY i.id
"""


def labeled_span_rows(project: Project) -> Iterator[tuple[str, str, TokenOffsets, bool,
                                                          list[Span], dict[str, Any]]]:
    """(id, text, tokens, tokens given, spans, other keys) of each labeled text, by id."""
    for _, ext_id, text, meta, offsets, given, label in project._conn.execute(_LABELED_SQL):
        yield (ext_id, text, decode_tokens(offsets), bool(given), decode_spans(label),
               json.loads(meta) if meta else {})


def export_spans(project: Project, out: str | Path, fmt: str | None = None,
                 scheme: str = "bio", overwrite: bool = False) -> int:
    """Write every labeled text of a span project; returns how many."""
    out = Path(out)
    fmt = fmt or _BY_SUFFIX.get(out.suffix.lower())
    if fmt not in SPAN_EXPORT_FORMATS:
        raise AlappError(f"{out}: choose the export format of a span project "
                         f"({', '.join(SPAN_EXPORT_FORMATS)})")
    if scheme not in SCHEMES:
        raise AlappError(f"unknown tag scheme {scheme!r}; schemes are {', '.join(SCHEMES)}")
    refuse_protected(out, (project.path,))
    if out.exists() and not overwrite:
        raise AlappError(f"{out}: already exists; choose another name or allow overwriting")
    if not out.parent.is_dir():
        raise AlappError(f"{out.parent}: no such folder")
    with atomic_output(out, newline="", protect=(project.path,)) as stream:
        if fmt == "conll":
            return _write_conll(project, stream, scheme)
        return _write_jsonl(project, stream)


def _write_conll(project: Project, stream: IO[str], scheme: str) -> int:
    count = 0
    for ext_id, text, tokens, _, spans, _ in labeled_span_rows(project):
        tags = spans_to_tags(tokens, spans, scheme)
        for (a, b), tag in zip(tokens, tags, strict=True):
            word = text[a:b]
            if any(ch.isspace() for ch in word):
                raise AlappError(f"item {ext_id!r}: the token {word!r} holds white space, "
                                 "which a CoNLL line cannot; export JSONL instead")
            stream.write(f"{word} {tag}\n")
        stream.write("\n")
        count += 1
    return count


def _write_jsonl(project: Project, stream: IO[str]) -> int:
    count = 0
    for ext_id, text, tokens, given, spans, extra in labeled_span_rows(project):
        record: dict[str, Any] = {"id": ext_id, "text": text}
        if given:
            record["tokens"] = [{"text": text[a:b], "start": a, "end": b, "id": k,
                                 "ws": text[b:b + 1].isspace()}
                                for k, (a, b) in enumerate(tokens)]
        record["spans"] = [{"start": s.start, "end": s.end, "label": s.label} for s in spans]
        record.update((k, v) for k, v in extra.items() if k not in record)
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count
