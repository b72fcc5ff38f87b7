"""Turning records into validated rows, ready to insert. Touches no database, so it can run
in a separate process beside the one that writes."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import InputError
from alapp.core.types import Split
from alapp.store.readers import Record, read_records

_SPLITS = frozenset(s.value for s in Split)
CHUNK = 5_000  # rows per chunk: fast to insert, and bounds memory whatever the file size


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


@dataclass
class Chunk:
    items: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    new_labels: list[str] = field(default_factory=list)
    by_split: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0


def parse_chunks(path: Path, stream: IO[str], fmt: str, spec: ImportSpec, import_id: int,
                 first_item_id: int, known_labels: set[str],
                 position: Any = None) -> Iterator[Chunk]:
    """Read and validate rows, yielding chunks of item and label-event rows.

    ``position`` reports how many bytes were read (for progress), when given.
    """
    now = time.time()
    mapping: _Mapping | None = None
    chunk = Chunk()
    records = read_records(path, stream, fmt, spec.header, spec.max_chars, spec.delimiter)
    for rows, (line, record) in enumerate(records, start=1):
        if mapping is None:
            header_line = 1 if fmt in ("csv", "tsv") and spec.header else line
            mapping = _Mapping(path, spec, list(record), header_line)
        text, ext_id, label, split, meta = _row(path, line, record, mapping, spec)
        item_id = first_item_id + rows - 1
        if label is not None:
            if label not in known_labels:
                if not spec.add_labels:
                    known = ", ".join(sorted(known_labels)) or "no labels"
                    raise InputError(path, line, f"unknown label {label!r} (the project has: "
                                     f"{known}); add it to the project first, or import with "
                                     "--add-labels")
                known_labels.add(label)
                chunk.new_labels.append(label)
            chunk.events.append((item_id, label, now))
        chunk.items.append((item_id, ext_id or f"{import_id}-{rows}", text, meta,
                            text_hash(text), split, import_id, line))
        chunk.by_split[split] = chunk.by_split.get(split, 0) + 1
        if len(chunk.items) >= CHUNK:
            chunk.bytes_read = position() if position else 0
            yield chunk
            chunk = Chunk()
    chunk.bytes_read = position() if position else 0
    yield chunk


def _row(path: Path, line: int, record: Record, mapping: _Mapping,
         spec: ImportSpec) -> tuple[str, str | None, str | None, str, str | None]:
    if len(mapping.text) == 1:  # the common case, kept cheap: this runs once per row
        text = _text_field(path, line, record, mapping.text[0]).strip()
    else:
        parts = [_text_field(path, line, record, c).strip() for c in mapping.text]
        text = "\n".join(p for p in parts if p)
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
        if split not in _SPLITS:
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


def _text_field(path: Path, line: int, record: Record, column: str) -> str:
    value = record.get(column)
    if value is None:
        raise InputError(path, line, f"no {column!r} field")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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


