"""Claims: which queued items an annotator's session holds, and until when (issue 20).

Several apps label one project on a PostgreSQL server at once. The queue (``store/queue.py``)
is the project's one batch; each session claims a small window at its front, and the items a
live session holds are hidden from every other session, so no two annotators are shown the
same item. A claim is a lease: it lasts ``lease_s`` seconds unless its session renews it (the
app does while it is open), so the items of an app that dies, or whose machine loses the
network, are free again once its lease runs out. A decision on an item releases its claim in
the decision's own transaction (``queue.take_off``); closing a session releases the rest.

Time is the store's clock: the server's on a server project (workstations' clocks may
disagree), this machine's for a file.

On a server the window is taken with ``FOR UPDATE SKIP LOCKED`` in a short transaction of its
own, outside the project's writer lock: two sessions claiming at the same moment lock
different queue rows instead of waiting for each other, and a claim never waits for a label
being written. The claims table's key settles the rare race that remains (a row whose lock was
released just as another session reached it): ``INSERT ... ON CONFLICT DO NOTHING`` keeps the
first claim, and every caller reads back what it really holds.

A project file has one writer (its lock), so claims there are harmless bookkeeping: the same
code runs in one transaction, and a claim left by an earlier session of the file (a crash) is
dropped, since no other session can be live.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alapp.core.errors import AlappError
from alapp.core.types import ItemId
from alapp.store.postgres import execute_together

if TYPE_CHECKING:
    from alapp.store.project import Project


@dataclass(frozen=True)
class Holder:
    """Who claims: one session of the app (a new id each time it opens the project), and for
    the people watching, the workstation and the annotator."""

    session: str
    workstation: str
    annotator: str


@dataclass(frozen=True)
class ClaimView:
    """The queue as one session sees it at ``now`` (the store's clock)."""

    mine: tuple[ItemId, ...]  # this session's live claims on queued items, in queue order
    others: frozenset[ItemId]  # queued items another live session holds
    expires_at: float | None  # when the first of this session's claims runs out
    now: float

    def renewal_due(self, lease_s: float) -> bool:
        """Half of the lease is gone (or more): renew before another session may take them."""
        return self.expires_at is not None and self.expires_at - self.now < lease_s / 2


# The server's clock, as an offset from this machine's, measured on each connection and again
# after a minute: the lease's comparisons use the server's time without a round trip each.
_OFFSETS: weakref.WeakKeyDictionary[Any, tuple[float, float]] = weakref.WeakKeyDictionary()
_OFFSET_KEPT_S = 60.0


def clock(project: Project) -> float:
    """The store's time in seconds since the epoch: the server's on a server project."""
    if not project.on_server:
        return time.time()
    conn = project._conn
    here = time.time()
    kept = _OFFSETS.get(conn)
    if kept is None or here - kept[1] > _OFFSET_KEPT_S:
        before = time.time()
        row = conn.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()
        after = time.time()
        kept = (float(row[0]) - (before + after) / 2, after)
        _OFFSETS[conn] = kept
        here = after
    return here + kept[0]


def view(project: Project, session: str, now: float | None = None) -> ClaimView:
    """What this session holds and what others hold, among the queued items (one read)."""
    now = clock(project) if now is None else now
    rows = project._conn.execute(
        "SELECT c.item_id, c.holder, c.expires_at FROM claims c "
        "JOIN queue q ON q.item_id = c.item_id WHERE c.expires_at > ? ORDER BY q.position",
        (now,)).fetchall()
    mine = tuple(ItemId(r[0]) for r in rows if r[1] == session)
    others = frozenset(ItemId(r[0]) for r in rows if r[1] != session)
    first = min((float(r[2]) for r in rows if r[1] == session), default=None)
    return ClaimView(mine, others, first, now)


@contextmanager
def _steps(project: Project) -> Iterator[Any]:
    """One transaction. On a file, the writer's (one writer, one sync to disk). On a server,
    outside the project's writer lock (claims never queue behind another workstation's label)
    and committed without waiting for the disk: a claim is a lease, and one lost in a server
    crash only frees its items early, while every label stays durable."""
    if project.read_only:
        raise AlappError(f"{project.path}: opened read-only; it claims no items")
    if not project.on_server:
        with project.transaction() as conn:
            yield conn
        return
    from alapp.store.postgres import PgConnection

    conn = project._conn
    assert isinstance(conn, PgConnection)
    conn.begin_lease()  # BEGIN without the writer lock; SET LOCAL synchronous_commit = off
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class ClaimRequest:
    """What a session asks for after each decision: its window, renewed for ``lease_s``;
    ``first`` (an item just put back by undo) is claimed whatever the window."""

    holder: Holder
    window: int
    lease_s: float
    first: ItemId | None = None

    def __post_init__(self) -> None:
        if self.window < 1 or self.lease_s <= 0:
            raise AlappError(f"claims need a window of at least 1 item (got {self.window}) and "
                             f"a lease of more than 0 s (got {self.lease_s:g})")


def check_not_held(project: Project, item_id: ItemId, request: ClaimRequest) -> None:
    """Just before a decision's transaction: refuse a decision on an item another live
    session holds (this session's lease ran out while its annotator read, and the item went
    to someone else), so no item is labeled twice by chance. Read before the writer lock, not
    under it: claims never take that lock, so it would not order them (issue 20: the lock's
    holder makes every other workstation's label wait, so it holds only what must be)."""
    row = project._conn.execute(
        "SELECT workstation, annotator FROM claims WHERE item_id = ? AND holder <> ? "
        "AND expires_at > ?", (item_id, request.holder.session, clock(project))).fetchone()
    if row is not None:
        raise AlappError(f"{project.path}: item {item_id} is being labeled by {row[1]} on "
                         f"{row[0]} (this session's claim on it ran out); nothing was written; "
                         "take the next item")


def after_decision(project: Project, request: ClaimRequest | None, in_transaction: bool
                   ) -> None:
    """The session's window refilled after a decision (``Project.label_item``, ``skip_item``
    call this inside their transaction, then after it). On a file, inside: one commit, one
    sync to disk for both. On a server, after: its own short transaction outside the writer
    lock, so the lock every workstation's labels wait for is never held longer for claims."""
    if request is None or in_transaction == project.on_server:
        return
    if in_transaction:
        refill_within(project, request, read_back=False)
    else:
        with _steps(project):
            refill_within(project, request, read_back=False)


def refill(project: Project, request: ClaimRequest) -> ClaimView:
    """Renew this session's claims and claim free queued items, in queue order, until it
    holds its window, in a transaction of its own (a look at the queue, a renewal)."""
    with _steps(project):
        seen = refill_within(project, request)
    assert seen is not None
    return seen


def refill_within(project: Project, request: ClaimRequest, read_back: bool = True
                  ) -> ClaimView | None:
    """``refill`` inside the caller's transaction (a decision's: one commit for both); the
    view read back unless ``read_back`` is False. Other sessions' expired claims are removed
    on the way: their items are free again."""
    conn = project._conn
    holder = request.holder
    now = clock(project)
    expires = now + request.lease_s
    # PostgreSQL: rows another session is writing right now (renewing, claiming) are skipped,
    # not waited for: no two sessions wait on each other (raw SQL of the server only)
    skip_locked = " FOR UPDATE SKIP LOCKED" if project.on_server else ""
    skip_locked_queue = " FOR UPDATE OF q SKIP LOCKED" if project.on_server else ""
    # another session's lapsed claims go; this session's own are renewed below, unless another
    # session took their items meanwhile (then those claims are theirs)
    values = (holder.session, holder.workstation, holder.annotator, now, expires)
    steps: list[tuple[str, tuple[Any, ...]]] = [(
        "DELETE FROM claims WHERE item_id IN (SELECT item_id FROM claims "
        f"WHERE expires_at <= ? AND holder <> ?{skip_locked})", (now, holder.session))]
    if not project.on_server:  # one writer holds a file: no other session is live
        steps.append(("DELETE FROM claims WHERE holder <> ?", (holder.session,)))
    if request.first is not None:
        steps.append((
            "INSERT OR IGNORE INTO claims (item_id, holder, workstation, annotator, claimed_at, "
            "expires_at) SELECT item_id, ?, ?, ?, ?, ? FROM queue WHERE item_id = ?",
            (*values, request.first)))
    # renewed: the claims on queued items (one on an item no longer queued just runs out);
    # on a server, these steps in one round trip
    steps.append(("UPDATE claims SET expires_at = ? WHERE holder = ? "
                  "AND item_id IN (SELECT item_id FROM queue)", (expires, holder.session)))
    held = execute_together(conn, steps)[-1].rowcount
    if held < request.window:  # the free queue rows first in line; on a server, not those
        conn.execute(  # another session is claiming this very moment, nor an overlap item
            # this annotator decided already (it waits for someone else: store/queue.py)
            "INSERT OR IGNORE INTO claims (item_id, holder, workstation, annotator, claimed_at, "
            "expires_at) SELECT free.item_id, ?, ?, ?, ?, ? FROM (SELECT q.item_id FROM queue q "
            "WHERE NOT EXISTS (SELECT 1 FROM claims c WHERE c.item_id = q.item_id) "
            "AND (q.decided_by IS NULL OR q.decided_by <> ?) "
            f"ORDER BY q.position LIMIT ?{skip_locked_queue}) free",
            (*values, holder.annotator, request.window - held))
    return view(project, holder.session, now) if read_back else None


def renew(project: Project, session: str, lease_s: float) -> int:
    """Push this session's claims ``lease_s`` past now; returns how many it holds."""
    with _steps(project) as conn:
        expires = clock(project) + lease_s
        return int(conn.execute("UPDATE claims SET expires_at = ? WHERE holder = ?",
                                (expires, session)).rowcount)


def release(project: Project, session: str) -> int:
    """Give back every claim of this session (it closes); returns how many it held."""
    with _steps(project) as conn:
        return int(conn.execute("DELETE FROM claims WHERE holder = ?", (session,)).rowcount)


def live_claims(project: Project) -> list[dict[str, Any]]:
    """Every live claim: item, workstation, annotator, seconds left (who is labeling what)."""
    now = clock(project)
    rows = project._conn.execute(
        "SELECT item_id, workstation, annotator, expires_at FROM claims WHERE expires_at > ? "
        "ORDER BY workstation, annotator, item_id", (now,)).fetchall()
    return [{"item_id": ItemId(r[0]), "workstation": r[1], "annotator": r[2],
             "seconds_left": float(r[3]) - now} for r in rows]
