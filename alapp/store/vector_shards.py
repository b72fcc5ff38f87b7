"""A folder of vector shards: what ``alapp embed`` writes and ``alapp import-vectors`` reads.

```
DIR/manifest.json        which model, which input, the shard row ranges and each shard's SHA-256
DIR/part-00000.parquet   columns id (string), vector (fixed_size_list<float32>[dimension])
DIR/part-00001.parquet   ...
```

Every file is written to a hidden temporary name in DIR and renamed into place, so a shard is
either complete or absent, and the manifest names a shard's checksum only once the shard is in
place. A shard is trusted only when its bytes hash to that checksum. pyarrow is imported inside
the functions: the application starts without it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError
from alapp.core.files import fsync_folder, temporary_name, write_atomic
from alapp.store.project import Project
from alapp.store.vector_cache import bump_vector_version

MANIFEST = "manifest.json"
FORMAT = "alapp-vector-shards"
VERSION = 1
_TEMPORARY = re.compile(r"^\.(part-\d{5}\.parquet|manifest\.json)\.[0-9a-f]{8}\.tmp$")


def shard_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest; None when it has none. An error when it is not ours."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise AlappError(f"{path}: not a readable manifest ({e})".replace("\n", " ")) from None
    if not (isinstance(manifest, dict) and manifest.get("format") == FORMAT):
        raise AlappError(f"{path}: not an alapp vector-shard manifest")
    if manifest.get("version") != VERSION:
        raise AlappError(f"{path}: manifest version {manifest.get('version')!r}; this alapp "
                         f"reads version {VERSION}")
    shards = manifest.get("shards")
    if not (isinstance(shards, list) and all(_shard_entry_ok(s, i) for i, s in enumerate(shards))):
        raise AlappError(f"{path}: the list of shards is damaged")
    return manifest


def _shard_entry_ok(entry: Any, index: int) -> bool:
    return (isinstance(entry, dict) and entry.get("file") == shard_file(index)
            and type(entry.get("start")) is int and type(entry.get("stop")) is int
            and 0 <= entry["start"] < entry["stop"]
            and (entry.get("sha256") is None or isinstance(entry.get("sha256"), str)))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def is_temporary(name: str) -> bool:
    """A temporary file this module leaves behind when a run is killed mid-write."""
    return _TEMPORARY.match(name) is not None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_shard(folder: Path, index: int, ids: Sequence[str],
                vectors: NDArray[np.floating]) -> str:
    """Write shard ``index`` atomically; its SHA-256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or len(matrix) != len(ids):
        raise ValueError("one vector row per id")
    dim = matrix.shape[1]
    column = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), pa.float32()), dim)
    table = pa.table({"id": pa.array(list(ids), pa.string()), "vector": column})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    target = folder / shard_file(index)
    tmp = temporary_name(target)
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(folder)
    return sha256_bytes(data)


def shard_problem(folder: Path, entry: dict[str, Any]) -> str | None:
    """Why a finished shard cannot be trusted (missing, changed), or None."""
    path = folder / entry["file"]
    if not entry.get("sha256"):
        return "not finished"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if sha256_bytes(data) != entry["sha256"]:
        return "its checksum does not match the manifest"
    return None


