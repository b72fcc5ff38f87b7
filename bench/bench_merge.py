"""Merge a results package of 10,000 labels into a 100,000-item project (issue 19: under 5 s on
2 cores, in one transaction); print JSON with the machine.

Usage: python bench/bench_merge.py [--items N] [--labels M] [--imported K] [--repeat R]

The project is generated (a CSV of N texts, K of them with an imported label); a package of M
of its items is written for "alice" as ``alapp pack`` writes it (the items are drawn at random
here: the strategy's round over 100,000 texts is not what this measures), labeled in the
package project on another workstation and sent back with ``pack-results``. Timed:

- ``merge_s``: ``merge_into`` on the open project: read and check the package (checksums,
  every event: item and its text, label, annotator, uid and sequence), insert the new events in
  one transaction and resolve every item's training label again (``resolution.rebuild``);
- ``command_s``: what ``alapp merge P PACKAGE`` takes end to end (open with lock, the same
  merge, close), on a fresh copy;
- ``again_s``: merging the same package a second time (nothing new: checks only).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine

from alapp.app import packages as ap
from alapp.core.types import Action, ItemId, Selection, Source
from alapp.store import packages as sp
from alapp.store.importer import import_file
from alapp.store.project import Project

LABELS = ["billing", "delivery", "technical", "account", "praise"]
WORDS = ("order delivery invoice refund account password parcel courier payment app crash "
         "заказ доставка счёт возврат пароль посылка курьер оплата 订单 快递 发票 退款").split()


def write_csv(path: Path, rows: int, imported: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text,label\n")
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            label = LABELS[i % len(LABELS)] if i < imported else ""
            f.write(f"r{i},\"{text} #{i}\",{label}\n")


def make_results(folder: Path, main: Path, labels: int) -> Path:
    """A results package of ``labels`` labels, made the way an annotator makes one."""
    package_id = "b" * 32
    with Project.open(main, backup=False) as project:
        unlabeled = sorted(set(project.item_ids()) - set(project.current_labels()))
        chosen = random.Random(1).sample(unlabeled, labels)
        packed = [sp.PackedItem(ItemId(i), Source.AL, "margin", 0.5, 8.0) for i in chosen]
        sp.write_package_project(project, folder / "package.alapp", "alice", package_id,
                                 packed, with_model=False)
        sp.record_assignments(project, "alice", package_id, chosen, [])
    rng = random.Random(2)
    with Project.open(folder / "package.alapp", workstation="ws-alice", backup=False) as pkg:
        now = time.time()
        with pkg.transaction():
            for k, item in enumerate(pkg.item_ids()):
                pkg._insert_event(item, Action.LABEL, rng.choice(LABELS), "alice",
                                  now + k, rng.randint(800, 9000),
                                  Selection(Source.AL, "margin", 0.5, 8.0),
                                  submitted_at=now + k + 1, resolve=False)
    return ap.pack_results(folder / "package.alapp", folder / "results.alapppack").path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--imported", type=int, default=10_000,
                        help="items that come with an imported label")
    parser.add_argument("--repeat", type=int, default=3, help="fresh copies merged, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "items.csv"
        write_csv(data, args.items, args.imported)
        main_path = folder / "main.alapp"
        with Project.create(main_path, LABELS, workstation="ws-lead") as project:
            import_file(project, data, parallel=None)
        t = time.perf_counter()
        results = make_results(folder, main_path, args.labels)
        made_s = time.perf_counter() - t
        merge_s, command_s, again_s = [], [], []
        report = None
        for k in range(args.repeat):
            copy = folder / f"copy{k}.alapp"
            shutil.copy2(main_path, copy)
            with Project.open(copy, backup=False) as project:
                t = time.perf_counter()
                report = ap.merge_into(project, results)
                merge_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                again = ap.merge_into(project, results)
                again_s.append(time.perf_counter() - t)
                assert again.new_events == 0
            fresh = folder / f"fresh{k}.alapp"
            shutil.copy2(main_path, fresh)
            t = time.perf_counter()
            ap.merge_package(fresh, results)
            command_s.append(time.perf_counter() - t)
        assert report is not None and report.new_events == args.labels
        print(json.dumps({
            "benchmark": "merge",
            "items": args.items, "imported_labels": args.imported,
            "package_labels": args.labels,
            "package_bytes": results.stat().st_size,
            "new_events": report.new_events,
            "merge_s": round(min(merge_s), 3), "merge_s_all": [round(s, 3) for s in merge_s],
            "command_s": round(min(command_s), 3),
            "command_s_all": [round(s, 3) for s in command_s],
            "again_s": round(min(again_s), 3),
            "package_made_s": round(made_s, 2),
            "target_s": 5.0,
            "machine": machine(),
        }, indent=1))


if __name__ == "__main__":
    main()
