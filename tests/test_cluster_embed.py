"""alapp embed on real Ray, in local mode on 2 CPUs (issue 20): the same vectors as the app's
own featurizer over 20,000 texts, a resume that skips finished shards, and a worker killed
mid-run whose blocks Ray retries. No mocks: Ray Data, actors and MiniLM all run for real.

Texts: GoEmotions comments (short Reddit texts) from ../shared/data when present, else
generated sentences; either way 20,000 rows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alapp.app.embed_job import EmbedOptions, ShardDone, embed_file
from alapp.ml import cluster_embed
from alapp.store import vector_shards
from tests.conftest import SHARED_DATA

ray = pytest.importorskip("ray")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
ROWS = 20_000
SHARD_ROWS = 2_000


def pool_texts(n: int) -> list[str]:
    for shared in (SHARED_DATA, ROOT.parents[1] / "shared" / "data"):  # a clone, a worktree
        source = shared / "goemotions" / "train.tsv"
        if not source.is_file():
            continue
        texts = [line.split("\t")[0].strip() for line in
                 source.read_text("utf-8").splitlines()]
        texts = [t for t in texts if t]
        if len(texts) >= n:
            return texts[:n]
        break
    rng = np.random.default_rng(0)
    words = ("the a service was late again good price delivery box broken refund thanks "
             "support team never answered my order arrived today love it").split()
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 18)))) for _ in range(n)]


@pytest.fixture(scope="module")
def minilm() -> Path:
    from alapp.core.errors import AlappError
    from alapp.ml.embedders import default_minilm_folder

    try:
        return default_minilm_folder()
    except AlappError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> tuple[Path, list[str], list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = pool_texts(ROWS)
    ids = [f"c{i:05d}" for i in range(ROWS)]
    path = tmp_path_factory.mktemp("pool") / "pool.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), path)
    return path, ids, texts


@pytest.fixture(scope="module")
def local_ray():
    """Ray's local mode on 2 CPUs, started the way alapp embed starts it, for the module."""
    started = cluster_embed.start_ray(None, cpus=2)
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, pool, minilm, local_ray):
    """The 20,000 texts embedded once on Ray: (folder, report)."""
    out = tmp_path_factory.mktemp("embedded") / "vectors"
    report = embed_file(pool[0], minilm, out, EmbedOptions(shard_rows=SHARD_ROWS))
    return out, report


def vectors_of(folder: Path) -> tuple[list[str], np.ndarray]:
    manifest = vector_shards.read_manifest(folder)
    assert manifest is not None
    ids, parts = [], []
    for shard_ids, vectors in vector_shards.finished_shards(folder, manifest):
        ids += shard_ids
        parts.append(vectors)
    return ids, np.concatenate(parts)


@pytest.mark.slow
def test_ray_job_gives_the_local_featurizers_vectors(embedded, pool, minilm) -> None:
    from alapp.ml.embedders import HFEmbedder

    out, report = embedded
    assert report.engine == "Ray local mode"
    assert (report.rows, report.shards, report.dimension) == (ROWS, 10, 384)
    assert report.computed and sorted(report.computed) == list(range(10))
    ids, vectors = vectors_of(out)
    assert ids == pool[1]
    assert vectors.shape == (ROWS, 384) and vectors.dtype == np.float32
    sample = np.random.default_rng(1).choice(ROWS, size=400, replace=False)
    expected = HFEmbedder(minilm).embed([pool[2][i] for i in sample])
    np.testing.assert_allclose(vectors[sample], expected, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_resume_skips_finished_shards_and_redoes_only_the_damaged(embedded, pool, minilm,
                                                                   tmp_path) -> None:
    out = tmp_path / "vectors"
    shutil.copytree(embedded[0], out)
    _, before = vectors_of(out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    again = embed_file(pool[0], minilm, out, EmbedOptions(shard_rows=SHARD_ROWS))
    assert again.computed == [] and again.skipped == list(range(10))
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")} == mtimes
    (out / "part-00003.parquet").unlink()
    blob = bytearray((out / "part-00007.parquet").read_bytes())
    blob[100] ^= 0x55
    (out / "part-00007.parquet").write_bytes(bytes(blob))
    redo = embed_file(pool[0], minilm, out, EmbedOptions(shard_rows=SHARD_ROWS))
    assert sorted(redo.computed) == [3, 7] and len(redo.skipped) == 8
    for name, mtime in mtimes.items():
        if name not in ("part-00003.parquet", "part-00007.parquet"):
            assert (out / name).stat().st_mtime_ns == mtime, name
    _, after = vectors_of(out)
    np.testing.assert_allclose(after, before, atol=1e-4)


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below ``root`` (from /proc)."""
    parent, command = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue  # gone meanwhile
        parent[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, level = {}, {root}
    while level:
        level = {pid for pid, ppid in parent.items() if ppid in level and pid not in found}
        found.update({pid: command[pid] for pid in level})
    return found


def map_workers() -> list[int]:
    """The Ray Data actors of alapp's embedder among this process's descendants."""
    return [pid for pid, command in descendants(os.getpid()).items()
            if command.startswith("ray::MapWorker(MapBatches(ShardEmbedder")]


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"  # a zombie: dead, not yet reaped by its parent


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds Ray's workers in /proc")
def test_a_worker_killed_mid_run_is_restarted_and_every_shard_is_right(embedded, pool,
                                                                        minilm,
                                                                        tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 2_000
    small = tmp_path / "small.parquet"
    pq.write_table(pa.table({"id": pool[1][:n], "text": pool[2][:n]}), small)
    killed: list[tuple[int, int]] = []

    def kill_one(done: ShardDone) -> None:
        if not killed:
            workers = map_workers()
            assert workers, "no Ray Data embedder actor found"
            os.kill(workers[0], signal.SIGKILL)
            killed.append((workers[0], done.finished))

    out = tmp_path / "vectors"
    report = embed_file(small, minilm, out, EmbedOptions(shard_rows=200), kill_one)
    assert killed and killed[0][1] < 10  # the kill came with 9 or fewer of 10 shards done
    assert gone(killed[0][0])
    assert sorted(report.computed) == list(range(10))
    ids, vectors = vectors_of(out)
    full_ids, full = vectors_of(embedded[0])
    assert ids == full_ids[:n]
    np.testing.assert_allclose(vectors, full[:n], atol=1e-4)


@pytest.mark.slow
def test_command_line_runs_ray_local_mode_by_default(tmp_path, tiny_bert) -> None:
    """Its own Ray (started and stopped by the command), no dashboard, no usage report."""
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps({"id": i, "text": f"hello world {i}"}) + "\n"
                            for i in range(300)), "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, "-m", "alapp", "embed", str(data), "--model", str(tiny_bert), "--out",
         str(tmp_path / "out"), "--shard-rows", "100", "--workers", "2"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "300 vectors of 32 dimensions in 3 shards (Ray local mode: 3 computed" in \
        result.stdout
    assert result.stdout.count("shard 0000") == 3
    ids, _ = vectors_of(tmp_path / "out")
    assert ids == [str(i) for i in range(300)]