def read_shard(folder: Path, entry: dict[str, Any], dimension: int
               ) -> tuple[list[str], NDArray[np.float32]]:
    """A finished shard's ids and vectors, checked against the manifest: the bytes hash to the
    recorded checksum (read once, then parsed from memory, so what is checked is what is
    used), the columns and the row count are the manifest's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / entry["file"]
    if not entry.get("sha256"):
        raise AlappError(f"{path}: not finished (rerun alapp embed to finish it)")
    try:
        data = path.read_bytes()
    except OSError as e:
        why = "missing" if isinstance(e, FileNotFoundError) else f"unreadable ({e.strerror})"
        raise AlappError(f"{path}: {why}") from None
    if sha256_bytes(data) != entry["sha256"]:
        raise AlappError(f"{path}: its checksum does not match the manifest (changed or "
                         "damaged since it was written)")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as e:  # matching checksum, unreadable file: written by something else
        raise AlappError(f"{path}: not a readable Parquet file ({e})".replace("\n", " ")) \
            from None
    rows = entry["stop"] - entry["start"]
    expected = pa.schema([("id", pa.string()),
                          ("vector", pa.list_(pa.float32(), dimension))])
    if not table.schema.remove_metadata().equals(expected):
        raise AlappError(f"{path}: columns {table.schema.names} with types "
                         f"{[str(t) for t in table.schema.types]}; expected id (string) and "
                         f"vector (fixed_size_list<float32>[{dimension}])")
    if table.num_rows != rows:
        raise AlappError(f"{path}: {table.num_rows} rows; the manifest says {rows}")
    vector = table.column("vector").combine_chunks()
    if vector.null_count:
        raise AlappError(f"{path}: {vector.null_count} rows have no vector")
    flat = vector.values.to_numpy(zero_copy_only=False)
    return table.column("id").to_pylist(), flat.reshape(rows, dimension).astype(np.float32)


def finished_shards(folder: Path, manifest: dict[str, Any]
                    ) -> Iterator[tuple[list[str], NDArray[np.float32]]]:
    """Every shard in order, one at a time (memory: one shard), each checked."""
    dimension = manifest.get("dimension")
    if type(dimension) is not int or dimension < 1:
        raise AlappError(f"{folder / MANIFEST}: no vector dimension recorded")
    for entry in manifest["shards"]:
        yield read_shard(folder, entry, dimension)


def import_shards(project: Project, name: str, folder: Path) -> int:
    """Store a finished shard folder's vectors as ``vectors:NAME``: all or nothing.

    Checked before anything is written: the manifest is complete, every shard hashes to its
    checksum and has the manifest's columns and rows, every id is an item of the project and
    every item has a vector, and a vector set of that name already in the project has the same
    dimension. Then one transaction, shard by shard (memory: one shard)."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise AlappError(f"{folder}: no {MANIFEST}; expected a folder written by alapp embed")
    unfinished = sum(1 for s in manifest["shards"] if not s.get("sha256"))
    if unfinished or not manifest.get("complete"):
        raise AlappError(f"{folder}: {unfinished} of {len(manifest['shards'])} shards are not "
                         "finished; rerun alapp embed to finish them")
    known = dict(project._conn.execute("SELECT ext_id, id FROM items"))
    featurizer = f"vectors:{name}"
    dimension = manifest.get("dimension")
    if type(dimension) is not int or dimension < 1:
        raise AlappError(f"{folder / MANIFEST}: no vector dimension recorded")
    row = project._conn.execute("SELECT length(vector) FROM embeddings WHERE featurizer = ? "
                                "LIMIT 1", (featurizer,)).fetchone()
    if row is not None and row[0] != 2 * dimension:
        raise AlappError(f"{folder}: {dimension}-d vectors, but the project's {featurizer} "
                         f"holds {row[0] // 2}-d ones; import them under another name")
    unknown, first_unknown, covered = 0, None, 0
    seen = np.zeros(max(known.values(), default=0) + 1, dtype=bool)
    for ids, vectors in finished_shards(folder, manifest):
        for ext_id in ids:
            item = known.get(ext_id)
            if item is None:
                unknown += 1
                first_unknown = first_unknown or ext_id
            elif seen[item]:
                raise AlappError(f"{folder}: the id {ext_id!r} appears in two rows")
            else:
                seen[item] = True
                covered += 1
        if not np.all(np.isfinite(vectors)):
            raise AlappError(f"{folder}: a shard holds NaN or infinite values")
    missing = len(known) - covered
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"{unknown:,} ids in the shards are not items of the project "
                         f"(e.g. {first_unknown!r})")
        if missing:
            example = next(iter(set(known) - _all_ids(folder, manifest)), None)
            parts.append(f"{missing:,} items of the project have no vector (e.g. {example!r})")
        raise AlappError(f"{folder}: {'; '.join(parts)}; nothing was imported (embed a file "
                         "that holds exactly the project's items)")
    count = 0
    with project.transaction() as conn:
        for ids, vectors in finished_shards(folder, manifest):
            half = vectors.astype(np.float16)
            conn.executemany("INSERT OR REPLACE INTO embeddings (item_id, featurizer, vector) "
                             "VALUES (?, ?, ?)",
                             [(known[i], featurizer, v.tobytes())
                              for i, v in zip(ids, half, strict=True)])
            count += len(ids)
        bump_vector_version(conn, featurizer)  # a vector cache of them is now stale
    return count


def _all_ids(folder: Path, manifest: dict[str, Any]) -> set[str]:
    """Every id in the shards (only to name an example of a missing item)."""
    import pyarrow.parquet as pq

    ids: set[str] = set()
    for entry in manifest["shards"]:
        ids.update(pq.read_table(folder / entry["file"], columns=["id"]).column(0).to_pylist())
    return ids
