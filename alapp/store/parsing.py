"""Turning records into validated rows, ready to insert. Touches no database, so it can run
in a separate process beside the one that writes."""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import InputError
from alapp.core.pairs import join_pair
from alapp.core.types import Split
from alapp.store.images import read_image
from alapp.store.readers import Record, read_records

_SPLITS = frozenset(s.value for s in Split)
CHUNK = 5_000  # rows per chunk: fast to insert, and bounds memory whatever the file size
CHUNK_IMAGE_BYTES = 64 << 20  # a chunk of images is sent on once it holds this many bytes


@dataclass
class ImportSpec:
    """How to read a file and which columns mean what. Columns are names or 1-based numbers.

    In JSON and JSONL each record names its own fields: the roles go by key in every record
    ("label" on line 900 is a label even if line 1 had none), ids are given by every record or
    by none; see _Mapping."""

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
    # The image column: a file path (relative to the file's folder) or base64 bytes per row.
    # None: the "image" column if there is one; "": no image column.
    image: str | None = None
    # Sentence pairs (seed 002): the column of each item's second text, kept apart from
    # ``text`` (see core/pairs.py); every row needs one. None: single texts.
    text_b: str | None = None
    # Span projects (issue 18): the scheme of CoNLL tags (bio, bioes, iob1), and the tokenizer's
    # language for texts without given tokens (None: the project's, else detected).
    scheme: str = "bio"
    language: str | None = None


def text_hash(text: str) -> bytes:
    """Same hash for texts that differ only in case and spacing: those are duplicates to a human."""
    canonical = " ".join(text.split()).casefold()
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).digest()


_KEYED = ("jsonl", "json")  # formats whose records name their fields, each record its own


class _Mapping:
    """Resolves the spec's column references once the first record shows the columns.

    In CSV and TSV the header (or the first row) fixes the columns. JSON records each carry
    their own keys, so there the roles go by key in every record, never by the first record
    alone: a "label" (or the ``spec.label`` key) first seen on line 900 is still the label, not
    metadata. Only the text key must be in the first record (it must be in every record). Ids
    are all or nothing: a record with an "id" after one without (or the other way round) is
    refused with both lines, for the ids that would be generated for some records but not
    others. A key named in the spec that no record has is refused at the end.
    """

    def __init__(self, path: Path, spec: ImportSpec, columns: list[str], header_line: int,
                 keyed: bool) -> None:
        self.path, self.spec, self.columns, self.keyed = path, spec, columns, keyed
        self.text = [self._column(c, header_line, "text", strict=True) for c in spec.text]
        self.text_b = (self._column(spec.text_b, header_line, "second text", strict=True)
                       if spec.text_b else None)
        self.id = self._optional(spec.id, "id", header_line)
        self.label = self._optional(spec.label, "label", header_line)
        self.split = (self._column(spec.split_column, header_line, "split")
                      if spec.split_column else None)
        self.image = self._optional(spec.image, "image", header_line) if spec.image != "" \
            else None
        if spec.image is None and self.image is not None and self.image in self.text:
            self.image = None  # a text column named "image" stays the text
        self.used = {*self.text, self.id, self.label, self.split, self.image,
                     self.text_b}
        # CSV and TSV: every record has the header's columns, so the metadata columns are
        # known once (JSON records each name their own)
        self.others = None if keyed else [c for c in columns if c not in self.used]
        # None: keep every other field of each record (JSON records may differ in their keys)
        self.meta = None if spec.meta is None else [
            self._column(c, header_line, "meta") for c in spec.meta]
        # Keyed formats: the first line with an id and the first without (ids are all or
        # nothing), and the keys the spec names that no record has shown yet.
        self.id_given = spec.id is not None or (self.id is not None and not keyed)
        self.first_with_id: int | None = None
        self.first_without_id: int | None = None
        named = [(spec.id, self.id, "id"), (spec.label, self.label, "label"),
                 (spec.split_column, self.split, "split"), (spec.image or None, self.image,
                                                             "image")]
        self.unseen = {column: role for ref, column, role in named
                       if keyed and ref is not None and column is not None}
        self.unseen.update({c: "meta" for c in self.meta or [] if keyed})

    def _column(self, ref: str, line: int, role: str, strict: bool = False) -> str:
        if ref in self.columns:
            return ref
        if ref.isdigit() and 1 <= int(ref) <= len(self.columns):
            return self.columns[int(ref) - 1]
        if self.keyed and not strict:
            return ref  # a key that a later record may have
        raise InputError(self.path, line, f"no column {ref!r} for the {role} "
                         f"(columns: {_listed(self.columns)})")

    def _optional(self, ref: str | None, default: str, line: int) -> str | None:
        if ref is not None:
            return self._column(ref, line, default)
        return default if default in self.columns or self.keyed else None

    def see(self, line: int, record: Record) -> None:
        """Keyed records: check the ids are all or nothing; note the named keys seen."""
        if self.unseen:
            for column in [c for c in self.unseen if c in record]:
                del self.unseen[column]
        if self.id_given or self.id is None:
            return
        if self.id in record:
            self.first_with_id = self.first_with_id or line
        else:
            self.first_without_id = self.first_without_id or line
        if self.first_with_id and self.first_without_id:
            problem = (f"this record has an {self.id!r} field but the one on line "
                       f"{self.first_without_id} has none" if self.id in record else
                       f"this record has no {self.id!r} field but the one on line "
                       f"{self.first_with_id} has one")
            raise InputError(self.path, line, f"{problem}: give every record an id, or none "
                             "(then ids are generated)")

    def finish(self) -> None:
        for column, role in self.unseen.items():
            raise InputError(self.path, None, f"no record has a {column!r} field (for the "
                             f"{role})")


