"""``alapp copy SOURCE DEST``: a project moved between stores (issue 20) — a file to a
PostgreSQL database, a database to a file, a file to a file — losing nothing
(store/copy.py says how: every table, one snapshot, all or nothing, never overwriting)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from alapp.store import copy as store_copy

CopyReport = store_copy.CopyReport


def copy_project(source: str | Path, dest: str | Path,
                 progress: Callable[[str], None] | None = None,
                 every_s: float = 2.0) -> CopyReport:
    """Copy ``source`` to ``dest``. ``progress`` gets a line now and then (at most one every
    ``every_s`` seconds, and one as each large table is done): the table, rows done of rows."""
    last = [time.monotonic()]

    def step(table: str, done: int, total: int) -> None:
        if progress is None:
            return
        now = time.monotonic()
        finished = done == total and total > store_copy.CHUNK
        if finished or now - last[0] >= every_s:
            last[0] = now
            share = f" ({100 * done // total}%)" if total else ""
            progress(f"copying {table}: {done:,} of {total:,} rows{share}")

    return store_copy.copy_project(source, dest, step)


def report_text(report: CopyReport) -> str:
    """What the command prints once the copy is complete."""
    rows = report.rows
    return (f"copied {report.source} to {report.dest}: {rows.get('items', 0):,} items, "
            f"{rows.get('label_events', 0):,} label events, {rows.get('models', 0):,} model "
            f"versions; {report.total:,} rows in {len(rows)} tables in {report.seconds:.1f} s "
            "(the same project: its id, events and their workstations are kept)")
