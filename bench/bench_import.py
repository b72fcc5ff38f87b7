"""Import a generated 1,000,000-row CSV into a fresh project; print rows/s and peak memory.

Usage: python bench/bench_import.py [--rows N] [--labeled]
Peak memory is the maximum resident set size of this process (before and after the import, so
the difference is what the import added) and of the parser process that big files use.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.store.importer import import_file
from alapp.store.project import Project

WORDS = [
    *"order delivery invoice refund account password parcel courier payment app crash".split(),
    *"заказ доставка счёт возврат пароль посылка курьер оплата".split(),
    *"订单 快递 发票 退款 账号 密码 包裹 付款".split(),
]


def write_csv(path: Path, rows: int, labeled: bool) -> None:
    rng = random.Random(0)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text,label\n" if labeled else "id,text\n")
        for i in range(rows):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
            label = f",{('billing', 'delivery', 'technical')[i % 3]}" if labeled else ""
            f.write(f"r{i},\"{text} #{i}\"{label}\n")


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--labeled", action="store_true", help="every row carries a label")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.csv"
        write_csv(data, args.rows, args.labeled)
        before = max_rss_mib()
        with Project.create(Path(tmp) / "bench.alapp",
                            ["billing", "delivery", "technical"]) as project:
            start = time.perf_counter()
            report = import_file(project, data, parallel=None)
            seconds = time.perf_counter() - start
        after = max_rss_mib()
        print(json.dumps({
            "benchmark": "import_csv", "rows": report.rows, "labeled": report.labeled,
            "file_mib": round(data.stat().st_size / 2**20, 1), "seconds": round(seconds, 2),
            "rows_per_second": round(report.rows / seconds),
            "peak_rss_mib_before": round(before, 1), "peak_rss_mib_after": round(after, 1),
            "peak_rss_mib_parser_process": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "machine": machine(),
        }, indent=2))


if __name__ == "__main__":
    main()