def _listed(names: list[str], most: int = 12) -> str:
    """Names for a message: quoted (a name may hold a line break or a comma) and not too many."""
    shown = [repr(n if len(n) <= 40 else n[:40] + "…") for n in names[:most]]
    return ", ".join(shown) + (f" and {len(names) - most} more" if len(names) > most else "")


@dataclass
class Chunk:
    items: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    new_labels: list[str] = field(default_factory=list)
    by_split: dict[str, int] = field(default_factory=dict)
    bytes_read: int = 0
    images: list[tuple[int, str, bytes]] = field(default_factory=list)  # (item, format, data)
    image_bytes: int = 0


def parse_chunks(path: Path, stream: IO[str], fmt: str, spec: ImportSpec, import_id: int,
                 first_item_id: int, known_labels: set[str],
                 position: Any = None, id_prefix: str | None = None,
                 multi_label: bool = False) -> Iterator[Chunk]:
    """Read and validate rows, yielding chunks of item and label-event rows.

    ``position`` reports how many bytes were read (for progress), when given. Rows without an
    id get ``id_prefix`` and their number (default: the import's id and "-"); the importer picks
    a prefix no id in the project starts with, so a generated id never collides.
    """
    now = time.time()
    prefix = f"{import_id}-" if id_prefix is None else id_prefix
    mapping: _Mapping | None = None
    chunk = Chunk()
    keyed = fmt in _KEYED
    records = read_records(path, stream, fmt, spec.header, spec.max_chars, spec.delimiter)
    for rows, (line, record) in enumerate(records, start=1):
        if mapping is None:
            header_line = 1 if fmt in ("csv", "tsv") and spec.header else line
            mapping = _Mapping(path, spec, list(record), header_line, keyed)
        try:
            text, ext_id, label, split, meta, image = _row(path, line, record, mapping, spec)
            text_b = (_second_text(path, line, record, mapping.text_b, spec)
                      if mapping.text_b else None)
        except RecursionError:
            raise InputError(path, line, "a value is nested too deeply") from None
        if keyed:
            mapping.see(line, record)
            _check_unicode(path, line, text, ext_id, label, meta)
            if text_b is not None:
                _check_unicode(path, line, text_b, None, None, None)
        item_id = first_item_id + rows - 1
        if label is not None and (multi_label or isinstance(label, LabelSet)
                                  or "|" in label):
            label = _label_set(path, line, label, spec, known_labels, chunk, multi_label)
            chunk.events.append((item_id, label, now))
        elif label is not None:
            if label not in known_labels:
                if not spec.add_labels:
                    known = _listed(sorted(known_labels)) or "no labels"
                    raise InputError(path, line, f"unknown label {label!r} (the project has: "
                                     f"{known}); add it to the project first, or import with "
                                     "--add-labels")
                known_labels.add(label)
                chunk.new_labels.append(label)
            chunk.events.append((item_id, label, now))
        # An image-only item is a duplicate of another with the same image, not of every
        # other image-only item (their texts are all empty). A pair's hash covers both texts
        # and where one ends (NUL is no white space).
        digest = (text_hash(join_pair(text, text_b)) if text or image is None
                  else _image_hash(image[1]))
        chunk.items.append((item_id, ext_id or f"{prefix}{rows}", text, meta,
                            digest, split, import_id, text_b, line))
        chunk.by_split[split] = chunk.by_split.get(split, 0) + 1
        if image is not None:
            chunk.images.append((item_id, *image))
            chunk.image_bytes += len(image[1])
        if len(chunk.items) >= CHUNK or chunk.image_bytes >= CHUNK_IMAGE_BYTES:
            chunk.bytes_read = position() if position else 0
            yield chunk
            chunk = Chunk()
    if mapping is not None:
        mapping.finish()
    chunk.bytes_read = position() if position else 0
    yield chunk


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# Invisible, though not white space or control characters to Unicode: fillers and joiners.
_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u2800"
                     "\u3164\uffa0") | frozenset(map(chr, range(0xfe00, 0xfe10)))


