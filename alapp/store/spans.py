"""Span projects in the file (issue 18): items' tokens, span decisions as rows, and what the
span round reads.

Every item of a span project has its tokens stored (``item_tokens``) when it is imported:
given by the file (CoNLL, JSONL "tokens") or made by ``core.spans.tokenize`` in the project's
language. A decision is checked against the item's own text and tokens before it is written
(in range, on token boundaries, a known type, no overlap); it is stored as canonical text in
``label_events.label`` and as one ``event_spans`` row per span, whose type references
``labels``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alapp.core.errors import AlappError
from alapp.core.spans import (
    Span,
    TokenOffsets,
    check_spans,
    decode_spans,
    detect_language,
    encode_spans,
    tokenize,
)
from alapp.core.types import ItemId, Split

if TYPE_CHECKING:  # project.py calls in here for its span hooks: no import cycle
    from alapp.store.project import Project

_CHUNK = 900  # ids per query: under SQLite's variable limit


def encode_tokens(tokens: TokenOffsets) -> str:
    return json.dumps([[a, b] for a, b in tokens], separators=(",", ":"))


def decode_tokens(stored: str) -> TokenOffsets:
    return [(int(a), int(b)) for a, b in json.loads(stored)]


def save_tokens(conn: sqlite3.Connection,
                rows: Iterable[tuple[int, TokenOffsets, bool]]) -> None:
    """Store (item, tokens, given by the file) rows, inside the caller's transaction."""
    conn.executemany("INSERT OR REPLACE INTO item_tokens (item_id, offsets, given) "
                     "VALUES (?, ?, ?)", [(i, encode_tokens(t), int(g)) for i, t, g in rows])


def tokens_of(project: Project, ids: Sequence[ItemId]) -> list[TokenOffsets | None]:
    """Each item's stored tokens, in the order of ``ids`` (None: the item has none)."""
    found: dict[int, TokenOffsets] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start:start + _CHUNK])
        marks = ",".join("?" * len(chunk))
        found.update((i, decode_tokens(o)) for i, o in project._conn.execute(
            f"SELECT item_id, offsets FROM item_tokens WHERE item_id IN ({marks})", chunk))
    return [found.get(i) for i in ids]


def project_language(project: Project, texts: Sequence[str]) -> str:
    """The project's tokenizer language, or the one ``texts`` are written in when unset."""
    return project.settings().span_language or detect_language(texts)


def tokenize_missing(project: Project, import_id: int | None = None) -> int:
    """Tokenize the items (of one import, or all) that have no tokens yet, in the project's
    language (detected from those texts when unset); returns how many. Inside the caller's
    transaction: an import of raw texts into a span project ends here."""
    where = "" if import_id is None else "AND i.import_id = ?"
    args: tuple[int, ...] = () if import_id is None else (import_id,)
    rows = project._conn.execute(
        "SELECT i.id, i.text FROM items i LEFT JOIN item_tokens t ON t.item_id = i.id "
        f"WHERE t.item_id IS NULL {where} ORDER BY i.id", args).fetchall()
    if not rows:
        return 0
    language = project_language(project, [text for _, text in rows])
    save_tokens(project._conn, ((i, tokenize(text, language), False) for i, text in rows))
    return len(rows)


def checked_decision(project: Project, item_id: ItemId, value: str,
                     labels: Sequence[str]) -> str:
    """A span decision for ``item_id`` as its canonical stored text; ``AlappError`` saying
    why it does not fit the item's text and tokens."""
    row = project._conn.execute(
        "SELECT i.text, t.offsets FROM items i LEFT JOIN item_tokens t ON t.item_id = i.id "
        "WHERE i.id = ?", (item_id,)).fetchone()
    if row is None:
        raise AlappError(f"{project.path}: no item with id {item_id}")
    if row[1] is None:
        raise AlappError(f"{project.path}: item {item_id} has no tokens (import it into the "
                         "span project again)")
    try:
        spans = decode_spans(value)
        check_spans(row[0], decode_tokens(row[1]), spans, labels)
    except ValueError as e:
        raise AlappError(f"item {item_id}: {e}") from None
    return encode_spans(spans)


def insert_event_spans(conn: sqlite3.Connection, event_id: int, value: str) -> None:
    """A span decision's rows (inside the event's transaction)."""
    conn.executemany('INSERT INTO event_spans (event_id, start, "end", label) VALUES (?, ?, ?, ?)',
                     [(event_id, s.start, s.end, s.label) for s in decode_spans(value)])


def event_spans(project: Project, event_id: int) -> list[Span]:
    """The spans an event stored, from its rows."""
    return [Span(a, b, label) for a, b, label in project._conn.execute(
        'SELECT start, "end", label FROM event_spans WHERE event_id = ? ORDER BY start, "end"',
        (event_id,))]


@dataclass(frozen=True)
class SpanItem:
    """One item of a span project with its tokens and current spans (None: not labeled)."""

    item_id: ItemId
    text: str
    tokens: TokenOffsets
    spans: list[Span] | None
    split: Split


_ITEMS_SQL = """
    SELECT i.id, i.text, t.offsets, cur.label, i.split FROM items i
    JOIN item_tokens t ON t.item_id = i.id
    LEFT JOIN item_labels cur ON cur.item_id = i.id
"""


def span_items(project: Project, split: Split | None = None,
               labeled: bool | None = True) -> list[SpanItem]:
    """Items with their texts, tokens and current spans, by id: the labeled ones (what the
    span round trains and tests on; ``labeled=False`` the unlabeled ones, None all), of one
    split or of all."""
    sql, args = _ITEMS_SQL, []
    conditions = []
    if split is not None:
        conditions.append("i.split = ?")
        args.append(str(split))
    if labeled is True:
        conditions.append("cur.label IS NOT NULL")
    elif labeled is False:
        conditions.append("cur.item_id IS NULL")  # a disputed item is not asked again
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    return [SpanItem(ItemId(i), text, decode_tokens(offsets),
                     None if label is None else decode_spans(label), Split(s))
            for i, text, offsets, label, s in project._conn.execute(sql + " ORDER BY i.id",
                                                                    args)]


def check_type_names(names: Iterable[str]) -> None:
    """Entity types are written into CoNLL tags ("B-PER"): no white space inside."""
    for name in names:
        if any(ch.isspace() for ch in name):
            raise AlappError(f"label name {name!r}: an entity type cannot hold white space "
                             "(it is written into CoNLL tags such as B-TYPE)")
