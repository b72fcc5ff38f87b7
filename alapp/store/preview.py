"""The first rows of a file as the importer would read them, for the import wizard's preview.

Reads with the same readers, encoding detection, format guess and byte checks as an import, and
nothing more than the first rows, so a preview of a gigabyte file is instant (detection alone may
read on past a long ASCII start, which takes a fraction of a second per gigabyte).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from alapp.store.encoding import locate_decode_error, open_checked
from alapp.store.parsing import ImportSpec
from alapp.store.readers import format_and_encoding, read_records

IMAGE_NAMES = ("image", "img", "picture", "photo", "image_path", "изображение", "картинка",
               "фото", "图片", "图像")


@dataclass
class Preview:
    path: Path
    format: str
    encoding: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # one cell per column, as text
    delimiter: str | None = None  # CSV: the separator the rows were read with
    detected_delimiter: str | None = None  # CSV: the separator the sample suggests
    header_guess: bool | None = None  # CSV/TSV: whether the first row looks like a header

    def guess(self, *names: str) -> str | None:
        """The first column whose name is one of ``names`` (case-insensitive)."""
        lowered = {c.casefold(): c for c in self.columns}
        return next((lowered[n] for n in names if n in lowered), None)

    def text_column(self) -> str | None:
        """"text" if there is one, else the column with the longest values: ids and labels
        are short, the text is not."""
        if not self.columns:
            return None
        named = self.guess("text")
        if named:
            return named
        image = self.image_column()  # base64 images are long, but they are not the text
        lengths = [sum(len(row[c]) for row in self.rows) if self.columns[c] != image else -1
                   for c in range(len(self.columns))]
        return self.columns[lengths.index(max(lengths))]

    def image_column(self) -> str | None:
        """The column that holds images (paths or base64), by its name."""
        return self.guess(*IMAGE_NAMES)


def preview_file(path: str | Path, spec: ImportSpec | None = None, limit: int = 20) -> Preview:
    path = Path(path)
    spec = spec or ImportSpec()
    fmt, encoding = format_and_encoding(path, spec.format, spec.encoding)
    preview = Preview(path, fmt, encoding)
    if fmt in ("csv", "tsv"):
        sample = _sample(path, encoding, not spec.encoding)
        if fmt == "csv":
            preview.detected_delimiter = detect_delimiter(sample)
            spec = replace(spec, delimiter=spec.delimiter or preview.detected_delimiter)
            preview.delimiter = spec.delimiter or ","
        else:
            preview.delimiter = spec.delimiter or "\t"
        preview.header_guess = guess_header(sample, preview.delimiter, fmt == "tsv")
    records = []
    try:
        with open_checked(path, encoding, detected=not spec.encoding) as (stream, _):
            for _, record in read_records(path, stream, fmt, spec.header, spec.max_chars,
                                          spec.delimiter):
                records.append(record)
                for key in record:
                    if key not in preview.columns:
                        preview.columns.append(key)
                if len(records) >= limit:
                    break
    except UnicodeDecodeError:
        raise locate_decode_error(path, encoding, detected=not spec.encoding) from None
    preview.rows = [[_cell(r.get(c)) for c in preview.columns] for r in records]
    return preview


def _cell(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


DELIMITERS = ",;\t|"
_SAMPLE_CHARS = 64 * 1024


def _sample(path: Path, encoding: str, detected: bool) -> str:
    try:
        with open_checked(path, encoding, detected=detected) as (stream, _):
            text = stream.read(_SAMPLE_CHARS)
    except UnicodeDecodeError:
        raise locate_decode_error(path, encoding, detected=detected) from None
    if len(text) == _SAMPLE_CHARS and "\n" in text:  # no half line at the end
        text = text[:text.rindex("\n") + 1]
    return text


def _rows(sample: str, delimiter: str, no_quotes: bool = False, limit: int = 50) -> list[list[str]]:
    reader = csv.reader(sample.splitlines(), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE if no_quotes else csv.QUOTE_MINIMAL)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if row:
                rows.append(row)
            if len(rows) >= limit:
                break
    except csv.Error:
        pass
    return rows


def _consistent(sample: str, delimiter: str) -> bool:
    """More than one field, and the same number of fields on most sample lines."""
    rows = _rows(sample, delimiter)
    if not rows:
        return False
    width, count = Counter(len(r) for r in rows).most_common(1)[0]
    return width > 1 and count >= 0.8 * len(rows)


def detect_delimiter(sample: str) -> str | None:
    """The separator of CSV-like text among ``DELIMITERS``, or None if no one fits."""
    if not sample.strip():
        return None
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed and _consistent(sample, sniffed):
        return sniffed
    # The sniffer can be fooled by a separator inside quoted text; take the candidate whose
    # rows have the most fields, consistently.
    best, best_width = None, 1
    for candidate in DELIMITERS:
        if _consistent(sample, candidate):
            width = Counter(len(r) for r in _rows(sample, candidate)).most_common(1)[0][0]
            if width > best_width:
                best, best_width = candidate, width
    return best


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def guess_header(sample: str, delimiter: str, no_quotes: bool = False) -> bool:
    """Whether the first row of the sample looks like a header: every cell non-numeric,
    non-empty and distinct, and (in some column) different from the values below it; the
    sniffer's own guess decides when the rows below do not tell."""
    rows = _rows(sample, delimiter, no_quotes)
    if not rows:
        return True
    first, rest = [c.strip() for c in rows[0]], rows[1:]
    if any(not c or _numeric(c) for c in first) or len(set(first)) != len(first):
        return False
    if not rest:
        return True
    for c, name in enumerate(first):
        values = {r[c].strip() for r in rest if c < len(r)}
        if name in values:
            return False
    try:
        sniffed = csv.Sniffer().has_header(sample)
    except csv.Error:
        sniffed = True
    if sniffed:
        return True
    # The sniffer says no when every column is text; a row of short distinct names above
    # longer values still reads as a header.
    widths = [sum(len(r[c]) for r in rest if c < len(r)) / len(rest) for c in range(len(first))]
    return any(len(name) < w for name, w in zip(first, widths, strict=True))
