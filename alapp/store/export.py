"""Export the current labels with who labeled what, when, and how long it took.

Written to a temporary file beside the target, fsynced and renamed into place
(``core.files.atomic_output``), so a crash or a full disk never leaves a half-written export and
never truncates the old one; an existing file is replaced only when the caller asks for it, and
never when it is the project itself or a file beside it (its log, its lock), under any name: a
symbolic link or a hard link to it is the same file.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import AlappError
from alapp.core.files import atomic_output, refuse_protected
from alapp.store.project import Project

EXPORT_FORMATS = ("jsonl", "csv", "prodigy")
CSV_COLUMNS = ("id", "text", "label", "split", "annotator", "labeled_at", "started_at",
               "active_seconds", "source", "strategy", "meta", "flagged", "flag_note")

# The event that set each item's current label, with its item and its latest flag's comment
# (NULL: never flagged; '' flagged without a comment).
_LABELED_SQL = """
    SELECT e.id, i.ext_id, i.text, i.split, i.meta, e.label, e.annotator, e.started_at,
           e.submitted_at, e.active_ms, e.source, e.strategy, flag.note, i.text_b,
           img.format, img.data
    FROM label_events e
    JOIN item_labels last ON e.id = last.event_id
    JOIN items i ON i.id = e.item_id
    LEFT JOIN (SELECT f.item_id, COALESCE(f.note, '') AS note FROM label_events f
               JOIN (SELECT item_id, MAX(id) AS id FROM label_events
                     WHERE action = 'flag' GROUP BY item_id) lf ON f.id = lf.id) flag
           ON flag.item_id = i.id
    LEFT JOIN images img ON img.item_id = i.id
    WHERE e.label IS NOT NULL
    ORDER BY i.id
"""


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


# Issue 19, ``--annotators``: every item someone decided on, tied ones too (no training label
# and no event: ``label`` null), with how its training label was reached.
_DECIDED_SQL = """
    SELECT e.id, last.item_id, last.how, i.ext_id, i.text, i.split, i.meta, last.label,
           e.annotator, e.started_at, e.submitted_at, e.active_ms, e.source, e.strategy,
           flag.note, i.text_b, img.format, img.data
    FROM item_labels last
    JOIN items i ON i.id = last.item_id
    LEFT JOIN label_events e ON e.id = last.event_id
    LEFT JOIN (SELECT f.item_id, COALESCE(f.note, '') AS note FROM label_events f
               JOIN (SELECT item_id, MAX(id) AS id FROM label_events
                     WHERE action = 'flag' GROUP BY item_id) lf ON f.id = lf.id) flag
           ON flag.item_id = i.id
    LEFT JOIN images img ON img.item_id = i.id
    ORDER BY i.id
