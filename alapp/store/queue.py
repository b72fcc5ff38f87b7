"""The batch waiting for the annotator: its order, what a round replaces and what it keeps.

One place holds the queue's rules: a new round replaces the batch, but undone items and a
held-out test set being labeled stay at the front; a decision takes its item off the queue,
except the overlap share's (issue 20, setting ``claim_overlap``): an overlap item stays until
two different annotators have decided it, and is never shown again to the first of them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from alapp.al.batch import Pick
from alapp.al.registry import get_strategy
from alapp.core.errors import AlappError
from alapp.core.spans import TokenOffsets
from alapp.core.types import ItemId, Source, Split
from alapp.store.postgres import execute_together
from alapp.store.spans import decode_tokens

if TYPE_CHECKING:  # project.py writes decisions through take_off/put_first: no import cycle
    from alapp.store.project import Project

KEPT_BY_ROUNDS = (Source.UNDO, Source.TEST_SET)  # queue entries a new round does not replace
# issue 20: an overlap item one annotator decided waits for a second one through this many new
# rounds (counted from the round that queued it), then the next round lets it go with one label
OVERLAP_WAIT_ROUNDS = 3


@dataclass(frozen=True)
class QueueEntry:
    item_id: ItemId
    text: str
    source: Source
    strategy: str | None
    score: float | None
    predicted_cost: float | None
    round_id: int | None
    predicted: tuple[str, float] | None = None  # (label, confidence) from the latest model
    # What the strategy saw, from the round that queued the item (the session attaches it while
    # that round's result is in memory): the two likeliest labels, and for cluster strategies
    # (cluster, clusters, rule) as in ``Pick.cluster``. The reason names the two likeliest
    # labels for uncertainty picks, the cluster for diversity picks: one short line.
    top_two: tuple[tuple[str, float], tuple[str, float]] | None = None
    cluster: tuple[int, int, str] | None = None
    text_b: str | None = None  # the second text of a sentence pair
    # Span projects (issue 18): the item's stored tokens, and each token's uncertainty under the
    # latest model (what the span view highlights as "why chosen"); ``predicted`` then holds the
    # suggested spans as ``core.spans.encode_spans`` text.
    tokens: TokenOffsets | None = None
    token_uncertainty: list[float] | None = None
    # issue 20: an item of the overlap share (two annotators decide it), and who decided it
    # first (None until someone has): it waits for anyone else
    overlap: bool = False
    decided_by: str | None = None

    @property
    def is_random(self) -> bool:
        return self.source == Source.RANDOM

    @property
    def reason(self) -> str:
        """Why this item is in front of the annotator, in words: what the strategy saw (the
        two likeliest labels, the cluster) and the estimated time."""
        if self.source == Source.TEST_SET:
            why = "held-out test set (random; never used for training)"
        elif self.source == Source.UNDO:
            why = "back after undo"
        elif self.is_random:
            passive = (self.strategy or "").startswith("passive phase")  # random until N labels
            why = str(self.strategy) if passive else "random share (checks the sampler)"
        else:
            why = self._strategy_reason()
        if self.predicted_cost:
            why += f"; ~{_seconds(self.predicted_cost)} to label"
        return why

    def _strategy_reason(self) -> str:
        name = self.strategy or "chosen"
        base = name.removesuffix(" / cost")
        costed = " (per second of labeling)" if name.endswith(" / cost") else ""
        if base in DIVERSITY and self.cluster is not None:
            number, of, rule = self.cluster
            seen = f"cluster {number} of {of}, {CLUSTER_RULE_WORDS.get(rule, rule)}"
        elif base == "typiclust":  # issue 17
            seen = "the most typical item of a dense region no label covers yet"
        elif base == "coreset" and self.score is not None:
            seen = f"farthest from everything labeled (distance {self.score:.2f})"
        elif base not in DIVERSITY and self.top_two is not None:
            (first, p1), (second, p2) = self.top_two
            return f"{name}{costed} saw {first} {p1:.0%} vs {second} {p2:.0%}"
        else:
            seen = _summary(base)
        return f"{name}{costed}: {seen}"


# Strategies that choose for coverage, not for what the model is unsure of: their reason is
# the cluster or the distance, not the two likeliest labels.
DIVERSITY = {"cold-start", "cluster", "coreset", "representative", "model-outliers",
             "typiclust"}
CLUSTER_RULE_WORDS = {"centroid": "nearest to its centre", "outlier": "farthest from its centre",
                      "random": "a random member", "top": "the most uncertain in it"}


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _summary(strategy: str) -> str:
    """The strategy's one-line explanation, lower-cased to follow a colon."""
    try:
        summary = get_strategy(strategy).summary.rstrip(".")
    except ValueError:
        return "chosen by the strategy"
    return summary[:1].lower() + summary[1:]


