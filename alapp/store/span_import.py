"""Import a file into a span project (issue 18): CoNLL, span JSONL or raw text, all or nothing.

The whole file is read and checked first (tags in their scheme, spans on the text's tokens,
types known or added with ``add_labels``, ids unique), then written in one transaction: items,
their tokens (given by the file, or made by ``core.spans.tokenize`` in the project's language,
or the one asked for, or the one the file's texts are written in), and an ``import`` label
event with its span rows for each labeled text. Any error names the file and line and leaves
the project as it was. NER files are sentences, small enough to hold while they are checked.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from alapp.core.errors import Cancelled, InputError
from alapp.core.spans import detect_language, encode_spans, tokenize
from alapp.store.encoding import (
    detect_encoding,
    locate_decode_error,
    normalize_encoding,
    open_checked,
)
from alapp.store.importer import (
    ImportReport,
    ImportSpec,
    Progress,
    _explain_duplicate_id,
    _free_prefix,
    _report_duplicates,
)
from alapp.store.parsing import text_hash
from alapp.store.project import Project
from alapp.store.resolution import add_new_items
from alapp.store.span_readers import SpanRecord, check_record, guess_span_format, read_spans
from alapp.store.spans import save_tokens


class _DryRunDone(Exception):
    """Rolls a dry run's transaction back."""


