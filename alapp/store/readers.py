"""Streaming readers for the import formats. Each yields ``(line, record)`` one record at a time.

``line`` is the physical line where the record starts (1-based), so every error can name it.
A record maps column names to values; files without a header name columns "1", "2", ...
"""

from __future__ import annotations

import csv
import json
import re
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


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _StrictJSONError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return record


def _no_constant(name: str) -> Any:
    raise _StrictJSONError(f"{name} is not a JSON value")


class _StrictJSONError(ValueError):
    """What Python's JSON reader accepts and JSON does not."""


# Strict JSON: Python's reader takes NaN and Infinity, and keeps the last of repeated keys.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)


def _json_problem(e: Exception) -> str:
    """What is wrong with a value the JSON reader refused (never several lines)."""
    if isinstance(e, RecursionError):
        return "invalid JSON: nested too deeply"
    if isinstance(e, json.JSONDecodeError):
        return f"invalid JSON: {e.msg}"
    return f"invalid JSON: {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def _loads(path: Path, line: int, text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise InputError(path, line + e.lineno - 1,
                         f"invalid JSON at column {e.colno}: {e.msg}") from None
    except (ValueError, RecursionError) as e:  # NaN, a repeated key, a 5000-digit number
        raise InputError(path, line, _json_problem(e)) from None


def _as_record(path: Path, line: int, value: Any) -> Record:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return {"text": value}
    raise InputError(path, line, f"expected an object or a string, got {type(value).__name__}")


class _JSONText:
    """A text stream read in blocks, with a position in it and the line and column there."""

    def __init__(self, path: Path, stream: IO[str]) -> None:
        self.path, self.stream = path, stream
        self.buffer = stream.read(1 << 16).lstrip("\ufeff")
        self.pos = 0
        self.line = 1
        self.line_start = 0  # where the current line starts in the buffer (< 0: before it)

    def more(self) -> bool:
        """Read on, keeping what is not consumed yet. False at the end of the file."""
        more = self.stream.read(1 << 16)
        if not more:
            return False
        self.buffer = self.buffer[self.pos:] + more
        self.line_start -= self.pos
        self.pos = 0
        return True

    def advance(self, to: int) -> None:
        breaks = self.buffer.count("\n", self.pos, to)
        if breaks:
            self.line += breaks
            self.line_start = self.buffer.rfind("\n", self.pos, to) + 1
        self.pos = to

    def skip_space(self) -> str:
        """Skip JSON white space; the character after it ("" at the end of the file)."""
        while True:
            found = _NOT_SPACE.search(self.buffer, self.pos)
            if found is not None:
                self.advance(found.start())
                return self.buffer[self.pos]
            self.advance(len(self.buffer))
            if not self.more():
                return ""

    def where(self, at: int) -> tuple[int, int]:
        """Line and column of index ``at`` of the buffer (at >= pos)."""
        line = self.line + self.buffer.count("\n", self.pos, at)
        start = self.buffer.rfind("\n", self.pos, at) + 1 or self.line_start
        return line, at - start + 1

    def error(self, at: int, problem: str) -> InputError:
        line, column = self.where(at)
        return InputError(self.path, line, f"invalid JSON at column {column}: {problem}")


_NOT_SPACE = re.compile(r"[^ \t\r\n]")


def _json_array(path: Path, stream: IO[str], max_chars: int) -> Iterator[tuple[int, Record]]:
    """Parse ``[{...}, {...}]`` one element at a time, never holding the whole file. Strictly:
    a comma between elements and nowhere else, nothing but white space after the closing ],
    no NaN or Infinity, no key twice in one object; errors name line and column."""
    text = _JSONText(path, stream)
    first = text.skip_space()
    if first != "[":
        raise InputError(path, text.line, "a JSON file must hold an array of records ([...]); "
                         "for one record per line use the jsonl format")
    text.advance(text.pos + 1)
    if text.skip_space() == "]":
        text.advance(text.pos + 1)
    else:
        while True:
            start_line = text.line
            value = _json_value(text, max_chars)
            yield start_line, _as_record(path, start_line, value)
            after = text.skip_space()
            if after == "]":
                text.advance(text.pos + 1)
                break
            if after == "":
                raise text.error(text.pos, "the array is not closed with ]")
            if after != ",":
                raise text.error(text.pos, "expected ',' or ']' after an element (a missing "
                                 "comma?)")
            text.advance(text.pos + 1)
            if text.skip_space() in ("]", ",", ""):
                raise text.error(text.pos, "expected an element after ',' (a comma too many?)")
    if text.skip_space():
        raise text.error(text.pos, "unexpected text after the closing ] of the array")


def _json_value(text: _JSONText, max_chars: int) -> Any:
    """Decode the value at the cursor, reading on while the buffer ends inside it."""
    while True:
        try:
            value, end = _DECODER.raw_decode(text.buffer, text.pos)
            break
        except json.JSONDecodeError as e:
            # An error well before the end of what is read is the data's, not the buffer's.
            truncated = e.pos >= len(text.buffer) - 16 or e.msg.startswith("Unterminated")
            if not truncated or not text.more():
                raise text.error(e.pos, e.msg) from None
            if len(text.buffer) > max_chars + (1 << 16):
                raise InputError(text.path, text.line, f"a record is longer than the limit of "
                                 f"{max_chars:,} characters") from None
        except (ValueError, RecursionError) as e:
            raise InputError(text.path, text.line, _json_problem(e)) from None
    text.advance(end)
    return value