def entries(project: Project) -> list[QueueEntry]:
    """The current batch, in order (decided items are already off it), each with the stored
    prediction of the round that queued or last carried it, where it has one (issue 20)."""
    rows = project._conn.execute(
        "SELECT q.item_id, i.text, q.source, q.strategy, q.score, q.predicted_cost, q.round_id, "
        "i.text_b, t.offsets, q.overlap, q.decided_by, q.predicted_label, "
        "q.predicted_confidence, q.top_label, q.top_p, q.second_label, q.second_p FROM queue q "
        "JOIN items i ON i.id = q.item_id LEFT JOIN item_tokens t ON t.item_id = q.item_id "
        "ORDER BY q.position").fetchall()
    return [QueueEntry(ItemId(r[0]), r[1], Source(r[2]), r[3], r[4], r[5], r[6], text_b=r[7],
                       tokens=None if r[8] is None else decode_tokens(r[8]),  # spans: issue 18
                       overlap=bool(r[9]), decided_by=r[10],
                       predicted=None if r[11] is None else (r[11], float(r[12])),
                       top_two=None if r[13] is None else ((r[13], float(r[14])),
                                                           (r[15], float(r[16]))))
            for r in rows]


def has_entries(project: Project, annotator: str | None = None) -> bool:
    """Whether any item waits in the batch (one indexed read, no texts); with ``annotator``,
    any item that annotator may still decide (an overlap item they decided waits for others,
    not for them: issue 20)."""
    if annotator is None:
        return project._conn.execute("SELECT 1 FROM queue LIMIT 1").fetchone() is not None
    return project._conn.execute(
        "SELECT 1 FROM queue WHERE decided_by IS NULL OR decided_by <> ? LIMIT 1",
        (annotator,)).fetchone() is not None


