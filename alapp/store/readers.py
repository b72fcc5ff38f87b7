"""Streaming readers for the import formats. Each yields ``(line, record)`` one record at a time.

``line`` is the physical line where the record starts (1-based), so every error can name it.
A record maps column names to values; files without a header name columns "1", "2", ...
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from alapp.core.errors import InputError
from alapp.store.encoding import detect_encoding, normalize_encoding

FORMATS = ("csv", "tsv", "jsonl", "json", "txt", "labeled-txt")
_BY_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".json": "json", ".txt": "txt"}

Record = dict[str, Any]
Quoting = Literal[0, 1, 2, 3]  # csv.QUOTE_* values


def guess_format(path: Path) -> str:
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise InputError(path, None, f"cannot tell the format from the name; choose one of "
                         f"{', '.join(FORMATS)} (--format)")
    return fmt


def format_and_encoding(path: Path, fmt: str | None, encoding: str | None) -> tuple[str, str]:
    """How to read ``path``: the format and encoding asked for, or guessed and detected.
    The import and its preview must agree on this, so both ask here."""
    if not path.is_file():
        raise InputError(path, None, "no such file")
    return (fmt or guess_format(path),
            normalize_encoding(encoding) if encoding else detect_encoding(path))


def read_records(path: Path, stream: IO[str], fmt: str, header: bool, max_chars: int,
                 delimiter: str | None = None) -> Iterator[tuple[int, Record]]:
    if fmt in ("csv", "tsv"):
        sep = delimiter or ("\t" if fmt == "tsv" else ",")
        # TSV files from spreadsheets and corpora use no quoting: a quote is just a character.
        quoting: Quoting = 3 if fmt == "tsv" else 0  # csv.QUOTE_NONE, csv.QUOTE_MINIMAL
        yield from _delimited(path, stream, sep, quoting, header, max_chars)
    elif fmt == "jsonl":
        yield from _jsonl(path, stream, max_chars)
    elif fmt == "json":
        yield from _json_array(path, stream, max_chars)
    elif fmt == "txt":
        for line, text in _lines(path, stream, max_chars):
            yield line, {"text": text}
    elif fmt == "labeled-txt":
        for line, text in _lines(path, stream, max_chars):
            label, _, rest = text.partition(" ")
            yield line, {"label": label.removeprefix("__label__"), "text": rest}
    else:
        raise InputError(path, None, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _delimited(path: Path, stream: IO[str], sep: str, quoting: Quoting, header: bool,
               max_chars: int) -> Iterator[tuple[int, Record]]:
    csv.field_size_limit(max_chars)
    reader = csv.reader(stream, delimiter=sep, quoting=quoting, strict=True)
    names: list[str] | None = None
    line = 1
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                line = reader.line_num + 1
                continue  # blank line
            if names is None:
                if header:
                    names = [n.strip().lstrip("\ufeff") for n in row]
                    _check_header(path, line, names)
                    line = reader.line_num + 1
                    continue
                names = [str(i + 1) for i in range(len(row))]
            if len(row) != len(names):
                what = "the header has" if header else "the first row has"
                raise InputError(path, line, f"{len(row)} fields, but {what} {len(names)}")
            yield line, dict(zip(names, row, strict=True))
            line = reader.line_num + 1
    except csv.Error as e:
        problem = str(e)
        if "field larger than field limit" in problem:
            problem = f"a field is longer than the limit of {max_chars:,} characters"
        raise InputError(path, reader.line_num or line, problem) from None


def _check_header(path: Path, line: int, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(path, line, f"column {name!r} appears twice in the header")
        seen.add(name)


def _lines(path: Path, stream: IO[str], max_chars: int) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        text = raw.rstrip("\r\n")
        if number == 1:
            text = text.lstrip("\ufeff")
        if len(text) > max_chars:
            raise InputError(path, number, f"line is longer than the limit of {max_chars:,} "
                             "characters")
        if text.strip():
            yield number, text


def _jsonl(path: Path, stream: IO[str], max_chars: int) -> Iterator[tuple[int, Record]]:
    for line, text in _lines(path, stream, max_chars):
        yield line, _as_record(path, line, _loads(path, line, text))


def _loads(path: Path, line: int, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, line + e.lineno - 1, f"invalid JSON: {e.msg}") from None


def _as_record(path: Path, line: int, value: Any) -> Record:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"text": value}
    raise InputError(path, line, f"expected an object or a string, got {type(value).__name__}")


def _json_array(path: Path, stream: IO[str], max_chars: int) -> Iterator[tuple[int, Record]]:
    """Parse ``[{...}, {...}]`` one element at a time, never holding the whole file."""
    decoder = json.JSONDecoder()
    buffer = stream.read(1 << 16).lstrip("\ufeff")
    line = 1
    pos = 0

    def skip(chars: str) -> None:
        nonlocal buffer, pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in chars:
                line += buffer[pos] == "\n"
                pos += 1
            if pos < len(buffer):
                return
            more = stream.read(1 << 16)
            if not more:
                return
            buffer, pos = more, 0

    skip(" \t\r\n")
    if pos >= len(buffer) or buffer[pos] != "[":
        raise InputError(path, line, "a JSON file must hold an array of records ([...]); "
                         "for one record per line use the jsonl format")
    pos += 1
    while True:
        skip(" \t\r\n,")
        if pos >= len(buffer):
            raise InputError(path, line, "the JSON array is not closed with ]")
        if buffer[pos] == "]":
            return
        start_line = line
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as e:
                more = stream.read(1 << 16)
                if not more:
                    raise InputError(path, start_line + buffer.count("\n", pos, e.pos),
                                     f"invalid JSON: {e.msg}") from None
                buffer = buffer[pos:] + more
                pos = 0
                if len(buffer) > max_chars + (1 << 16):
                    raise InputError(path, start_line, f"a record is longer than the limit of "
                                     f"{max_chars:,} characters") from None
        line += buffer.count("\n", pos, end)
        pos = end
        yield start_line, _as_record(path, start_line, value)