def import_spans(project: Project, path: Path, spec: ImportSpec, progress: Progress | None = None,
                 dry_run: bool = False) -> ImportReport:
    """Read ``path`` into the span project ``project``; see the module. ``spec.format``:
    conll, jsonl or txt (None: from the name, a .txt of ``token TAG`` lines being CoNLL);
    ``spec.scheme``: the CoNLL tags' scheme; ``spec.language``: the tokenizer's language for
    texts without tokens (None: the project's, else detected from the file)."""
    started = time.perf_counter()
    path = Path(path)
    fmt, encoding, records = _read(path, spec.format, spec.encoding, spec.scheme,
                                   spec.max_chars)
    stat = path.stat()
    report = ImportReport(str(path), fmt, encoding)
    labels = project.labels()
    new_labels = _new_types(path, records, labels, spec.add_labels)
    _tokenize(records, spec.language or project.settings().span_language)
    for record in records:
        check_record(path, record, labels + new_labels)
    _check_ids(project, path, records)
    if progress is not None and not progress(stat.st_size // 2, stat.st_size):
        raise Cancelled()
    try:
        with project.transaction():
            _write(project, path, fmt, encoding, spec, records, new_labels, report)
            if dry_run:
                raise _DryRunDone()
    except _DryRunDone:
        pass
    if progress is not None:
        progress(stat.st_size, stat.st_size)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class SpanFile:
    """A span file read whole, every text with its tokens, every span checked."""

    path: Path
    format: str
    encoding: str
    records: list[SpanRecord]
    types: list[str]  # the entity types, as given or in order of first appearance


def read_span_file(path: str | Path, fmt: str | None = None, scheme: str = "bio",
                   encoding: str | None = None, language: str | None = None,
                   types: list[str] | None = None, max_chars: int = 1_000_000) -> SpanFile:
    """Read a CoNLL, span JSONL or raw text file without a project (simulation, benchmarks,
    a preview): as the import reads it, texts without tokens tokenized in ``language`` (None:
    detected), spans checked against ``types`` (None: any type the file uses). Errors are the
    import's: ``InputError`` with the file and line."""
    path = Path(path)
    fmt, encoding, records = _read(path, fmt, encoding, scheme, max_chars)
    _tokenize(records, language)
    if types is None:
        types = list(dict.fromkeys(s.label for r in records for s in r.spans or []))
    for record in records:
        check_record(path, record, types)
    return SpanFile(path, fmt, encoding, records, types)


def _read(path: Path, fmt: str | None, encoding: str | None, scheme: str,
          max_chars: int) -> tuple[str, str, list[SpanRecord]]:
    if not path.is_file():
        raise InputError(path, None, "no such file")
    named = normalize_encoding(encoding) if encoding else detect_encoding(path)
    stat = path.stat()
    try:
        with open(path, encoding=named, errors="replace", newline="") as f:
            fmt = fmt or guess_span_format(path, f.read(1 << 16))
        with open_checked(path, named, not encoding,
                          (stat.st_size, stat.st_mtime_ns)) as (stream, _position):
            records = list(read_spans(path, stream, fmt, scheme, max_chars))
    except UnicodeDecodeError:
        raise locate_decode_error(path, named, detected=not encoding) from None
    if not records:
        raise InputError(path, None, "no texts found (the file is empty or has only blank "
                         "lines)")
    return fmt, named, records


def _new_types(path: Path, records: list[SpanRecord], labels: list[str],
               add: bool) -> list[str]:
    """The entity types the file uses that the project lacks, when they may be added (the
    check of each record refuses them otherwise, at their line)."""
    if not add:
        return []
    known = set(labels)
    new: list[str] = []
    for record in records:
        for span in record.spans or []:
            if span.label in known:
                continue
            if any(ch.isspace() for ch in span.label) or "|" in span.label:
                raise InputError(path, record.line_of(span), f"entity type {span.label!r} "
                                 "holds white space or '|'")
            known.add(span.label)
            new.append(span.label)
    return new


def _tokenize(records: list[SpanRecord], language: str | None) -> None:
    """Tokens for the texts the file gave none: in ``language``, else in the language of
    those texts."""
    bare = [r for r in records if r.tokens is None]
    if not bare:
        return
    language = language or detect_language(r.text for r in bare)
    for record in bare:
        record.tokens = tokenize(record.text, language)


def _check_ids(project: Project, path: Path, records: list[SpanRecord]) -> None:
    seen: dict[str, int] = {}
    for record in records:
        if record.ext_id is None:
            continue
        if record.ext_id in seen:
            raise InputError(path, record.line, f"duplicate id {record.ext_id!r} (first on "
                             f"line {seen[record.ext_id]})")
        seen[record.ext_id] = record.line
    ids = list(seen)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        row = project._conn.execute(
            f"SELECT ext_id FROM items WHERE ext_id IN ({','.join('?' * len(chunk))}) LIMIT 1",
            chunk).fetchone()
        if row is not None:
            raise InputError(path, seen[row[0]], f"id {row[0]!r} is already in the project")


def _write(project: Project, path: Path, fmt: str, encoding: str, spec: ImportSpec,
           records: list[SpanRecord], new_labels: list[str], report: ImportReport) -> None:
    conn = project._conn
    name = str(path.resolve())
    import_id = int(conn.execute(
        "INSERT INTO imports (path, format, encoding, rows, labeled, finished_at) "
        "VALUES (?, ?, ?, 0, 0, 0)", (name, fmt, encoding)).lastrowid or 0)
    had_items = conn.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
    if new_labels:
        project._insert_labels(new_labels)
        report.new_labels.extend(new_labels)
    first = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0]
    prefix = _free_prefix(project, import_id)
    split = spec.split.value
    items = [(first + k, r.ext_id or f"{prefix}{k + 1}", r.text,
              json.dumps(r.extra, ensure_ascii=False) if r.extra else None,
              text_hash(r.text), split, import_id, None, r.line)
             for k, r in enumerate(records)]
    try:
        conn.executemany("INSERT INTO items (id, ext_id, text, meta, hash, split, import_id, "
                         "text_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row[:8] for row in items])
    except sqlite3.IntegrityError:  # the unique id index: name the line
        raise _explain_duplicate_id(project, path, items) from None
    save_tokens(conn, ((first + k, r.tokens or [], r.given)
                       for k, r in enumerate(records)))
    # The label events, and their span rows in one go (what ``Project._insert_event`` writes
    # for one decision, here for thousands).
    now = time.time()
    span_rows: list[tuple[int, int, int, str]] = []
    events_before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0]
    labeled = [(k, r) for k, r in enumerate(records) if r.spans is not None]
    for (k, record), origin in zip(labeled, project.origins(len(labeled)), strict=True):
        assert record.spans is not None
        event = int(conn.execute(
            "INSERT INTO label_events (item_id, action, label, annotator, submitted_at, source, "
            "uid, workstation, seq) VALUES (?, 'label', ?, 'import', ?, 'import', ?, ?, ?)",
            (first + k, encode_spans(record.spans), now, *origin)).lastrowid or 0)
        span_rows.extend((event, s.start, s.end, s.label) for s in record.spans)
        report.labeled += 1
    conn.executemany('INSERT INTO event_spans (event_id, start, "end", label) VALUES (?, ?, ?, ?)',
                     span_rows)
    add_new_items(conn, events_before)  # their training labels (store/resolution.py)
    if labeled:
        conn.execute("INSERT OR IGNORE INTO annotators (name, added_at, how) "
                     "VALUES ('import', ?, 'import')", (now,))
    report.rows = len(records)
    report.by_split[split] = len(records)
    conn.execute("UPDATE imports SET rows = ?, labeled = ?, finished_at = ? WHERE id = ?",
                 (report.rows, report.labeled, time.time(), import_id))
    _report_duplicates(project, import_id, report, had_items)
