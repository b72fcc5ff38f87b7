"""Finding items: by text, current label, annotator, the model's predicted label and how unsure
it is, flagged or skipped. The SQL narrows by what the store knows; predictions come from the
latest round."""

from __future__ import annotations

from dataclasses import dataclass

from alapp.core.types import ItemId
from alapp.store.project import Project

UNLABELED = "(unlabeled)"
NONE_OF_THESE = "(none of these)"  # multi-label: labeled with the empty set
STATUSES = ("", "flagged", "skipped", "disputed")  # "" for any; disputed: a tie (issue 19)
FLAG_NOTE_MAX = 200  # a flag's comment is short: one line in the browse table and the export


@dataclass(frozen=True)
class BrowseQuery:
    text: str = ""  # substring, case-insensitive for ASCII (SQLite LIKE)
    label: str = ""  # a label name, UNLABELED, or "" for any
    annotator: str = ""  # labeled by: the annotator's own standing label (issue 19)
    predicted: str = ""
    min_uncertainty: float = 0.0  # 1 - confidence of the predicted label
    split: str = ""  # pool | test | seed | "" for any
    status: str = ""  # flagged (any flag event) | skipped (latest decision a skip) | "" for any
    # | disputed (the annotators disagree and the rule cannot decide: no training label)


@dataclass(frozen=True)
class BrowseRow:
    item_id: ItemId
    text: str
    split: str
    label: str | None
    annotator: str | None
    predicted: str | None
    confidence: float | None
    flag_note: str | None = None  # the latest flag's comment ("" without one); None: not flagged
    how: str | None = None  # how the training label was reached ("tie": disputed; issue 19)

    @property
    def uncertainty(self) -> float | None:
        return None if self.confidence is None else 1.0 - self.confidence


# Each item's training label (store/resolution.py) and who gave it; an item the annotators
# disagree on has none (and no annotator).
_CURRENT = """
    SELECT c.item_id, c.label, e.annotator, c.how FROM item_labels c
    LEFT JOIN label_events e ON e.id = c.event_id
"""

# The latest flag of each flagged item, with its comment.
_FLAGGED = """
    SELECT e.item_id, COALESCE(e.note, '') AS note FROM label_events e
    JOIN (SELECT item_id, MAX(id) AS last FROM label_events
          WHERE action = 'flag' GROUP BY item_id) m ON m.last = e.id
"""

# Items the annotator labeled and still stands by: their own latest label or undo on the item
# holds a label (a vote, whatever the team rule made of it; issue 19).
_LABELED_BY = """
    SELECT e.item_id FROM label_events e
    WHERE e.annotator = ? AND e.action IN ('label', 'undo') AND e.label IS NOT NULL
      AND e.id = (SELECT MAX(x.id) FROM label_events x WHERE x.item_id = e.item_id
                  AND x.annotator = e.annotator AND x.action IN ('label', 'undo'))
"""

# Items whose latest decision (a flag is not one) is a skip.
_SKIPPED = """
    SELECT e.item_id FROM label_events e
    JOIN (SELECT item_id, MAX(id) AS last FROM label_events
          WHERE action != 'flag' GROUP BY item_id) m ON m.last = e.id
    WHERE e.action IN ('skip', 'skip_forever')
"""


def find_items(project: Project, query: BrowseQuery,
               predicted: dict[ItemId, tuple[str, float]], limit: int = 500) -> list[BrowseRow]:
    """Up to ``limit`` matching items, in id order."""
    where, args = [], []
    if query.text:
        # a sentence pair (issue 16) is found by either of its texts
        where.append("(i.text LIKE ? ESCAPE '\\' OR i.text_b LIKE ? ESCAPE '\\')")
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args += [f"%{escaped}%"] * 2
    if query.label == UNLABELED:
        where.append("c.label IS NULL")
    elif query.label == NONE_OF_THESE:  # multi-label: the explicit empty set (issue 21)
        where.append("c.label = ''")
    elif query.label:
        # a label, alone or in a multi-label set ("a|b"); names never hold "|"
        where.append("instr('|' || c.label || '|', '|' || ? || '|') > 0")
        args.append(query.label)
    if query.annotator:
        where.append(f"i.id IN ({_LABELED_BY})")
        args.append(query.annotator)
    if query.split:
        where.append("i.split = ?")
        args.append(query.split)
    if query.status not in STATUSES:
        raise ValueError(f"unknown browse status {query.status!r}")
    if query.status == "flagged":
        where.append("f.item_id IS NOT NULL")
    elif query.status == "skipped":
        where.append(f"i.id IN ({_SKIPPED})")
    elif query.status == "disputed":
        where.append("c.how = 'tie'")
    # A pair shows as "first ‖ second" (issue 16).
    sql = (f"SELECT i.id, i.text || COALESCE(' ‖ ' || i.text_b, ''), i.split, c.label, "
           f"c.annotator, f.note, c.how FROM items i "
           f"LEFT JOIN ({_CURRENT}) c ON c.item_id = i.id "
           f"LEFT JOIN ({_FLAGGED}) f ON f.item_id = i.id "
           f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY i.id")
    wants_model = bool(query.predicted) or query.min_uncertainty > 0
    rows: list[BrowseRow] = []
    for item_id, text, split, label, annotator, note, how in project._conn.execute(sql, args):
        guess = predicted.get(ItemId(item_id))
        if wants_model:
            if guess is None:
                continue
            if query.predicted and guess[0] != query.predicted:
                continue
            if 1.0 - guess[1] < query.min_uncertainty:
                continue
        rows.append(BrowseRow(ItemId(item_id), text, split, label, annotator,
                              guess[0] if guess else None, guess[1] if guess else None,
                              note, how))
        if len(rows) >= limit:
            break
    return rows

