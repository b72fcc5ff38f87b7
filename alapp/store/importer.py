"""Import a file into a project: streaming, validated, all or nothing.

Rows are validated and written in chunks inside one transaction; any error rolls the whole import
back, so the project is exactly as before. Memory stays flat whatever the file size.

Large files are parsed in a child process while this one inserts: parsing and SQLite each take
about half the time, and threads cannot overlap them (both hold the GIL for most of their work;
measured slower than doing both in one thread).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError, Cancelled, InputError
from alapp.core.types import Action, Selection, Source, join_labels, split_labels
from alapp.store.encoding import changed_error, locate_decode_error, open_checked
from alapp.store.parsing import Chunk, ImportSpec, parse_chunks, text_hash
from alapp.store.project import Project
from alapp.store.readers import format_and_encoding
from alapp.store.resolution import add_new_items

__all__ = ["ImportReport", "ImportSpec", "import_file", "text_hash"]

BULK_BYTES = 8 << 20  # above this: rebuild the hash index once, and parse in a child process
Progress = Callable[[int, int], bool]  # (bytes read, total bytes) -> keep going?


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
    images: int = 0  # items imported with an image


@dataclass
class _Job:
    """What a parser needs, in a form that crosses to a child process."""

    path: Path
    encoding: str
    fmt: str
    spec: ImportSpec
    import_id: int
    first_item_id: int
    known_labels: set[str]
    detected: bool  # the encoding was detected, not named by the user
    size: int  # the file's size and modification time when the import started: only that
    mtime_ns: int  # much is read, and a file that changes meanwhile is refused
    id_prefix: str  # for generated ids, one that no id in the project starts with
    multi_label: bool = False  # label values are sets ("a|b", JSON lists): issue 21


class _DryRunDone(Exception):
    """Raised at the end of a dry run to roll its transaction back."""


def import_file(project: Project, path: str | Path, spec: ImportSpec | None = None,
                progress: Progress | None = None, parallel: bool | None = False,
                dry_run: bool = False) -> ImportReport:
    """``parallel``: parse in a child process; None decides by size (above BULK_BYTES).
    ``dry_run``: check the whole file against the project exactly as an import would (the same
    errors, duplicates and counts), then roll back: nothing is written.

    The file is read as it was when the import started (its size then), every byte checked
    against the encoding (see encoding.open_checked); a file that changes meanwhile (another
    program still writing it) is refused rather than imported with its last record cut short.

    Off by default for library callers: a spawned child re-imports the caller's main module,
    which scripts without an ``if __name__ == "__main__"`` guard do not survive. The command
    line and the application pass None.
    """
    path = Path(path)
    spec = spec or ImportSpec()
    if project.spans:  # issue 18: CoNLL, span JSONL or raw text, each text with its tokens
        from alapp.store.span_import import import_spans

        return import_spans(project, path, spec, progress, dry_run)
    fmt, encoding = format_and_encoding(path, spec.format, spec.encoding)
    report = ImportReport(str(path), fmt, encoding)
    started = time.perf_counter()
    stat = path.stat()
    bulk = stat.st_size > BULK_BYTES
    try:
        with project.transaction():
            job = _start(project, path, encoding, fmt, spec, stat)
            chunks = (_parse_in_child(job) if (bulk if parallel is None else parallel)
                      else _parse_here(job))
            _write(project, job, chunks, report, progress, bulk)
            if dry_run:
                raise _DryRunDone()
    except _DryRunDone:
        pass
    except UnicodeDecodeError:
        raise locate_decode_error(path, encoding, detected=not spec.encoding) from None
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _start(project: Project, path: Path, encoding: str, fmt: str, spec: ImportSpec,
           stat: os.stat_result) -> _Job:
    # A name with bytes that are not UTF-8 (any bytes on Linux) reaches Python with surrogates,
    # which SQLite cannot store: keep it readable, those bytes as \xNN.
    name = os.fsencode(path.resolve()).decode("utf-8", "backslashreplace")
    cursor = project._conn.execute(
        "INSERT INTO imports (path, format, encoding, rows, labeled, finished_at) "
        "VALUES (?, ?, ?, 0, 0, 0)", (name, fmt, encoding))
    import_id = int(cursor.lastrowid or 0)
    _check_pairs_match(project, path, spec)
    first = project._conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0]
    return _Job(path, encoding, fmt, spec, import_id, first, set(project.labels()),
                detected=not spec.encoding, size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                id_prefix=_free_prefix(project, import_id), multi_label=project.multi_label)


def _check_pairs_match(project: Project, path: Path, spec: ImportSpec) -> None:
    """A project holds sentence pairs or single texts, never both: a model reads one kind."""
    row = project._conn.execute("SELECT text_b IS NOT NULL FROM items LIMIT 1").fetchone()
    if row is None or bool(row[0]) == bool(spec.text_b):
        return
    if spec.text_b:
        raise InputError(path, None, f"this import reads pairs (second text column "
                         f"{spec.text_b!r}) but the project holds single texts; import pairs "
                         "into a new project")
    raise InputError(path, None, "the project holds sentence pairs; name the second text's "
                     "column (--text-b, or 'second text (pair)' in the import wizard)")


def _free_prefix(project: Project, import_id: int) -> str:
    """The prefix for generated ids ("7-" for rows 7-1, 7-2, ... of import 7), or, where some
    id in the project already starts so ("7-1" given by an earlier file), the first free one of
    "7~2-", "7~3-", ...: the same for the same project, and never a collision."""
    for attempt in range(1, 1_000_000):
        prefix = f"{import_id}-" if attempt == 1 else f"{import_id}~{attempt}-"
        # ext_id's unique index answers the range (every id that starts with the prefix).
        taken = project._conn.execute(
            "SELECT 1 FROM items WHERE ext_id >= ? AND ext_id < ? LIMIT 1",
            (prefix, prefix[:-1] + ".")).fetchone()
        if taken is None:
            return prefix
    raise AlappError("no free prefix for generated ids")  # a million taken: not a real project


def _parse_here(job: _Job) -> Iterator[Chunk]:
    with open_checked(job.path, job.encoding, job.detected, (job.size, job.mtime_ns)) \
            as (stream, position):
        yield from parse_chunks(job.path, stream, job.fmt, job.spec, job.import_id,
                                job.first_item_id, job.known_labels, position=position,
                                id_prefix=job.id_prefix, multi_label=job.multi_label)


def _child_main(job: _Job, out: Any) -> None:
    parent = multiprocessing.parent_process()

    def send(item: Chunk | BaseException | None) -> None:
        while True:
            try:
                out.put(item, timeout=0.5)
                return
            except queue.Full:
                # The parent was killed or crashed: never linger as an orphan. os._exit skips
                # the queue's flush at exit, which would wait forever on an unread pipe.
                if parent is not None and not parent.is_alive():
                    os._exit(1)

    try:
        for chunk in _parse_here(job):
            send(chunk)
        send(None)
    except BaseException as e:  # crosses back and is raised by the parent
        send(e)


def _parse_in_child(job: _Job) -> Iterator[Chunk]:
    # "spawn" everywhere: forking a process that runs Qt or torch threads is unsafe.
    context = multiprocessing.get_context("spawn")
    out = context.Queue(maxsize=4)
    child = context.Process(target=_child_main, args=(job, out), daemon=True,
                            name="alapp-import-parser")
    child.start()
    try:
        while True:
            try:
                item = out.get(timeout=1.0)
            except queue.Empty:
                if not child.is_alive():
                    raise AlappError(f"{job.path}: the import parser stopped unexpectedly "
                                     f"(exit code {child.exitcode})") from None
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        out.close()


def _write(project: Project, job: _Job, chunks: Iterator[Chunk], report: ImportReport,
           progress: Progress | None, bulk: bool) -> None:
    conn, path = project._conn, job.path
    total = job.size
    last_line: int | None = None
    had_items = job.first_item_id > 1
    events_before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0]
    # A big file: rebuilding the hash index once beats updating it per row (measured 2x on
    # 200k rows). DDL is transactional, so a failed import restores the index as it was.
    if bulk:
        conn.execute("DROP INDEX IF EXISTS items_hash")
    for chunk in chunks:
        if chunk.new_labels:
            project._insert_labels(chunk.new_labels)
            report.new_labels.extend(chunk.new_labels)
        _insert_items(project, path, chunk.items)
        if chunk.images:
            conn.executemany("INSERT INTO images (item_id, format, data) VALUES (?, ?, ?)",
                             chunk.images)
            report.images += len(chunk.images)
        if chunk.items:
            last_line = chunk.items[-1][-1]
        if job.multi_label:  # issue 21: each set in the label order, with its rows
            insert_label_sets(project, chunk.events)
        else:
            conn.executemany(
                "INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
                "source, uid, workstation, seq) VALUES (?, 'label', ?, 'import', ?, 'import', "
                "?, ?, ?)", [(*event, *origin) for event, origin
                             in zip(chunk.events, project.origins(len(chunk.events)),
                                    strict=True)])
        report.rows += len(chunk.items)
        report.labeled += len(chunk.events)
        for split, n in chunk.by_split.items():
            report.by_split[split] = report.by_split.get(split, 0) + n
        if progress is not None and not progress(chunk.bytes_read, total):
            raise Cancelled()
    _check_unchanged(job, last_line)
    add_new_items(conn, events_before)  # their training labels (store/resolution.py)
    if report.labeled:
        conn.execute("INSERT OR IGNORE INTO annotators (name, added_at, how) "
                     "VALUES ('import', ?, 'import')", (time.time(),))
    if bulk:
        conn.execute("CREATE INDEX items_hash ON items(hash)")
    if report.rows == 0:
        raise InputError(path, None, "no items found (the file is empty or has only a header)")
    conn.execute("UPDATE imports SET rows = ?, labeled = ?, finished_at = ? WHERE id = ?",
                 (report.rows, report.labeled, time.time(), job.import_id))
    _report_duplicates(project, job.import_id, report, had_items)


def _check_unchanged(job: _Job, last_line: int | None) -> None:
    """The reader checked the file when it reached its end; a writer may have gone on since,
    after a pause: look again, now that every row is in, just before the commit."""
    try:
        stat = job.path.stat()
    except OSError:
        raise InputError(job.path, None, "the file was removed or renamed during the import; "
                         "import it again when it is complete") from None
    if (stat.st_size, stat.st_mtime_ns) != (job.size, job.mtime_ns):
        try:
            with open(job.path, "rb") as f:
                f.seek(max(0, job.size - 1))
                cut = job.size > 0 and f.read(1) not in (b"\n", b"\r")
        except OSError:
            cut = False
        raise changed_error(job.path, job.size, stat.st_size, last_line, cut)


def _insert_items(project: Project, path: Path, items: list[tuple[Any, ...]]) -> None:
    try:
        project._conn.executemany(
            "INSERT INTO items (id, ext_id, text, meta, hash, split, import_id, text_b) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [row[:8] for row in items])
    except sqlite3.IntegrityError:
        raise _explain_duplicate_id(project, path, items) from None


def _explain_duplicate_id(project: Project, path: Path,
                          items: list[tuple[Any, ...]]) -> AlappError:
    """The UNIQUE index caught a repeated id; find which line and why, for the message."""
    seen: dict[str, int] = {}
    for item_id, ext_id, *_rest, import_id, _text_b, line in items:
        if ext_id in seen:
            return InputError(path, line, f"duplicate id {ext_id!r} (first on line {seen[ext_id]})")
        row = project._conn.execute("SELECT id, import_id FROM items WHERE ext_id = ?",
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
    conn = project._conn
    # Into an empty project every row is this import's: counting over the hash index alone
    # is several times faster than filtering by import.
    in_file_sql = ("SELECT COUNT(*) - COUNT(DISTINCT hash) FROM items WHERE import_id = ?"
                   if had_items else
                   "SELECT COUNT(*) - COUNT(DISTINCT hash) FROM items WHERE ? IS NOT NULL")
    report.duplicate_texts_in_file = conn.execute(in_file_sql, (import_id,)).fetchone()[0]
    if had_items:
        report.duplicate_texts_in_project = conn.execute(
            "SELECT COUNT(*) FROM items i WHERE import_id = ? AND EXISTS (SELECT 1 FROM items o "
            "WHERE o.hash = i.hash AND o.import_id IS NOT i.import_id)",
            (import_id,)).fetchone()[0]
    if report.duplicate_texts_in_file or report.duplicate_texts_in_project:
        report.duplicate_examples = [r[0] for r in conn.execute(
            "SELECT ext_id FROM items i WHERE import_id = ? AND EXISTS (SELECT 1 FROM items o "
            "WHERE o.hash = i.hash AND o.id != i.id) LIMIT 5", (import_id,))]


def insert_label_sets(project: Project, events: list[tuple[Any, ...]]) -> None:
    """Imported multi-label decisions (item, "a|b", time): the stored text in the project's
    label order and one ``event_labels`` row per label (inside the import's transaction)."""
    order = project.labels()
    for item_id, label, submitted in events:
        project._insert_event(item_id, Action.LABEL, join_labels(split_labels(label), order),
                              "import", None, None, Selection(Source.IMPORT),
                              submitted_at=submitted, resolve=False)
