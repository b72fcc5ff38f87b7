"""Export the current labels with who labeled what, when, and how long it took.

Written to a temporary file beside the target and renamed into place, so a crash never leaves a
half-written export, and an existing file is replaced only when the caller asks for it.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import AlappError
from alapp.core.types import split_labels
from alapp.store.project import Project

EXPORT_FORMATS = ("jsonl", "csv", "prodigy")
CSV_COLUMNS = ("id", "text", "label", "split", "annotator", "labeled_at", "started_at",
               "active_seconds", "source", "strategy", "meta")

# The event that set each item's current label, with its item.
_LABELED_SQL = """
    SELECT i.ext_id, i.text, i.split, i.meta, e.label, e.annotator, e.started_at,
           e.submitted_at, e.active_ms, e.source, e.strategy
    FROM label_events e
    JOIN (SELECT item_id, MAX(id) AS id FROM label_events
          WHERE action IN ('label', 'undo') GROUP BY item_id) last ON e.id = last.id
    JOIN items i ON i.id = e.item_id
    WHERE e.label IS NOT NULL
    ORDER BY i.id
"""


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def labeled_rows(project: Project) -> Iterator[dict[str, Any]]:
    for (ext_id, text, split, meta, label, annotator, started, submitted, active_ms,
         source, strategy) in project._conn.execute(_LABELED_SQL):
        yield {
            "id": ext_id, "text": text, "label": label, "split": split,
            "annotator": annotator, "labeled_at": _iso(submitted), "started_at": _iso(started),
            "active_seconds": None if active_ms is None else round(active_ms / 1000, 3),
            "source": source, "strategy": strategy, "meta": json.loads(meta) if meta else None,
            "labels": split_labels(label),  # the set, for multi-label projects
            "_submitted": submitted,
        }


def export_labels(project: Project, out: str | Path, fmt: str | None = None,
                  overwrite: bool = False) -> int:
    """Write every labeled item; returns how many."""
    out = Path(out)
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl"}.get(out.suffix.lower())
    if fmt not in EXPORT_FORMATS:
        raise AlappError(f"{out}: choose the export format ({', '.join(EXPORT_FORMATS)})")
    if out.exists() and not overwrite:
        raise AlappError(f"{out}: already exists; choose another name or allow overwriting")
    if not out.parent.is_dir():
        raise AlappError(f"{out.parent}: no such folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            count = _WRITERS[fmt](labeled_rows(project), stream)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return count


def _write_jsonl(rows: Iterator[dict[str, Any]], stream: IO[str]) -> int:
    count = 0
    for row in rows:
        row.pop("_submitted")
        if len(row["labels"]) == 1:
            row.pop("labels")  # single-label rows keep the plain layout
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_csv(rows: Iterator[dict[str, Any]], stream: IO[str]) -> int:
    stream.write("\ufeff")  # so Excel opens UTF-8 Russian and Chinese text correctly
    writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in rows:
        if row["meta"] is not None:
            row["meta"] = json.dumps(row["meta"], ensure_ascii=False)
        writer.writerow(row)
        count += 1
    return count


def _write_prodigy(rows: Iterator[dict[str, Any]], stream: IO[str]) -> int:
    """Prodigy's task layout: accepted text classification answers."""
    count = 0
    for row in rows:
        task = {
            "text": row["text"], "label": row["label"], "accept": row["labels"],
            "answer": "accept", "meta": {"id": row["id"], **(row["meta"] or {})},
            "_timestamp": int(row["_submitted"]), "_annotator_id": row["annotator"],
        }
        stream.write(json.dumps(task, ensure_ascii=False) + "\n")
        count += 1
    return count


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "prodigy": _write_prodigy}
