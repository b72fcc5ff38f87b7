"""How much of the overlap share (``claim_overlap``, issue 20) gets its second label when rounds
come every few labels; print JSON with the machine.

Usage: python bench/bench_overlap_rounds.py [--annotators 2] [--overlap 20] [--retrain-every 10]
           [--batch 20] [--labels 600] [--items 3000] [--seed 0]

A project file with ``--items`` texts; ``--annotators`` application sessions on it (the same
code as several apps on a server, one writer) take turns in a seeded random order, each
labeling the item its session shows. As in the app, a session saves a round when it made
``--retrain-every`` labels since its last one or its batch is done: a new batch of ``--batch``
items (the round's picks stand in for a strategy: the next undecided, unqueued items in a
seeded random order; no model is trained, only the queue matters here), written by the store's
round code (``rounds.save_round``). It stops after ``--labels`` labels.

Counted: the overlap items whose first decision was made (an item marked overlap when someone
decided it), how many of them got a second decision from a different annotator, and how many
still wait in the queue at the end (neither lost nor finished), and the most of them queued
after any round (how far the carry grows). Run it on an older tree to
compare (the same script; it uses only the session and the round code).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=2)
    parser.add_argument("--overlap", type=int, default=20)
    parser.add_argument("--retrain-every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--labels", type=int, default=600)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import alapp

    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as folder:
        result = simulate(Path(folder), args)
    result.update({
        "alapp": str(Path(alapp.__file__).parent), "args": vars(args),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_s": round(time.process_time() - cpu, 1), "load_average": os.getloadavg(),
        "machine": machine()})
    print(json.dumps(result, indent=2))


def simulate(folder: Path, args: argparse.Namespace) -> dict[str, object]:
    from alapp.al.batch import Pick
    from alapp.app.session import LabelingSession
    from alapp.store import queue, rounds
    from alapp.store.importer import import_file
    from alapp.store.project import Project

    source = folder / "in.csv"
    source.write_text("text\n" + "".join(f"message {i} about an order\n"
                                         for i in range(args.items)), "utf-8")
    rng = random.Random(args.seed)
    with Project.create(folder / "p.alapp", ["a", "b"], claim_overlap=args.overlap,
                        retrain_every=args.retrain_every, claim_window=1) as project:
        import_file(project, source)
        order = [int(i) for i in project.item_ids()]
        rng.shuffle(order)  # the stand-in strategy's ranking
        decided: set[int] = set()
        most_waiting = 0  # overlap items decided once, queued after a round: the carry's size

        def save_round() -> None:
            nonlocal most_waiting
            queued = {int(e.item_id) for e in queue.entries(project)}
            picks = [i for i in order if i not in decided and i not in queued][:args.batch]
            rounds.save_round(project, [Pick(i, 1.0, False, "uncertainty") for i in picks],
                              "uncertainty", len(decided), None)
            most_waiting = max(most_waiting, sum(
                e.decided_by is not None for e in queue.entries(project)))

        save_round()
        sessions = [LabelingSession.inline(project, f"annotator{k}")
                    for k in range(args.annotators)]
        first_on_overlap: set[int] = set()
        made = rounds_saved = 0
        while made < args.labels:
            who = rng.choice(sessions)
            entry = who.current()
            if entry is not None:
                if entry.overlap and entry.decided_by is None:
                    first_on_overlap.add(int(entry.item_id))
                who.label(entry, "a", 300, None)
                decided.add(int(entry.item_id))
                made += 1
            if who.retrain_due():
                save_round()
                who.labels_since_round = 0  # as the session's apply_round does
                rounds_saved += 1
        waiting = {int(e.item_id) for e in queue.entries(project) if e.decided_by}
        deciders: dict[int, set[str]] = {}
        for event in project.events():
            deciders.setdefault(int(event["item_id"]), set()).add(event["annotator"])
        for who in sessions:
            who.close()
    twice = {i for i in first_on_overlap if len(deciders.get(i, ())) >= 2}
    finished = first_on_overlap - waiting
    return {
        "labels": made, "rounds": rounds_saved, "items_labeled": len(deciders),
        "overlap_items_decided": len(first_on_overlap), "labeled_twice": len(twice),
        "still_waiting_at_end": len(waiting & first_on_overlap),
        "most_waiting_after_a_round": most_waiting,
        "share_labeled_twice": round(len(twice) / max(1, len(finished)), 3),
        "items_twice_of_items_labeled": round(
            sum(len(d) >= 2 for d in deciders.values()) / max(1, len(deciders)), 3)}


if __name__ == "__main__":
    main()
