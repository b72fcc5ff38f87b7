"""Issue 20, large pools: the round that keeps the vectors in a memory-mapped cache file and
scores the pool a block at a time chooses what the ordinary round chooses; the cache file is
rebuilt when the vectors change and never trusted when damaged."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from alapp.app.rounds import snapshot_of
from alapp.loop import large_pool
from alapp.loop.round import RoundRunner
from alapp.store import vector_cache
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.vectors import import_npy, save_vectors

N, DIM = 900, 16


def _project(folder: Path, **settings: object) -> Path:
    """900 items in three noisy clusters; 30 labeled test items and 45 labeled pool items."""
    rng = np.random.default_rng(7)
    y = np.arange(N) % 3
    centres = rng.normal(size=(3, DIM))
    lines = ["id,text,label,split"]
    for i in range(N):
        label = f"c{y[i]}" if i < 75 else ""
        split = "test" if i < 30 else "pool"
        lines.append(f"r{i},item number {i},{label},{split}")
    (folder / "items.csv").write_text("\n".join(lines) + "\n", "utf-8")
    np.save(folder / "v.npy", (centres[y] + 0.9 * rng.normal(size=(N, DIM))).astype(np.float32))
    path = folder / "p.alapp"
    with Project.create(path, ["c0", "c1", "c2"], featurizer="vectors:v",
                        self_training=False, propagation_weight=0.0, **settings) as project:
        import_file(project, folder / "items.csv", ImportSpec(split_column="split"))
        import_npy(project, "v", folder / "v.npy", None)
    return path


def _round(path: Path, large_pool_items: int, rounds: int = 1):
    with Project.open(path) as project:
        project.update_settings(large_pool_items=large_pool_items)
        runner = RoundRunner()
        results = [runner.run(snapshot_of(project)) for _ in range(rounds)]
    return results


@pytest.mark.parametrize("strategy,cost_aware", [("margin", False), ("entropy", True),
                                                 ("least-confidence", False)])
def test_the_large_pool_round_picks_what_the_ordinary_round_picks(
        tmp_path, monkeypatch, strategy, cost_aware) -> None:
    path = _project(tmp_path, strategy=strategy, cost_aware=cost_aware, batch_size=25)
    monkeypatch.setattr(large_pool, "BLOCK_ROWS", 128)  # several blocks, one cut short
    ordinary = _round(path, 0, rounds=2)
    large = _round(path, 100, rounds=2)
    assert vector_cache.cache_path(path, "vectors:v").is_file()  # the large round ran
    assert not any("large" in n for n in ordinary[0].notes)
    for a, b in zip(ordinary, large, strict=True):
        assert [(p.item_id, p.is_random, p.strategy) for p in a.picks] == \
            [(p.item_id, p.is_random, p.strategy) for p in b.picks]
        assert len(a.picks) == 25 and sum(p.is_random for p in a.picks) >= 1
        assert np.allclose([p.score or 0 for p in a.picks], [p.score or 0 for p in b.picks])
        assert np.allclose([p.predicted_cost for p in a.picks],
                           [p.predicted_cost for p in b.picks])
        assert (a.cost.model, a.cost.trust) == (b.cost.model, b.cost.trust)
        assert a.predicted.keys() == b.predicted.keys() and len(a.predicted) == N - 75
        assert all(a.predicted[i][0] == b.predicted[i][0] for i in a.predicted)
        assert np.allclose([a.predicted[i][1] for i in a.predicted],
                           [b.predicted[i][1] for i in a.predicted])
        assert a.metrics["accuracy"] == b.metrics["accuracy"]
        assert a.metrics["test_items"] == 30
        assert a.model_kind == b.model_kind and a.n_labeled == b.n_labeled == 45
        assert [s.name for s in a.signals] == [s.name for s in b.signals]


def test_strategies_that_read_embeddings_take_the_ordinary_round(tmp_path) -> None:
    path = _project(tmp_path, strategy="uncertainty-cluster")
    with Project.open(path) as project:
        project.update_settings(large_pool_items=100)
        snap = snapshot_of(project)
    assert "reads more than the class probabilities" in (large_pool.unsupported(snap) or "")
    _round(path, 100)
    assert not vector_cache.cache_path(path, "vectors:v").exists()


def test_the_cache_holds_the_projects_vectors_and_follows_their_changes(tmp_path) -> None:
    path = _project(tmp_path)
    with Project.open(path) as project:
        ids = project.item_ids()
        stored = np.load(tmp_path / "v.npy").astype(np.float16).astype(np.float32)
        first = vector_cache.open_cache(project, "vectors:v")
        assert first.built and first.dim == DIM
        assert np.array_equal(first.gather(first.rows_of(ids)), stored)
        first.close()
        again = vector_cache.open_cache(project, "vectors:v")
        assert not again.built  # current and whole: used as it is
        again.close()
        # New vectors for three items: the version moves on, the cache is rebuilt.
        before = vector_cache.vector_version(project._conn, "vectors:v")
        save_vectors(project, "vectors:v", ids[:3], np.full((3, DIM), 2.5, np.float32))
        assert vector_cache.vector_version(project._conn, "vectors:v") == before + 1
        changed = vector_cache.open_cache(project, "vectors:v")
        assert changed.built
        got = changed.gather(changed.rows_of(ids))
        assert np.all(got[:3] == 2.5) and np.array_equal(got[3:], stored[3:])
        with pytest.raises(Exception, match="no 'vectors:v' vectors"):
            changed.rows_of([max(ids) + 1])
        # Blocks give the same rows, in the order asked.
        rows = changed.rows_of(ids[::-1])
        joined = np.concatenate([b for _, b in changed.blocks(rows, 100)])
        assert np.array_equal(joined, got[::-1])
        changed.close()


@pytest.mark.parametrize("damage", ["truncated", "flipped", "header", "empty"])
def test_a_damaged_cache_file_is_rebuilt_never_trusted(tmp_path, damage) -> None:
    path = _project(tmp_path)
    with Project.open(path) as project:
        ids = project.item_ids()
        good = vector_cache.open_cache(project, "vectors:v")
        expected = good.gather(good.rows_of(ids))
        good.close()
        del good
        file = vector_cache.cache_path(path, "vectors:v")
        data = bytearray(file.read_bytes())
        stat = file.stat()
        if damage == "truncated":
            data = data[:-100]
        elif damage == "flipped":  # same size, same time: only the digest tells
            data[vector_cache.HEADER + N * 8 + 5] ^= 0x40
        elif damage == "header":
            data[:20] = b"x" * 20
        else:
            data = bytearray()
        file.write_bytes(bytes(data))
        os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        vector_cache._checked.clear()  # as a new process would see it
        rebuilt = vector_cache.open_cache(project, "vectors:v")
        assert rebuilt.built
        assert np.array_equal(rebuilt.gather(rebuilt.rows_of(ids)), expected)
        rebuilt.close()
    assert [p.name for p in file.parent.iterdir()] == [file.name]  # no temporary left
