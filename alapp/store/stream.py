"""Stream mode, validation samples and metadata strata in the project file (issue 16): what the
stream has let arrive, the import each item came with, and an item's metadata value."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from alapp.core.errors import AlappError
from alapp.core.types import ItemId
from alapp.store.project import Project

SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
META_SAMPLE = 5000  # items whose metadata keys are listed (a key only later items have is rare)


@dataclass
class StreamRows:
    """What a round reads for stream mode, drift and stratification, in its read transaction."""

    # item -> (0 passed, 1 asked, 2 asked as the random share; its score on arrival)
    seen: dict[ItemId, tuple[int, float | None]] = field(default_factory=dict)
    imports: list[int] = field(default_factory=list)  # per item (in id order): its import
    strata: list[str | None] | None = None  # per item: the ``stratify_by`` metadata value


def read(conn: sqlite3.Connection, stratify_by: str, imports: list[int]) -> StreamRows:
    """Inside the round's read transaction; items in id order, as the round reads them.
    ``imports``: each item's import (0: none), read with the items themselves."""
    seen = {ItemId(r[0]): (int(r[1]), r[2]) for r in conn.execute(
        "SELECT item_id, asked, score FROM stream_seen ORDER BY item_id")}
    strata = None
    if stratify_by:
        # A plain key is a JSON path; any other (dots, quotes) is matched by json_each (slower).
        value = ("json_extract(i.meta, '$.' || ?)" if SIMPLE_KEY.fullmatch(stratify_by) else
                 "(SELECT j.value FROM json_each(i.meta) j WHERE j.key = ?)")
        strata = [None if r[0] is None else str(r[0]) for r in conn.execute(
            f"SELECT CASE WHEN json_valid(i.meta) THEN {value} "
            "END FROM items i ORDER BY i.id", (stratify_by,))]
    return StreamRows(seen, imports, strata)


def record(conn: sqlite3.Connection, round_id: int | None,
           seen: Sequence[tuple[ItemId, int, float | None, float | None]]) -> None:
    """Inside the round's transaction: the items the stream let arrive this round (item,
    0 passed / 1 asked / 2 asked as the random share, score, threshold). An item arrives once;
    a second record of it is ignored."""
    conn.executemany(
        "INSERT OR IGNORE INTO stream_seen (item_id, round_id, asked, score, threshold) "
        "VALUES (?, ?, ?, ?, ?)",
        [(int(i), round_id, int(asked), _real(score), _real(held))
         for i, asked, score, held in seen])


def _real(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: none


def status(project: Project) -> dict[str, int]:
    """Items the stream has let arrive, how many it asked, and the pool items still to come."""
    seen, asked = project._conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(asked > 0), 0) FROM stream_seen").fetchone()
    remaining = project._conn.execute(
        "SELECT COUNT(*) FROM items i WHERE split = 'pool' AND NOT EXISTS "
        "(SELECT 1 FROM stream_seen s WHERE s.item_id = i.id)").fetchone()[0]
    return {"seen": int(seen), "asked": int(asked), "passed": int(seen) - int(asked),
            "remaining": int(remaining)}


def meta_keys(project: Project, limit: int = META_SAMPLE) -> list[str]:
    """The metadata keys of the project's items (of the first ``limit`` with metadata)."""
    return [r[0] for r in project._conn.execute(
        "SELECT DISTINCT j.key FROM (SELECT meta FROM items WHERE meta IS NOT NULL "
        "AND json_valid(meta) AND json_type(meta) = 'object' LIMIT ?) m, json_each(m.meta) j "
        "ORDER BY j.key", (limit,))]


def check_stratify_key(project: Project, key: str) -> None:
    """A one-line error when no item has metadata ``key`` (a typo would silently make the
    random share unstratified)."""
    if not key:
        return
    keys = meta_keys(project)
    if key not in keys:
        have = (f"the items' metadata keys are {', '.join(keys)}" if keys else
                "the items have no metadata (import the column with --meta)")
        raise AlappError(f"stratify_by={key!r}: no item has metadata {key!r}; {have}")


def meta_values(project: Project, key: str, ids: Sequence[ItemId]) -> list[tuple[str, object]]:
    """(external id, the ``key`` metadata value or None) of each item in ``ids``, in order."""
    rows = {ItemId(r[0]): (str(r[1]), r[2]) for r in project._conn.execute(
        "SELECT i.id, i.ext_id, CASE WHEN json_valid(i.meta) THEN "
        "(SELECT j.value FROM json_each(i.meta) j WHERE j.key = ?) END FROM items i",
        (key,))}
    return [rows[i] for i in ids]