def _visible(text: str) -> bool:
    """Has a character that shows: not white space, a control or format character (zero-width
    space, joiners, BOM, direction marks) or a filler. ``text`` is stripped of white space."""
    first = text[:1]
    if "!" <= first <= "~":
        return True  # the common case, decided by the first character
    for ch in text:
        if ch not in _FILLERS and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES:
            return True
    return False


_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})


def _check_unicode(path: Path, line: int, text: str, ext_id: str | None, label: str | None,
                   meta: str | None) -> None:
    """JSON escapes can spell what no encoding can store: a lone surrogate ("\\ud800")."""
    for what, value in (("text", text), ("id", ext_id), ("label", label), ("metadata", meta)):
        found = _SURROGATE.search(value) if value else None
        if found is not None:
            raise InputError(path, line, f"the {what} contains a lone surrogate "
                             f"(\\u{ord(found.group()):04x}), which is not a character: a "
                             "broken \\u escape in the JSON?")


def _image_hash(data: bytes) -> bytes:
    return hashlib.blake2b(b"image\x00" + data, digest_size=16).digest()


def _image(path: Path, line: int, record: Record,
           mapping: _Mapping) -> tuple[str, bytes] | None:
    value = record.get(mapping.image) if mapping.image else None
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(path, line, "the image must be a file path or base64 text, not "
                         f"{type(value).__name__}")
    return read_image(value, path.parent, path, line) if value.strip() else None


def _second_text(path: Path, line: int, record: Record, column: str,
                 spec: ImportSpec) -> str:
    """The second text of a pair: every row needs one, held to the rules of the first."""
    value = record.get(column)
    if value is None:
        raise InputError(path, line, f"no {column!r} field for the second text of the pair")
    text = (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).strip()
    if not text:
        raise InputError(path, line, f"empty second text in column {column!r} (a pair needs "
                         "both texts)")
    if "\x00" in text:
        raise InputError(path, line, "the second text contains a NUL byte (a binary or "
                         "corrupted file?)")
    if not ("!" <= text[0] <= "~" or _visible(text)):
        raise InputError(path, line, "the second text has nothing visible: only zero-width, "
                         "control or other invisible characters")
    if len(text) > spec.max_chars:
        raise InputError(path, line, f"the second text is longer than the limit of "
                         f"{spec.max_chars:,} characters")
    return text


def _row(path: Path, line: int, record: Record, mapping: _Mapping, spec: ImportSpec
         ) -> tuple[str, str | None, str | None, str, str | None, tuple[str, bytes] | None]:
    image = _image(path, line, record, mapping) if mapping.image else None
    if image is not None and all(record.get(c) is None for c in mapping.text):
        text = ""  # an image-only item (a post without text)
    elif len(mapping.text) == 1:  # the common case, kept cheap: this runs once per row
        text = _text_field(path, line, record, mapping.text[0]).strip()
    else:
        parts = [_text_field(path, line, record, c).strip() for c in mapping.text]
        text = "\n".join(p for p in parts if p)
    if not text:
        if image is None:
            raise InputError(path, line, "empty text")
    elif "\x00" in text:
        raise InputError(path, line, "the text contains a NUL byte (a binary or corrupted file?)")
    elif not ("!" <= text[0] <= "~" or _visible(text)):  # the first test decides most texts
        raise InputError(path, line, "the text has nothing visible: only zero-width, control "
                         "or other invisible characters")
    if len(text) > spec.max_chars:
        raise InputError(path, line, f"the text is longer than the limit of "
                         f"{spec.max_chars:,} characters")
    ext_id = None
    if mapping.id and (mapping.id_given or mapping.id in record):
        ext_id = _scalar(record.get(mapping.id))
        if not ext_id:
            raise InputError(path, line, f"empty id in column {mapping.id!r}")
        if not (ext_id.isascii() and ext_id.isprintable()):  # else the common case: fine
            _check_name(path, line, "id", ext_id)
    raw = record.get(mapping.label) if mapping.label else None
    from_labels_key = raw is None and isinstance(record.get("labels"), list)
    if from_labels_key:  # alapp's own multi-label JSONL export: the set as "labels"
        raw = record["labels"]
    label = _label_list(path, line, raw, spec) if isinstance(raw, list) else _scalar(raw)
    if label is not None and not isinstance(label, LabelSet):
        label = _label(path, line, label, spec)
        if not (label.isascii() and label.isprintable()):
            _check_name(path, line, "label", label)
    split = spec.split.value
    if mapping.split:
        split = (_scalar(record.get(mapping.split)) or spec.split.value).lower()
        if split not in _SPLITS:
            raise InputError(path, line, f"split {split!r} is not one of pool, test, seed")
    meta = None
    if mapping.meta is None:
        fields = ({c: v for c, v in record.items() if c not in mapping.used}
                  if mapping.others is None else
                  {c: record[c] for c in mapping.others} if mapping.others else {})
    else:
        fields = {c: record[c] for c in mapping.meta if c in record}
    if from_labels_key:
        fields.pop("labels", None)
    if fields:
        meta = json.dumps(fields, ensure_ascii=False)
        if "\x00" in meta:
            raise InputError(path, line, "a metadata field contains a NUL byte")
    return text, ext_id, label, split, meta, image


