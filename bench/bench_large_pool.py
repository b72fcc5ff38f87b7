"""A 1,000,000-item project on one machine (issue 20): import rate, a round's time, peak memory.

Usage: python bench/bench_large_pool.py [--items N] [--dim D] [--labels L] [--keep DIR]

Builds a project through the code paths `alapp` itself runs, each step in a fresh process so
that each reports its own peak resident set (ru_maxrss, which counts mapped file pages too):

1. `alapp import`'s path (app.projects.import_into): a CSV of N synthetic texts (words drawn
   from a fixed English/Russian/Chinese list, seeded) with id, text, label and split columns;
   L pool items and L/2 test items carry a label (three classes), the rest none.
2. `alapp import-vectors`'s path (app.projects.import_vectors): an .npy of N x D synthetic
   float16 vectors, seeded: the centre of the item's class plus Gaussian noise, so the labels
   are learnable. They are not the vectors of any real model.
3. Two rounds as the application runs them (app.rounds.snapshot_of, loop RoundRunner.run,
   app.rounds.save_result), in one process, strategy margin and the project's other defaults:
   the first builds the vector cache file beside the project, the second finds it current.
   Then a third process runs one round with the cache already there: the steady state of an
   application opened on the project.

Prints JSON (the machine, the load average before and after each step, and CPU seconds beside
wall seconds: the development machine's 2 cores are shared with other jobs, and load inflates
wall time far more than CPU time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's alapp, not whichever is installed
sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

WORDS = [
    *"order delivery invoice refund account password parcel courier payment app crash".split(),
    *"заказ доставка счёт возврат пароль посылка курьер оплата".split(),
    *"订单 快递 发票 退款 账号 密码 包裹 付款".split(),
]
LABELS = ["billing", "delivery", "technical"]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_csv(path: Path, items: int, labels: int) -> None:
    """Labeled rows are spread over the file: the first ``labels`` rows with i % 7 == 0 are
    labeled pool items, the next labels/2 such rows labeled test items."""
    rng = random.Random(0)
    tests = labels // 2
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text,label,split\n")
        seen = 0
        for i in range(items):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            label, split = "", "pool"
            if i % 7 == 0 and seen < labels + tests:
                label = LABELS[i % 3]
                split = "pool" if seen < labels else "test"
                seen += 1
            f.write(f"r{i},\"{text} #{i}\",{label},{split}\n")


def write_vectors(path: Path, items: int, dim: int) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(items, dim))
    for start in range(0, items, 50_000):
        rows = np.arange(start, min(items, start + 50_000))
        block = centres[rows % 3] + 1.5 * rng.standard_normal((len(rows), dim), np.float32)
        out[start:start + len(rows)] = block
    out.flush()
    del out


def child(step: str, project: Path, data: Path, dim: int) -> dict[str, Any]:
    """One step in a fresh process; its result as JSON on the last line of stdout."""
    done = subprocess.run([sys.executable, __file__, "--child", step, str(project), str(data),
                           str(dim)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{step} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def max_rss_mib() -> float:
    """This process's peak resident set: VmHWM, which a new program starts afresh (Linux's
    ru_maxrss keeps the parent's peak across fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of this process and of its finished children (the
    import's parser process): what a loaded machine inflates far less than wall time."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": round(own.ru_utime + own.ru_stime, 2),
            "children_cpu_s": round(kids.ru_utime + kids.ru_stime, 2)}


