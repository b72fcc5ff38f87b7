"""Import a file into a project: streaming, validated, all or nothing.

Rows are validated and written in chunks inside one transaction; any error rolls the whole import
back, so the project is exactly as before. Memory stays flat whatever the file size.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import AlappError, Cancelled, InputError
from alapp.core.types import Split
from alapp.store.encoding import detect_encoding, locate_decode_error, normalize_encoding
from alapp.store.project import Project
from alapp.store.readers import Record, guess_format, read_records

BULK_BYTES = 8 << 20  # files above this rebuild the hash index once instead of per row
CHUNK = 5_000  # rows per executemany: fast, and bounds memory whatever the file size
Progress = Callable[[int, int], bool]  # (bytes read, total bytes) -> keep going?


@dataclass
class ImportSpec:
    """How to read a file and which columns mean what. Columns are names or 1-based numbers."""

    format: str | None = None  # None: from the file name
    encoding: str | None = None  # None: detect
    header: bool = True
    delimiter: str | None = None
    text: list[str] = field(default_factory=lambda: ["text"])  # several are joined by newlines
    id: str | None = None  # None: the "id" column if there is one, else generated
    label: str | None = None  # None: the "label" column if there is one
    meta: list[str] | None = None  # None: every other column; [] for none
    split: Split = Split.POOL
    split_column: str | None = None
    label_names: list[str] | None = None  # maps label values 0..n-1 (or from label_base) to names
    label_base: int = 0
    add_labels: bool = False  # unknown labels become new labels instead of an error
    max_chars: int = 1_000_000


@dataclass
class ImportReport:
    path: str
    format: str
    encoding: str
    rows: int = 0
    labeled: int = 0
    by_split: dict[str, int] = field(default_factory=dict)
    new_labels: list[str] = field(default_factory=list)
    duplicate_texts_in_file: int = 0
    duplicate_texts_in_project: int = 0
    duplicate_examples: list[str] = field(default_factory=list)
    seconds: float = 0.0


def text_hash(text: str) -> bytes:
    """Same hash for texts that differ only in case and spacing: those are duplicates to a human."""
    canonical = " ".join(text.split()).casefold()
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()


class _Mapping:
    """Resolves the spec's column references once the first record shows the columns."""

    def __init__(self, path: Path, spec: ImportSpec, columns: list[str], header_line: int) -> None:
        self.path, self.spec, self.columns = path, spec, columns
        self.text = [self._column(c, header_line, "text") for c in spec.text]
        self.id = self._optional(spec.id, "id", columns, header_line)
        self.label = self._optional(spec.label, "label", columns, header_line)
        self.split = (self._column(spec.split_column, header_line, "split")
                      if spec.split_column else None)
        self.used = {*self.text, self.id, self.label, self.split}
        # None: keep every other field of each record (JSON records may differ in their keys)
        self.meta = None if spec.meta is None else [
            self._column(c, header_line, "meta") for c in spec.meta]

    def _column(self, ref: str, line: int, role: str) -> str:
        if ref in self.columns:
            return ref
        if ref.isdigit() and 1 <= int(ref) <= len(self.columns):
            return self.columns[int(ref) - 1]
        raise InputError(self.path, line, f"no column {ref!r} for the {role} "
                         f"(columns: {', '.join(self.columns)})")

    def _optional(self, ref: str | None, default: str, columns: list[str],
                  line: int) -> str | None:
        if ref is not None:
            return self._column(ref, line, default)
        return default if default in columns else None


def import_file(project: Project, path: str | Path, spec: ImportSpec | None = None,
                progress: Progress | None = None) -> ImportReport:
    path = Path(path)
    spec = spec or ImportSpec()
    if not path.is_file():
        raise InputError(path, None, "no such file")
    fmt = spec.format or guess_format(path)
    encoding = normalize_encoding(spec.encoding) if spec.encoding else detect_encoding(path)
    report = ImportReport(str(path), fmt, encoding)
    started = time.perf_counter()
    total = path.stat().st_size
    with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding, "strict", newline="") as stream:
        # Progress is read from the byte stream: the text stream cannot tell() while iterated.
        def tick() -> bool:
            return progress is None or progress(raw.tell(), total)
        try:
            with project.transaction():
                _import_stream(project, path, stream, fmt, spec, report, tick)
        except UnicodeDecodeError:
            raise locate_decode_error(path, encoding) from None
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class _Chunk:
    items: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    new_labels: list[str] = field(default_factory=list)


