"""``alapp worker``: a headless trainer for a project (issue 20), e.g. on the machine with a GPU.

It loops: when enough labels have arrived since the newest round, it takes the trainer lock,
runs the round the window runs (``RoundJob.train``: the same snapshot, runner and save), saves
it, lets go of the lock and prints one line. The windows on other machines then take that
model version and its queue rather than training themselves. ``stop`` (Ctrl+C, SIGTERM) ends
it between steps: a round in progress is cancelled before its save (one transaction), so
nothing is half-written.

On a project file the worker takes the file's lock like a window, so it runs only when no
window has the file open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from alapp.app.presence import WAITING
from alapp.app.rounds import RoundJob
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError, Cancelled, StorageError
from alapp.core.location import Location, project_location
from alapp.core.progress import Progress
from alapp.loop.round import RoundResult
from alapp.store import trainer
from alapp.store.trainer import TrainerLock

DEFAULT_MIN_NEW_LABELS = 10
DEFAULT_POLL_S = 30.0


@dataclass(frozen=True)
class WorkerOptions:
    min_new_labels: int = DEFAULT_MIN_NEW_LABELS
    poll_s: float = DEFAULT_POLL_S
    once: bool = False
    name: str = "worker"  # the annotator name its presence row and rounds carry

    def check(self) -> None:
        if self.min_new_labels < 1:
            raise AlappError(f"--min-new-labels {self.min_new_labels}: give 1 or more")
        if not self.poll_s > 0:
            raise AlappError(f"--poll {self.poll_s:g}: give a number of seconds above 0")


class Worker:
    """Runs rounds on ``location`` until stopped (or once, with ``once``)."""

    def __init__(self, where: Location | str, options: WorkerOptions,
                 say: Callable[[str], None] = print) -> None:
        options.check()
        self.location = project_location(where)
        self.options = options
        self.say = say
        self.rounds = 0
        self._stop = threading.Event()
        self._progress: Progress | None = None

    def stop(self) -> None:
        """Stop between steps; a round in progress is cancelled before it is saved. Safe to
        call from a signal handler."""
        self._stop.set()
        progress = self._progress
        if progress is not None:
            progress.cancel()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> int:
        """Returns how many rounds it trained and saved. A server that stops answering after
        the start (a restart, the network) is waited for: the worker says so, and opens the
        project again after ``poll_s``; a project it cannot open at the start is an error."""
        started = False
        while not self.stopping:
            try:
                session = LabelingSession(self.location, self.options.name,
                                          role="worker")
            except StorageError as e:
                if not started or self.options.once:
                    raise
                self.say(f"{e}; trying again in {self.options.poll_s:g} s")
                self._stop.wait(self.options.poll_s)
                continue
            started = True
            try:
                self._serve(session)
                return self.rounds
            except StorageError as e:
                if self.options.once or not session.reader.on_server:
                    raise
                self.say(f"{e}; trying again in {self.options.poll_s:g} s")
            finally:
                session.close()
            self._stop.wait(self.options.poll_s)
        return self.rounds

    def _serve(self, session: LabelingSession) -> None:
        """Rounds on an open session until stopped (or once)."""
        if session.presence is not None:
            session.presence.set_activity(WAITING)
        job = RoundJob(session)
        again = False  # a round on stand-in features: embed, then a round on the real ones
        told_waiting = False
        while not self.stopping:
            new = trainer.new_labels(session.reader)
            due = again or new >= self.options.min_new_labels
            if due:
                with TrainerLock(session.reader) as lock:
                    if lock.try_take():
                        told_waiting = False
                        result = self._round(job, new)
                        if result is None:  # stopped mid-round
                            break
                        session.apply_round(result)
                        again = (bool(result.pending_embeddings)
                                 and self._embed(job, result.pending_embeddings))
                        if again:
                            continue
                    elif not told_waiting:
                        self.say("another session is training; this worker waits for "
                                 "its round")
                        told_waiting = True
            elif self.options.once:
                self.say(f"{new} new label{'' if new == 1 else 's'} since the last round "
                         f"(a round needs {self.options.min_new_labels}); nothing to do")
            if self.options.once:
                break
            self._stop.wait(self.options.poll_s)

    def _round(self, job: RoundJob, new: int) -> RoundResult | None:
        progress = self._progress = Progress()
        if self.stopping:
            return None
        started = time.perf_counter()
        try:
            result = job.train(progress)
        except Cancelled:
            self.say("stopped: the round in progress was not saved")
            return None
        finally:
            self._progress = None
        self.rounds += 1
        self.say(round_line(result, new, time.perf_counter() - started))
        return result

    def _embed(self, job: RoundJob, pending: int) -> bool:
        """Compute the embeddings a stand-in round was waiting for; True when done."""
        self.say(f"embedding {pending:,} texts before the next round")
        progress = self._progress = Progress()
        try:
            count = job.embedding(progress)
        except Cancelled:
            self.say("stopped while embedding; the texts embedded so far are kept")
            return False
        finally:
            self._progress = None
        self.say(f"embedded {count:,} texts")
        return not self.stopping


def round_line(result: RoundResult, new: int, seconds: float) -> str:
    """One line per round: "round 4: 36 labels (12 new), accuracy 81.0% on the test set,
    batch of 20 by margin, 3.2 s"."""
    accuracy = result.test_accuracy
    parts = [f"round {result.round_index}: {result.n_labeled} labels ({new} new)"]
    parts.append("no test set yet" if accuracy is None
                 else f"accuracy {accuracy:.1%} on the test set")
    parts.append(f"batch of {len(result.picks)} by {result.strategy or 'the strategy'}")
    if result.pending_embeddings:
        parts.append(f"stand-in features ({result.pending_embeddings:,} texts to embed)")
    parts.append(f"{seconds:.1f} s")
    return ", ".join(parts)
