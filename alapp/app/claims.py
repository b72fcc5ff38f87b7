"""A session's claims on the queue (issue 20): what it shows, what it holds, keeping it alive.

Several apps may label one server project at once. ``SessionClaims`` sees to it that the item
a session shows is one no other live session holds: it shows its own claimed window first,
hides what others hold, claims more (through the writer) when its window runs low, renews its
lease while the app is open (a keeper thread, for a session with a writer thread of its own;
scripts renew on every decision and every look at the queue), and gives everything back when
the session closes. The rules of a claim live in ``store/claims.py``; the same code runs on a
project file, where one writer makes claims plain bookkeeping.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from alapp.core.errors import AlappError
from alapp.core.log import is_database_error
from alapp.core.types import ItemId
from alapp.store import claims
from alapp.store.claims import ClaimView, Holder
from alapp.store.project import Project
from alapp.store.queue import QueueEntry


class SessionClaims:
    """The claims of one session. ``write`` runs a function of the writable project on the
    writer (``None``: a read-only session, which claims nothing and only hides what others
    hold); ``settings`` gives the project's settings (``claim_window``, ``claim_lease_s``)."""

    def __init__(self, reader: Project, write: Callable[[Callable[[Project], Any]], Any] | None,
                 settings: Callable[[], Any]) -> None:
        self.reader = reader
        self.write = write
        self.settings = settings
        self.session = uuid.uuid4().hex
        self.view: ClaimView | None = None  # as last read or written
        self._lease = 120.0  # the lease as last read (for the keeper thread)
        self._keeper: threading.Thread | None = None
        self._stop = threading.Event()

    def holder(self, annotator: str) -> Holder:
        return Holder(self.session, self.reader.workstation, annotator)

    @property
    def lease_s(self) -> float:
        """Read on the session's thread; the keeper thread uses the value last read here."""
        self._lease = float(self.settings().claim_lease_s)
        return self._lease

    @property
    def window(self) -> int:
        return int(self.settings().claim_window)

    def visible(self, entries: Sequence[QueueEntry], annotator: str) -> list[QueueEntry]:
        """The queue as this session shows it: its own claims first (queue order), then items
        nobody holds; never an item another live session holds. Claims more, or renews, when
        its window runs low or half its lease is gone.

        A session that writes shows first only an item it holds: when it holds none (another
        session was claiming the free items at that very moment, or others hold them all) it
        tries again briefly, then shows nothing rather than an item it does not hold.

        Never an overlap item this annotator decided already (issue 20): it waits for another
        annotator, on whatever workstation this one labels from."""
        entries = [e for e in entries if e.decided_by != annotator]
        view = claims.view(self.reader, self.session)
        if self.write is not None:
            for attempt in range(3):
                free = sum(1 for e in entries
                           if e.item_id not in view.others and e.item_id not in view.mine)
                if not ((len(view.mine) < self.window and free > 0)
                        or view.renewal_due(self.lease_s)):
                    break
                if attempt:
                    time.sleep(0.02 * attempt)  # another session's claim is committing
                view = self.write(self.refill_step(annotator))
                if view.mine:
                    break
        self.view = view
        mine = set(view.mine)
        first = [e for e in entries if e.item_id in mine]
        if self.write is not None and not first:
            return []
        return first + [e for e in entries
                        if e.item_id not in mine and e.item_id not in view.others]

    def request(self, annotator: str, first: ItemId | None = None) -> claims.ClaimRequest:
        """This session's claims as a decision asks for them (``Project.label_item``'s
        ``claim``: renewed and refilled in the decision's own commit)."""
        return claims.ClaimRequest(self.holder(annotator), self.window, self.lease_s, first)

    def refill_step(self, annotator: str, first: ItemId | None = None
                    ) -> Callable[[Project], ClaimView]:
        """A write that renews this session's claims and fills its window, in a transaction
        of its own (a look at the queue, an undo)."""
        request = self.request(annotator, first)

        def step(project: Project) -> ClaimView:
            return claims.refill(project, request)
        return step

    def keep_alive(self, submit: Callable[[Callable[[Project], Any]], Any]) -> None:
        """Renew the lease every third of it while the session is open, on a thread of its own
        (``submit`` queues a write without waiting): an app that sits on one item for long
        keeps it; one that dies stops renewing, and its items are free after the lease."""
        if self._keeper is not None or self.write is None:
            return
        self._lease = self.lease_s
        session = self.session

        def renew(project: Project, lease: float) -> int:
            return claims.renew(project, session, lease)

        def run() -> None:  # reads nothing itself: the reader belongs to the session's thread
            while not self._stop.wait(max(0.2, self._lease / 3)):
                if self.view is None or not self.view.mine:
                    continue  # nothing held, nothing to keep
                with contextlib.suppress(RuntimeError):  # the writer closed meanwhile
                    submit(functools.partial(renew, lease=self._lease))

        self._keeper = threading.Thread(target=run, name="alapp-claims", daemon=True)
        self._keeper.start()

    def release(self) -> None:
        """Give back every claim (the session closes). The keeper stops first; a failure to
        reach the store is left to the lease, which frees the items anyway."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        if self.write is None or self.view is None:
            return
        session = self.session
        try:
            self.write(lambda p: claims.release(p, session))
        except Exception as e:  # closed or unreachable: the lease runs out and frees them
            if not isinstance(e, AlappError | RuntimeError) and not is_database_error(e):
                raise
        self.view = None