def run_child(step: str, project: Path, data: Path, dim: int) -> None:
    from alapp.core.settings import ProjectSettings

    out: dict[str, Any] = {"load_before": load()}
    if step == "create":
        from alapp.store.project import Project

        Project.create(project, LABELS, featurizer="vectors:bench", strategy="margin").close()
        print(json.dumps(out))
        return
    if step == "import":
        from alapp.app.projects import import_into
        from alapp.store.importer import ImportSpec

        before = cpu_s()
        start = time.perf_counter()
        report = import_into(project, data, ImportSpec(split_column="split"))
        seconds = time.perf_counter() - start
        after = cpu_s()
        out.update(rows=report.rows, labeled=report.labeled, seconds=round(seconds, 2),
                   rows_per_second=round(report.rows / seconds),
                   writer_cpu_s=round(after["cpu_s"] - before["cpu_s"], 2),
                   parser_cpu_s=round(after["children_cpu_s"] - before["children_cpu_s"], 2))
    elif step == "vectors":
        from alapp.app.projects import import_vectors

        start = time.perf_counter()
        count = import_vectors(project, "bench", data, None)
        out.update(vectors=count, seconds=round(time.perf_counter() - start, 2))
    else:  # rounds: "round2" (two rounds, one process) or "round1" (one round)
        from alapp.app.rounds import save_result, snapshot_of
        from alapp.loop.round import RoundRunner
        from alapp.store.project import Project

        rounds = []
        with Project.open(project) as opened:
            runner = RoundRunner()
            for _ in range(2 if step == "round2" else 1):
                start, cpu_start = time.perf_counter(), time.process_time()
                snap = snapshot_of(opened)
                read = time.perf_counter() - start
                read_cpu = time.process_time() - cpu_start
                result = runner.run(snap)
                ran = time.perf_counter() - start - read
                ran_cpu = time.process_time() - cpu_start - read_cpu
                save_result(opened, result)
                total = time.perf_counter() - start
                del snap
                rounds.append({
                    "read_snapshot_s": round(read, 2), "round_s": round(ran, 2),
                    "read_snapshot_cpu_s": round(read_cpu, 2), "round_cpu_s": round(ran_cpu, 2),
                    "round_parts_s": result.seconds,
                    "with_save_s": round(total, 2), "picks": len(result.picks),
                    "random_share": sum(p.is_random for p in result.picks),
                    "strategy": result.strategy, "model": result.model_kind,
                    "n_labeled": result.n_labeled, "pool_scored": len(result.predicted),
                    "test_accuracy": result.metrics.get("accuracy"),
                    "notes": result.notes, "rss_mib_so_far": max_rss_mib()})
            settings: ProjectSettings = opened.settings()
        out.update(rounds=rounds, large_pool_items=settings.large_pool_items,
                   strategy=settings.strategy, classifier=settings.classifier)
    out.update(peak_rss_mib=max_rss_mib(), load_after=load(), **cpu_s())
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--labels", type=int, default=300, help="labeled pool items")
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        step, project, data, dim = args.child
        run_child(step, Path(project), Path(data), int(dim))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        project = folder / "large.alapp"
        csv, npy = folder / "pool.csv", folder / "vectors.npy"
        started = time.perf_counter()
        write_csv(csv, args.items, args.labels)
        write_vectors(npy, args.items, args.dim)
        generated = time.perf_counter() - started
        child("create", project, csv, args.dim)
        imported = child("import", project, csv, args.dim)
        vectors = child("vectors", project, npy, args.dim)
        two = child("round2", project, csv, args.dim)
        steady = child("round1", project, csv, args.dim)
        print(json.dumps({
            "benchmark": "large_pool",
            "items": args.items, "dim": args.dim,
            "data": (f"synthetic: texts of 6-18 words from a fixed 27-word list (seeded), "
                     f"{args.labels} labeled pool items and {args.labels // 2} labeled test "
                     f"items in three classes; float16 vectors = class centre + Gaussian "
                     f"noise (seeded), not a real model's; built through alapp's import and "
                     f"import-vectors code paths"),
            "files_mib": {"csv": round(csv.stat().st_size / 2**20, 1),
                          "npy": round(npy.stat().st_size / 2**20, 1),
                          "project": round(project.stat().st_size / 2**20, 1)},
            "generate_s": round(generated, 1),
            "import": imported,
            "import_vectors": vectors,
            "rounds_one_process": two,
            "round_fresh_process_cache_current": steady,
            "targets": {"import_rows_per_second": 100_000, "round_seconds": 10,
                        "peak_rss_mib": 2048},
            "machine": machine(),
        }, indent=2))


if __name__ == "__main__":
    main()