def overlap_items(item_ids: Sequence[int], round_id: int, percent: float,
                  waiting: int = 0) -> set[int]:
    """The overlap share of a batch's new items (in queue order): ``percent`` of them, one
    from each of as many equal stretches of the batch, so they are spread evenly through it
    and an annotator who labels only the first few meets some. Within a stretch the item
    whose hash with the round is lowest: not the strategy's first, and the same wherever it
    is computed. The count is rounded up or down by the round's own hash, so small batches
    (a retrain every few labels) get the share on average rather than never. ``waiting``
    overlap items carried from earlier batches take that many of the share's places."""
    exact = len(item_ids) * percent / 100
    count = min(len(item_ids), int(exact + _unit_hash(round_id, -1)) - waiting)
    if count <= 0:
        return set()
    chosen: set[int] = set()
    for k in range(count):
        stretch = item_ids[k * len(item_ids) // count:(k + 1) * len(item_ids) // count]
        chosen.add(min(stretch, key=lambda i: _unit_hash(round_id, i)))
    return chosen


def _unit_hash(round_id: int, item_id: int) -> float:
    """A number in [0, 1) fixed by the round and the item (a stable hash, not Python's)."""
    digest = hashlib.blake2b(f"{round_id}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class RoundPredictions:
    """What a round predicted, as the queue stores it (issue 20): each pool item's label and
    confidence, and each pick's two likeliest labels with their probabilities."""
    predicted: Mapping[ItemId, tuple[str, float]]
    top_two: Mapping[ItemId, tuple[tuple[str, float], tuple[str, float]]]

    def columns(self, item_id: int) -> tuple[Any, ...]:
        """The six prediction columns of ``item_id`` (NULL where the round has none)."""
        guess = self.predicted.get(ItemId(item_id))
        two = self.top_two.get(ItemId(item_id))
        return ((None, None) if guess is None else guess) + \
            ((None, None, None, None) if two is None else (*two[0], *two[1]))


NO_PREDICTIONS = RoundPredictions({}, {})
PREDICTION_COLUMNS = ("predicted_label", "predicted_confidence", "top_label", "top_p",
                      "second_label", "second_p")


def replace_batch(conn: sqlite3.Connection, round_id: int, picks: Sequence[Pick],
                  keep: ItemId | None, keep_claimed: bool = False, overlap: float = 0.0,
                  predictions: RoundPredictions = NO_PREDICTIONS) -> None:
    """Inside the round's transaction: the new batch replaces the old one, but not what the
    annotator put first (undone items, a test set being labeled) nor the item on screen.
    ``keep_claimed`` (a server project, issue 20): nor the items other sessions hold (on
    their annotators' screens), so a round elsewhere never hands them out a second time.

    Random-share items still waiting are kept too, up to the new batch's share, in the new
    batch's random places: a retrain every few labels would otherwise replace them before the
    annotator reaches them, and the random baseline would never get its labels.

    ``overlap`` (percent, issue 20): that share of the new items is marked to be decided by
    two annotators (``overlap_items``). An overlap item one annotator decided already is
    carried, in place at the front, for the others (the one who decided it never sees it
    again) and takes one of the new share's places (the round marks that many fewer), so
    waiting items do not pile up; after ``OVERLAP_WAIT_ROUNDS`` new rounds it leaves with its
    one label, unless held or on screen. A single annotator is never kept waiting.

    ``predictions`` (issue 20): stored with each new item; a carried item takes the new
    round's where it has them and keeps its stored ones where not."""
    marks = ",".join("?" * len(KEPT_BY_ROUNDS))
    share = sum(p.is_random for p in picks)
    on_screen_random = conn.execute("SELECT COUNT(*) FROM queue WHERE item_id IS ? AND source = ?",
                                    (keep, Source.RANDOM)).fetchone()[0]
    waiting = conn.execute(
        "SELECT item_id, round_id, strategy, score, predicted_cost, "
        f"{', '.join(PREDICTION_COLUMNS)} FROM queue "
        "WHERE source = ? AND item_id IS NOT ? AND decided_by IS NULL ORDER BY position LIMIT ?",
        (Source.RANDOM, keep, max(0, share - on_screen_random))).fetchall()
    claimed = " AND item_id NOT IN (SELECT item_id FROM claims)" if keep_claimed else ""
    conn.execute(  # what the new batch replaces; an overlap item decided once stays a while
        f"DELETE FROM queue WHERE item_id IS NOT ?{claimed} AND CASE WHEN decided_by IS NULL "
        f"THEN source NOT IN ({marks}) ELSE (SELECT COUNT(*) FROM rounds r "
        "WHERE r.id > queue.round_id) > ? END", (keep, *KEPT_BY_ROUNDS, OVERLAP_WAIT_ROUNDS))
    still = {r[0] for r in conn.execute("SELECT item_id FROM queue")}  # kept in place
    kept = still | {r[0] for r in waiting}
    rows: list[tuple[Any, ...]] = []  # item id first, the prediction columns last
    carried = iter(waiting)
    for p in picks:
        if p.is_random and (old := next(carried, None)) is not None:
            if old[0] not in still:  # a claimed one (issue 20) never left the queue
                rows.append((old[0], old[1], Source.RANDOM, *old[2:5], 1,  # drawn earlier
                             *_newer(predictions.columns(old[0]), old[5:])))
        elif p.item_id not in kept:
            rows.append((p.item_id, round_id, Source.RANDOM if p.is_random else Source.AL,
                         p.strategy, p.score, p.predicted_cost, int(p.is_random),
                         *predictions.columns(p.item_id)))
    queued_overlap = conn.execute("SELECT COUNT(*) FROM queue WHERE overlap = 1").fetchone()[0]
    shared = overlap_items([int(row[0]) for row in rows], round_id, overlap,
                           queued_overlap) if overlap else ()
    start = conn.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM queue").fetchone()[0]
    conn.executemany(
        "INSERT INTO queue (position, item_id, round_id, source, strategy, score, "
        f"predicted_cost, is_random_share, {', '.join(PREDICTION_COLUMNS)}, overlap) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(start + pos, *row, int(row[0] in shared)) for pos, row in enumerate(rows)])
    _update_kept(conn, still, predictions)


def _newer(new: tuple[Any, ...], old: Sequence[Any]) -> tuple[Any, ...]:
    """A carried item's prediction columns: the new round's label and confidence, and its two
    likeliest labels, each pair where the new round has it, else the stored one."""
    return (*(new[:2] if new[0] is not None else old[:2]),
            *(new[2:] if new[2] is not None else old[2:]))


def _update_kept(conn: sqlite3.Connection, still: set[int],
                 predictions: RoundPredictions) -> None:
    """The new round's prediction for the items kept in place (on screen, held, put first):
    each column pair only where the round has it, so a stored one is not erased."""
    known = [(predictions.columns(item_id), item_id) for item_id in sorted(still)]
    updates = [(*columns, item_id) for columns, item_id in known
               if any(v is not None for v in columns)]
    conn.executemany(
        "UPDATE queue SET predicted_label = COALESCE(?, predicted_label), "
        "predicted_confidence = COALESCE(?, predicted_confidence), "
        "top_label = COALESCE(?, top_label), top_p = COALESCE(?, top_p), "
        "second_label = COALESCE(?, second_label), second_p = COALESCE(?, second_p) "
        "WHERE item_id = ?", updates)


def take_off(conn: sqlite3.Connection, item_id: ItemId, annotator: str | None = None) -> None:
    """Inside a decision's transaction: a decided item leaves the queue, and whoever held it
    (issue 20: a session's claim, store/claims.py) holds it no more.

    ``annotator``: whose decision it is. An overlap item nobody decided yet (or only they did:
    the same person twice counts once) stays queued, free for anyone else (their own claims on
    it go; another person's, who may be reading it now, stays); with ``None`` (a reviewer's
    final word, "never ask again") it leaves at once like any other. One round trip on a
    server: the three statements decide by what the first one marked."""
    if annotator is None:
        execute_together(conn, [("DELETE FROM queue WHERE item_id = ?", (item_id,)),
                                ("DELETE FROM claims WHERE item_id = ?", (item_id,))])
        return
    waits_for_another = ("EXISTS (SELECT 1 FROM queue WHERE item_id = ? AND overlap = 1 "
                         "AND decided_by = ?)")
    execute_together(conn, [
        ("UPDATE queue SET decided_by = ? WHERE item_id = ? AND overlap = 1 "
         "AND (decided_by IS NULL OR decided_by = ?)", (annotator, item_id, annotator)),
        (f"DELETE FROM claims WHERE item_id = ? AND (annotator = ? OR NOT {waits_for_another})",
         (item_id, annotator, item_id, annotator)),
        (f"DELETE FROM queue WHERE item_id = ? AND NOT {waits_for_another}",
         (item_id, item_id, annotator))])


def put_first(conn: sqlite3.Connection, item_id: ItemId, source: Source,
              annotator: str | None = None) -> None:
    """Inside an undo's transaction: the item goes back to the front of the queue. An overlap
    item still waiting there for a second annotator (issue 20) moves to the front, and the one
    who undid their decision on it may decide it again."""
    first = conn.execute("SELECT COALESCE(MIN(position), 0) - 1 FROM queue").fetchone()[0]
    if annotator is not None and conn.execute(
            "UPDATE queue SET position = ?, source = ?, decided_by = NULL "
            "WHERE item_id = ? AND decided_by = ?", (first, source, item_id, annotator)).rowcount:
        return
    conn.execute("INSERT OR IGNORE INTO queue (position, item_id, source) VALUES (?, ?, ?)",
                 (first, item_id, source))


def test_set_status(project: Project) -> dict[str, int]:
    """Test items labeled, and test items waiting in the queue."""
    labeled, queued = project._conn.execute(
        "SELECT (SELECT COUNT(*) FROM items i WHERE split = 'test' AND EXISTS "
        "(SELECT 1 FROM label_events e WHERE e.item_id = i.id AND action = 'label')), "
        "(SELECT COUNT(*) FROM queue WHERE source = ?)", (Source.TEST_SET,)).fetchone()
    return {"labeled": int(labeled), "queued": int(queued)}


def start_test_set(project: Project, size: int) -> int:
    """Move ``size`` random unlabeled pool items (seeded) to the test split and put them at the
    front of the queue: the learning curve and the stopping signals are only honest on items
    the strategy did not choose."""
    package = project._conn.execute(
        "SELECT value FROM identity WHERE key = 'package_for'").fetchone()
    if package is not None:  # issue 19: its labels are merged as the items' labels
        raise AlappError(f"{project.path}: a package of items for {package[0]}; the test set "
                         "is drawn in the main project (a package's labels merge as pool labels)")
    seed = project.settings().seed
    labeled = set(project.current_labels()) | project.disputed()
    candidates = [i for i in project.item_ids(Split.POOL) if i not in labeled]
    rng = np.random.default_rng(seed + 7919)  # not the stop set's draw
    chosen = sorted(rng.permutation(np.array(candidates, dtype=np.int64))[:size].tolist())
    with project.transaction() as conn:
        conn.executemany("UPDATE items SET split = 'test' WHERE id = ?", [(i,) for i in chosen])
        conn.executemany("DELETE FROM queue WHERE item_id = ?", [(i,) for i in chosen])
        first = conn.execute("SELECT COALESCE(MIN(position), 0) FROM queue").fetchone()[0]
        conn.executemany(
            "INSERT INTO queue (position, item_id, source) VALUES (?, ?, ?)",
            [(first - len(chosen) + k, i, Source.TEST_SET) for k, i in enumerate(chosen)])
    return len(chosen)


def end_test_set(project: Project) -> int:
    """Stop labeling the test set: its unlabeled items go back to the pool."""
    with project.transaction() as conn:
        waiting = [r[0] for r in conn.execute("SELECT item_id FROM queue WHERE source = ?",
                                              (Source.TEST_SET,))]
        conn.executemany("UPDATE items SET split = 'pool' WHERE id = ?", [(i,) for i in waiting])
        conn.execute("DELETE FROM queue WHERE source = ?", (Source.TEST_SET,))
    return len(waiting)