@dataclass
class _Context:
    path: Path
    fmt: str
    spec: ImportSpec
    import_id: int
    first_item_id: int
    known_labels: set[str]
    report: ImportReport


def _parse(stream: IO[str], ctx: _Context) -> Iterator[_Chunk]:
    """Read, validate and prepare rows in chunks; touches no database.

    (Parsing in a second thread while SQLite inserts was measured slower: both sides hold the
    GIL for most of their work, so they only contend.)"""
    spec, path, report = ctx.spec, ctx.path, ctx.report
    now = time.time()
    mapping: _Mapping | None = None
    chunk = _Chunk()
    for line, record in read_records(path, stream, ctx.fmt, spec.header, spec.max_chars,
                                     spec.delimiter):
        if mapping is None:
            header_line = 1 if ctx.fmt in ("csv", "tsv") and spec.header else line
            mapping = _Mapping(path, spec, list(record), header_line)
        text, ext_id, label, split, meta = _row(path, line, record, mapping, spec)
        item_id = ctx.first_item_id + report.rows
        if label is not None:
            if label not in ctx.known_labels:
                if not spec.add_labels:
                    known = ", ".join(sorted(ctx.known_labels)) or "no labels"
                    raise InputError(path, line, f"unknown label {label!r} (the project has: "
                                     f"{known}); add it to the project first, or import with "
                                     "--add-labels")
                ctx.known_labels.add(label)
                chunk.new_labels.append(label)
            chunk.events.append((item_id, label, now))
            report.labeled += 1
        chunk.items.append((item_id, ext_id or f"{ctx.import_id}-{report.rows + 1}", text, meta,
                            text_hash(text), split, ctx.import_id, line))
        report.rows += 1
        report.by_split[split] = report.by_split.get(split, 0) + 1
        if len(chunk.items) >= CHUNK:
            yield chunk
            chunk = _Chunk()
    yield chunk


def _import_stream(project: Project, path: Path, stream: IO[str], fmt: str, spec: ImportSpec,
                   report: ImportReport, keep_going: Callable[[], bool]) -> None:
    conn = project.conn
    cursor = conn.execute("INSERT INTO imports (path, format, encoding, rows, labeled, "
                          "finished_at) VALUES (?, ?, ?, 0, 0, 0)",
                          (str(path.resolve()), fmt, report.encoding))
    import_id = int(cursor.lastrowid or 0)
    first_id = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0]
    had_items = first_id > 1
    ctx = _Context(path, fmt, spec, import_id, first_id, set(project.labels()), report)
    # A big file into a small project: rebuilding the hash index once beats updating it per
    # row (measured 2x on 200k rows). DDL is transactional, so a failure restores the index.
    bulk = path.stat().st_size > BULK_BYTES
    if bulk:
        conn.execute("DROP INDEX IF EXISTS items_hash")
    for chunk in _parse(stream, ctx):
        if chunk.new_labels:
            project._insert_labels(chunk.new_labels)
            report.new_labels.extend(chunk.new_labels)
        _insert_items(project, path, chunk.items)
        conn.executemany(
            "INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
            "strategy) VALUES (?, 'label', ?, 'import', ?, 'import')", chunk.events)
        if not keep_going():
            raise Cancelled()
    if bulk:
        conn.execute("CREATE INDEX items_hash ON items(hash)")
    if report.rows == 0:
        raise InputError(path, None, "no items found (the file is empty or has only a header)")
    conn.execute("UPDATE imports SET rows = ?, labeled = ?, finished_at = ? WHERE id = ?",
                 (report.rows, report.labeled, time.time(), import_id))
    _report_duplicates(project, import_id, report, had_items)


