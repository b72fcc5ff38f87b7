"""The first rows of a file as the importer would read them, for the import wizard's preview.

Reads with the same readers, encoding detection, format guess and byte checks as an import, and
nothing more than the first rows, so a preview of a gigabyte file is instant (detection alone may
read on past a long ASCII start, which takes a fraction of a second per gigabyte).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alapp.store.encoding import locate_decode_error, open_checked
from alapp.store.parsing import ImportSpec
from alapp.store.readers import format_and_encoding, read_records


@dataclass
class Preview:
    path: Path
    format: str
    encoding: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # one cell per column, as text

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
        lengths = [sum(len(row[c]) for row in self.rows) for c in range(len(self.columns))]
        return self.columns[lengths.index(max(lengths))]


def preview_file(path: str | Path, spec: ImportSpec | None = None, limit: int = 20) -> Preview:
    path = Path(path)
    spec = spec or ImportSpec()
    fmt, encoding = format_and_encoding(path, spec.format, spec.encoding)
    preview = Preview(path, fmt, encoding)
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
