"""alapp embed on Ray's local mode against the plain in-process loop, on the same cores and the
same texts (issue 20: Ray's overhead within 10% of the plain featurizer).

Both go through ``embed_file`` end to end (reading the input, MiniLM through the app's
featurizer, Parquet shards, the manifest), one after the other, each after a warm-up:
- plain: ``--no-ray``, one process, torch on every core;
- Ray: local mode started first (its start is reported apart), an actor pool of one actor per
  core with one torch thread each; each job starts its actors and loads the model in each,
  which is counted (``ray_texts_per_s``); ``ray_steady_texts_per_s`` counts from the first
  finished shard to the last, the rate a long job runs at.
Texts: GoEmotions comments from ../shared/data when present, else the demo texts repeated.
Usage: python bench/bench_ray_embed.py [--texts 20000] [--shard-rows 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine

from alapp.app.embed_job import EmbedOptions, ShardDone, embed_file
from alapp.ml import cluster_embed
from alapp.ml.embedders import default_minilm_folder

# ../shared/data beside the clone (or beside the folder of worktrees the clone is in)
SHARED = [Path(__file__).resolve().parents[i] / "shared" / "data" for i in (2, 3)]


def load_texts(n: int) -> tuple[list[str], str]:
    for shared in SHARED:
        source = shared / "goemotions" / "train.tsv"
        if source.is_file():
            texts = [t for t in (line.split("\t")[0].strip() for line in
                                 source.read_text("utf-8").splitlines()) if t]
            return (texts * (n // len(texts) + 1))[:n], "goemotions"
    from alapp.store.demo import demo_data_path

    texts = [json.loads(line)["text"] for line in
             demo_data_path().read_text("utf-8").splitlines()]
    return (texts * (n // len(texts) + 1))[:n], "demo (repeated)"


def write_input(folder: Path, texts: list[str], name: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"id": [f"{name}{i}" for i in range(len(texts))], "text": texts}),
                   path)
    return path


def timed(path: Path, model: Path, out: Path, options: EmbedOptions
          ) -> tuple[float, float | None]:
    """(seconds end to end, texts/s from the first finished shard to the last)."""
    marks: list[tuple[float, int]] = []

    def mark(done: ShardDone) -> None:
        marks.append((time.perf_counter(), done.rows_done))

    start = time.perf_counter()
    embed_file(path, model, out, options, mark)
    seconds = time.perf_counter() - start
    steady = None
    if len(marks) > 1:
        steady = (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
    return seconds, steady


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--shard-rows", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    model = default_minilm_folder()
    texts, source = load_texts(args.texts + args.warmup)
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = write_input(folder, texts[args.warmup:], "pool")
        warm = write_input(folder, texts[:args.warmup], "warm")
        plain = EmbedOptions(shard_rows=args.shard_rows, use_ray=False)
        on_ray = EmbedOptions(shard_rows=args.shard_rows, use_ray=True, workers=cores)
        timed(warm, model, folder / "warm-plain", plain)
        plain_s, plain_steady = timed(data, model, folder / "plain", plain)
        start = time.perf_counter()
        cluster_embed.start_ray(None, cpus=cores)
        ray_start = time.perf_counter() - start
        try:
            timed(warm, model, folder / "warm-ray", on_ray)
            ray_s, ray_steady = timed(data, model, folder / "ray", on_ray)
        finally:
            import ray

            ray.shutdown()
    n = args.texts
    print(json.dumps({
        "benchmark": "ray_local_mode_embed", "texts": n, "source": source,
        "model": "all-MiniLM-L6-v2 (max_length 256, batches of 64)",
        "shard_rows": args.shard_rows, "cores": cores, "ray_workers": cores,
        "plain_texts_per_s": round(n / plain_s, 1),
        "plain_steady_texts_per_s": round(plain_steady, 1) if plain_steady else None,
        "ray_texts_per_s": round(n / ray_s, 1),
        "ray_steady_texts_per_s": round(ray_steady, 1) if ray_steady else None,
        "ray_per_worker_texts_per_s": round(n / ray_s / cores, 1),
        "ray_start_s": round(ray_start, 1),
        "overhead_pct": round((ray_s / plain_s - 1) * 100, 1),
        "steady_overhead_pct": (round((plain_steady / ray_steady - 1) * 100, 1)
                                if plain_steady and ray_steady else None),
        "target_overhead_pct": 10,
        "load_average_before": load_before, "load_average_after": load(),
        "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