def _row(path: Path, line: int, record: Record, mapping: _Mapping,
         spec: ImportSpec) -> tuple[str, str | None, str | None, str, str | None]:
    parts = []
    for column in mapping.text:
        value = record.get(column)
        if value is None:
            raise InputError(path, line, f"no {column!r} field")
        parts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    text = "\n".join(p.strip() for p in parts if p.strip())
    if not text:
        raise InputError(path, line, "empty text")
    if "\x00" in text:
        raise InputError(path, line, "the text contains a NUL byte (a binary or corrupted file?)")
    if len(text) > spec.max_chars:
        raise InputError(path, line, f"the text is longer than the limit of "
                         f"{spec.max_chars:,} characters")
    ext_id = _scalar(record.get(mapping.id)) if mapping.id else None
    if mapping.id and not ext_id:
        raise InputError(path, line, f"empty id in column {mapping.id!r}")
    label = _label(path, line, _scalar(record.get(mapping.label)) if mapping.label else None, spec)
    split = spec.split.value
    if mapping.split:
        split = (_scalar(record.get(mapping.split)) or spec.split.value).lower()
        if split not in {s.value for s in Split}:
            raise InputError(path, line, f"split {split!r} is not one of pool, test, seed")
    meta = None
    if mapping.meta is None:
        fields = {c: v for c, v in record.items() if c not in mapping.used}
    else:
        fields = {c: record[c] for c in mapping.meta if c in record}
    if fields:
        meta = json.dumps(fields, ensure_ascii=False)
        if "\x00" in meta:
            raise InputError(path, line, "a metadata field contains a NUL byte")
    return text, ext_id, label, split, meta


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.strip() or None


def _label(path: Path, line: int, raw: str | None, spec: ImportSpec) -> str | None:
    if raw is None or spec.label_names is None:
        return raw
    try:
        index = int(raw) - spec.label_base
        if index < 0:
            raise IndexError
        return spec.label_names[index]
    except (ValueError, IndexError):
        raise InputError(path, line, f"label {raw!r} has no name in the label map "
                         f"({len(spec.label_names)} names from {spec.label_base})") from None


def _insert_items(project: Project, path: Path, items: list[tuple[Any, ...]]) -> None:
    try:
        project.conn.executemany(
            "INSERT INTO items (id, ext_id, text, meta, hash, split, import_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [row[:7] for row in items])
    except sqlite3.IntegrityError:
        raise _explain_duplicate_id(project, path, items) from None


def _explain_duplicate_id(project: Project, path: Path,
                          items: list[tuple[Any, ...]]) -> AlappError:
    """The UNIQUE index caught a repeated id; find which line and why, for the message."""
    seen: dict[str, int] = {}
    for item_id, ext_id, *_rest, import_id, line in items:
        if ext_id in seen:
            return InputError(path, line, f"duplicate id {ext_id!r} (first on line {seen[ext_id]})")
        row = project.conn.execute("SELECT id, import_id FROM items WHERE ext_id = ?",
                                   (ext_id,)).fetchone()
        if row is not None and row[0] != item_id:  # not this very row, inserted before the error
            if row[1] != import_id:
                return InputError(path, line, f"id {ext_id!r} is already in the project")
            return InputError(path, line, f"duplicate id {ext_id!r} (first seen earlier in "
                              "this file)")
        seen[ext_id] = line
    return AlappError(f"{path}: an id is not unique")


def _report_duplicates(project: Project, import_id: int, report: ImportReport,
                       had_items: bool) -> None:
    conn = project.conn
    report.duplicate_texts_in_file = conn.execute(
        "SELECT COUNT(*) - COUNT(DISTINCT hash) FROM items WHERE import_id = ?",
        (import_id,)).fetchone()[0]
    if had_items:
        report.duplicate_texts_in_project = conn.execute(
        "SELECT COUNT(*) FROM items i WHERE import_id = ? AND EXISTS (SELECT 1 FROM items o "
        "WHERE o.hash = i.hash AND o.import_id IS NOT i.import_id)", (import_id,)).fetchone()[0]
    if report.duplicate_texts_in_file or report.duplicate_texts_in_project:
            report.duplicate_examples = [r[0] for r in conn.execute(
            "SELECT ext_id FROM items i WHERE import_id = ? AND EXISTS (SELECT 1 FROM items o "
            "WHERE o.hash = i.hash AND o.id != i.id) LIMIT 5", (import_id,))]