def _check_name(path: Path, line: int, what: str, value: str) -> None:
    """An id or a label (stripped): visible, and free of NUL and other control characters
    (which no one can type, and which tools cut names at)."""
    found = _CONTROL.search(value)
    if found is not None:
        char = found.group()
        name = "a NUL byte" if char == "\x00" else f"the control character U+{ord(char):04X}"
        raise InputError(path, line, f"the {what} {value!r} contains {name}")
    if not _visible(value):
        raise InputError(path, line, f"the {what} {value!r} has no visible character")


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


def _label(path: Path, line: int, raw: str, spec: ImportSpec) -> str:
    if spec.label_names is None:
        return raw
    try:
        index = int(raw) - spec.label_base
        if index < 0:
            raise IndexError
        return spec.label_names[index]
    except (ValueError, IndexError):
        raise InputError(path, line, f"label {raw!r} has no name in the label map "
                         f"({len(spec.label_names)} names from {spec.label_base})") from None


# -- multi-label label lists (issue 21) ---------------------------------------------------------

class LabelSet(str):
    """A label value that came as a JSON list (``"labels": ["a", "b"]``), joined by "|"; ""
    is an empty list ("none of these")."""


def _label_list(path: Path, line: int, raw: list[Any], spec: ImportSpec) -> LabelSet:
    names: list[str] = []
    for value in raw:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise InputError(path, line, f"the label list holds {json.dumps(value)}, not a "
                             "label name")
        name = str(value).strip()
        if not name:
            raise InputError(path, line, "an empty label in the label list")
        name = _label(path, line, name, spec)
        if not (name.isascii() and name.isprintable()):
            _check_name(path, line, "label", name)
        if "|" in name:
            raise InputError(path, line, f"label {name!r} contains '|', which joins the "
                             "labels of a set; give the labels as a list")
        names.append(name)
    return LabelSet("|".join(names))


def _label_set(path: Path, line: int, label: str, spec: ImportSpec, known_labels: set[str],
               chunk: Chunk, multi_label: bool) -> str:
    """A multi-label row's set ("a|b" in a CSV column, or a JSON list), checked: no empty
    label, no label twice, every label known (or added with ``add_labels``)."""
    if not multi_label:
        shown = ", ".join(label.split("|")) or "an empty list"
        raise InputError(path, line, f"several labels ({shown}) but this project takes one "
                         "label per item; create a multi-label project for label sets")
    parts = label.split("|") if label else []
    if any(not p.strip() for p in parts):
        raise InputError(path, line, f"an empty label in {label!r}")
    parts = [p.strip() for p in parts]
    twice = next((p for i, p in enumerate(parts) if p in parts[:i]), None)
    if twice is not None:
        raise InputError(path, line, f"label {twice!r} twice in the set {label!r}")
    for part in parts:
        if part not in known_labels:
            if not spec.add_labels:
                known = _listed(sorted(known_labels)) or "no labels"
                raise InputError(path, line, f"unknown label {part!r} (the project has: "
                                 f"{known}); add it to the project first, or import with "
                                 "--add-labels")
            known_labels.add(part)
            chunk.new_labels.append(part)
    return "|".join(parts)
