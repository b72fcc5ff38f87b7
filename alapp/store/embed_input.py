"""The texts of a file to embed in bulk (``alapp embed``): an id and a text per row, from
Parquet, JSONL, CSV or TSV, read in fixed chunks and never all at once.

Each row is checked as an import would check it (store/parsing.py): the text stripped, not
empty, no NUL, something visible; the id present, visible, free of control characters. So the
vectors written for an id are the vectors of the text the project stores for it. A bad row is
one error naming the file and the line (the row, in a Parquet file).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alapp.core.errors import AlappError, InputError
from alapp.store.encoding import open_checked
from alapp.store.parsing import _check_name, _check_unicode, _scalar, _visible
from alapp.store.readers import format_and_encoding, read_records

EMBED_FORMATS = ("parquet", "jsonl", "csv", "tsv")
MAX_CHARS = 1_000_000  # the import's limit per text


@dataclass(frozen=True)
class InputFacts:
    """What identifies an input: a rerun into the same folder must read the same bytes."""

    path: str
    size: int
    sha256: str
    rows: int
    format: str


@dataclass
class Chunk:
    start: int  # row position of the first row (0-based)
    ids: list[str]
    texts: list[str]


def input_format(path: Path) -> str:
    if path.suffix.lower() == ".parquet":
        if not path.is_file():
            raise InputError(path, None, "no such file")
        return "parquet"
    fmt, _ = format_and_encoding(path, None, None)
    if fmt not in EMBED_FORMATS:
        raise InputError(path, None, f"alapp embed reads {', '.join(EMBED_FORMATS)} files, not "
                         f"{fmt}")
    return fmt


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_chunks(path: Path, id_field: str, text_field: str, rows: int
                ) -> Iterator[Chunk]:
    """The file's rows, ``rows`` at a time (the last chunk may be shorter), checked."""
    fmt = input_format(path)
    ids: list[str] = []
    texts: list[str] = []
    start = 0
    for line, raw_id, raw_text in _records(path, fmt, id_field, text_field):
        ids.append(_row_id(path, line, raw_id, id_field))
        texts.append(_row_text(path, line, raw_text, text_field))
        if len(ids) == rows:
            yield Chunk(start, ids, texts)
            start += rows
            ids, texts = [], []
    if ids:
        yield Chunk(start, ids, texts)


def scan(path: Path, id_field: str, text_field: str) -> InputFacts:
    """Read the whole file once, checking every row and that no id repeats (by 8-byte hashes,
    so ten million ids take 80 MB, not a set of strings); its size and SHA-256."""
    fmt = input_format(path)
    size = path.stat().st_size
    hashes: list[np.ndarray[Any, np.dtype[np.uint64]]] = []
    count = 0
    for chunk in read_chunks(path, id_field, text_field, 50_000):
        hashes.append(_id_hashes(chunk.ids))
        count += len(chunk.ids)
    if count == 0:
        raise InputError(path, None, "no rows to embed")
    every = np.sort(np.concatenate(hashes))
    if np.any(every[1:] == every[:-1]):
        _name_duplicate(path, id_field, text_field, fmt)
    if path.stat().st_size != size:
        raise InputError(path, None, "the file changed while it was read")
    return InputFacts(str(path.resolve()), size, file_sha256(path), count, fmt)


def _id_hashes(ids: list[str]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    return np.fromiter((int.from_bytes(hashlib.blake2b(i.encode("utf-8", "surrogatepass"),
                                                       digest_size=8).digest(), "little")
                        for i in ids), dtype=np.uint64, count=len(ids))


def _name_duplicate(path: Path, id_field: str, text_field: str, fmt: str) -> None:
    seen: dict[str, int] = {}
    for line, raw_id, _ in _records(path, fmt, id_field, text_field):
        ext_id = _row_id(path, line, raw_id, id_field)
        if ext_id in seen:
            raise InputError(path, line, f"the id {ext_id!r} appears twice (first on "
                             f"{'row' if fmt == 'parquet' else 'line'} {seen[ext_id]}); "
                             "every row needs its own id")
        seen[ext_id] = line


def _row_id(path: Path, line: int, raw: Any, field: str) -> str:
    ext_id = _scalar(raw)
    if not ext_id:
        raise InputError(path, line, f"empty id in column {field!r}")
    if not (ext_id.isascii() and ext_id.isprintable()):
        _check_name(path, line, "id", ext_id)
        _check_unicode(path, line, "", ext_id, None, None)
    return ext_id


def _row_text(path: Path, line: int, raw: Any, field: str) -> str:
    if raw is None:
        raise InputError(path, line, f"no {field!r} field")
    text = (raw if isinstance(raw, str) else str(raw)).strip()
    if not text:
        raise InputError(path, line, "empty text")
    if "\x00" in text:
        raise InputError(path, line, "the text contains a NUL byte (a binary or corrupted file?)")
    if not ("!" <= text[0] <= "~" or _visible(text)):
        raise InputError(path, line, "the text has nothing visible: only zero-width, control "
                         "or other invisible characters")
    if len(text) > MAX_CHARS:
        raise InputError(path, line, f"the text is longer than the limit of {MAX_CHARS:,} "
                         "characters")
    if not text.isascii():
        _check_unicode(path, line, text, None, None, None)
    return text


def _records(path: Path, fmt: str, id_field: str, text_field: str
             ) -> Iterator[tuple[int, Any, Any]]:
    """(line, raw id, raw text) per row; the line is the row number (1-based) in Parquet."""
    if fmt == "parquet":
        yield from _parquet(path, id_field, text_field)
        return
    _, encoding = format_and_encoding(path, fmt, None)
    with open_checked(path, encoding, detected=True) as (stream, _tell):
        for line, record in read_records(path, stream, fmt, True, MAX_CHARS):
            if id_field not in record:
                raise InputError(path, line, f"no {id_field!r} field (--id-field names the "
                                 "column of ids)")
            if text_field not in record:
                raise InputError(path, line, f"no {text_field!r} field (--text-field names the "
                                 "column of texts)")
            yield line, record[id_field], record[text_field]


def _parquet(path: Path, id_field: str, text_field: str) -> Iterator[tuple[int, Any, Any]]:
    pq = _pyarrow_parquet()
    try:
        file = pq.ParquetFile(path)
    except Exception as e:  # pyarrow's ArrowInvalid and OSError: not a Parquet file
        raise InputError(path, None, f"not a readable Parquet file ({_first_line(e)})") \
            from None
    names = file.schema_arrow.names
    for field, option in ((id_field, "--id-field"), (text_field, "--text-field")):
        if field not in names:
            raise InputError(path, None, f"no column {field!r} (columns: "
                             f"{', '.join(names[:12])}); {option} names it")
    row = 1
    try:
        for batch in file.iter_batches(batch_size=10_000, columns=[id_field, text_field]):
            ids = batch.column(0).to_pylist()
            texts = batch.column(1).to_pylist()
            for ext_id, text in zip(ids, texts, strict=True):
                yield row, ext_id, text
                row += 1
    except InputError:
        raise
    except Exception as e:  # a damaged page: name where reading stopped
        raise InputError(path, row, f"cannot read the Parquet file here ({_first_line(e)})") \
            from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise AlappError("reading and writing Parquet needs pyarrow: pip install "
                         "'alapp[cluster]'") from None
    return pq