"""


def labeled_rows(project: Project, annotators: bool = False) -> Iterator[dict[str, Any]]:
    """Each labeled item; ``labels`` is the set a multi-label decision chose (read from its
    ``event_labels`` rows, in the label order; empty: "none of these"), else ``[label]``.
    ``annotators`` (issue 19): every item anyone decided on, tied ones too, each row with
    ``annotators`` ({name: their standing label}) and ``how`` its label was reached."""
    if annotators:
        yield from _rows_with_annotators(project)
        return
    multi = project.multi_label
    # A project with images exports each item's image as a data: URI (empty without one), so
    # the export imports back whole, image-only posts included.
    with_images = project._conn.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None
    for (event_id, ext_id, text, split, meta, label, annotator, started, submitted, active_ms,
         source, strategy, flag_note, text_b, image_format, image) in project._conn.execute(
            _LABELED_SQL):
        # A sentence pair's second text follows the first (only pairs have the key).
        pair = {} if text_b is None else {"text_b": text_b}
        picture = {"image": _data_uri(image_format, image)} if with_images else {}
        yield {
            "id": ext_id, "text": text, **pair, **picture, "label": label, "split": split,
            "annotator": annotator, "labeled_at": _iso(submitted), "started_at": _iso(started),
            "active_seconds": None if active_ms is None else round(active_ms / 1000, 3),
            "source": source, "strategy": strategy, "meta": json.loads(meta) if meta else None,
            "flagged": flag_note is not None, "flag_note": flag_note or "",
            "labels": project.label_set(event_id) if multi else [label],
            "_submitted": submitted,
        }


def _rows_with_annotators(project: Project) -> Iterator[dict[str, Any]]:
    from alapp.store.team import item_votes

    multi = project.multi_label
    votes = item_votes(project)
    with_images = project._conn.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None
    for (event_id, item_id, how, ext_id, text, split, meta, label, annotator, started,
         submitted, active_ms, source, strategy, flag_note, text_b, image_format,
         image) in project._conn.execute(_DECIDED_SQL):
        pair = {} if text_b is None else {"text_b": text_b}
        picture = {"image": _data_uri(image_format, image)} if with_images else {}
        yield {
            "id": ext_id, "text": text, **pair, **picture, "label": label, "how": how,
            "annotators": {v.annotator: v.label for v in votes.get(item_id, [])},
            "split": split, "annotator": annotator, "labeled_at": _iso(submitted),
            "started_at": _iso(started),
            "active_seconds": None if active_ms is None else round(active_ms / 1000, 3),
            "source": source, "strategy": strategy, "meta": json.loads(meta) if meta else None,
            "flagged": flag_note is not None, "flag_note": flag_note or "",
            "labels": (project.label_set(event_id) if event_id is not None else [])
            if multi else [label],
            "_submitted": submitted,
        }


def _data_uri(image_format: str | None, data: bytes | None) -> str:
    if data is None:
        return ""
    return f"data:image/{image_format};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


def export_labels(project: Project, out: str | Path, fmt: str | None = None,
                  overwrite: bool = False, scheme: str = "bio", annotators: bool = False) -> int:
    """Write every labeled item; returns how many. A span project writes CoNLL (tags in
    ``scheme``) or span JSONL (``store/span_export.py``). ``annotators`` (issue 19): every
    decided item with each annotator's label and how the final one was reached (JSONL: an
    ``annotators`` object and ``how``; CSV: an ``annotator:NAME`` column each and ``how``)."""
    if annotators and project.spans:
        raise AlappError("--annotators: a span project's export has no per-annotator form; "
                         "export jsonl or conll without it")
    if annotators and (fmt or "") == "prodigy":
        raise AlappError("--annotators: write jsonl or csv (Prodigy's format has one answer "
                         "per task)")
    if project.spans:  # issue 18
        from alapp.store.span_export import export_spans

        return export_spans(project, out, fmt, scheme, overwrite)
    out = Path(out)
    fmt = fmt or {".csv": "csv", ".jsonl": "jsonl"}.get(out.suffix.lower())
    if fmt not in EXPORT_FORMATS:
        raise AlappError(f"{out}: choose the export format ({', '.join(EXPORT_FORMATS)})")
    refuse_protected(out, (project.path,))  # the project, its -wal, -shm, lock: never
    if out.exists() and not overwrite:
        raise AlappError(f"{out}: already exists; choose another name or allow overwriting")
    if not out.parent.is_dir():
        raise AlappError(f"{out.parent}: no such folder")
    labels = project.labels() if project.multi_label else None
    with atomic_output(out, newline="", protect=(project.path,)) as stream:
        extra = {} if labels is None else {"multi": labels}  # a multi-label project's labels
        if annotators:  # issue 19: every annotator's column, in name order
            from alapp.store.team import item_votes

            extra["people"] = sorted({v.annotator for votes in item_votes(project).values()
                                      for v in votes})
        count = _WRITERS[fmt](labeled_rows(project, annotators), stream, **extra)
    return count


def _write_jsonl(rows: Iterator[dict[str, Any]], stream: IO[str],
                 multi: list[str] | None = None, people: list[str] | None = None) -> int:
    """One object per item; a multi-label project's rows carry the set as ``labels`` (a
    list, [] for "none of these") next to the joined ``label``."""
    count = 0
    for row in rows:
        row.pop("_submitted")
        if multi is None:
            row.pop("labels")  # single-label rows keep the plain layout
        stream.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_csv(rows: Iterator[dict[str, Any]], stream: IO[str],
               multi: list[str] | None = None, people: list[str] | None = None) -> int:
    """One row per item; a multi-label project adds one column per label ("label:NAME", 1 or
    0) after the joined ``label`` column ("a|b", empty for "none of these")."""
    stream.write("\ufeff")  # so Excel opens UTF-8 Russian and Chinese text correctly
    first = next(rows, None)
    columns = list(CSV_COLUMNS)
    if first is not None and "text_b" in first:  # a project of pairs: all rows have one
        columns.insert(columns.index("text") + 1, "text_b")
    if first is not None and "image" in first:  # a project with images
        columns.insert(columns.index("text") + 1, "image")
    if multi is not None:
        at = columns.index("label") + 1
        columns[at:at] = [f"label:{name}" for name in multi]
    if people is not None:  # issue 19: how the label was reached, each annotator's label
        at = columns.index("label") + 1
        columns[at:at] = ["how", *(f"annotator:{name}" for name in people)]
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for row in itertools.chain([first] if first is not None else [], rows):
        for name in multi or ():
            row[f"label:{name}"] = 1 if name in row["labels"] else 0
        if row["meta"] is not None:
            row["meta"] = json.dumps(row["meta"], ensure_ascii=False)
        row["flagged"] = "true" if row["flagged"] else "false"
        for name in people or ():
            row[f"annotator:{name}"] = row["annotators"].get(name, "")
        writer.writerow(row)
        count += 1
    return count


def _write_prodigy(rows: Iterator[dict[str, Any]], stream: IO[str],
                   multi: list[str] | None = None) -> int:
    """Prodigy's task layout: accepted text classification answers; a multi-label project's
    as Prodigy's textcat choice tasks (every label an option, the chosen ones in ``accept``)."""
    count = 0
    for row in rows:
        # Only flagged items carry the flag in their meta, which Prodigy shows on the card.
        flag = {"flagged": True, "flag_note": row["flag_note"]} if row["flagged"] else {}
        if "text_b" in row:
            flag["text_b"] = row["text_b"]
        picture = {"image": row["image"]} if row.get("image") else {}
        task = {
            **picture, "text": row["text"], "label": row["label"], "accept": row["labels"],
            "answer": "accept", "meta": {"id": row["id"], **(row["meta"] or {}), **flag},
            "_timestamp": int(row["_submitted"]), "_annotator_id": row["annotator"],
        }
        if multi is not None:
            task.pop("label")
            task["options"] = [{"id": name, "text": name} for name in multi]
        stream.write(json.dumps(task, ensure_ascii=False) + "\n")
        count += 1
    return count


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "prodigy": _write_prodigy}
