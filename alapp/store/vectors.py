"""Embeddings cached per (item, featurizer) as float16 blobs.

Written batch by batch in short transactions, so a cancelled or crashed embedding run resumes
where it stopped; an item's text never changes, so a stored vector never goes stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError, InputError
from alapp.core.pairs import join_pair
from alapp.core.types import ItemId
from alapp.store.project import Project
from alapp.store.vector_cache import bump_vector_version

SAVE_ROWS = 10_000  # vectors written per statement


def cached_ids(project: Project, featurizer: str) -> set[ItemId]:
    return {ItemId(r[0]) for r in project._conn.execute(
        "SELECT item_id FROM embeddings WHERE featurizer = ?", (featurizer,))}


def missing_texts(project: Project, featurizer: str) -> list[tuple[ItemId, str]]:
    """(id, model text) of every item without a vector for ``featurizer``."""
    return [(ItemId(i), join_pair(a, b)) for i, a, b in project._conn.execute(
        "SELECT id, text, text_b FROM items WHERE id NOT IN "
        "(SELECT item_id FROM embeddings WHERE featurizer = ?)", (featurizer,))]


def imported_vector_names(project: Project) -> list[str]:
    """Names of imported vector sets (featurizer ``vectors:NAME``) the project holds."""
    # A skip scan over the primary key (featurizer, item_id): one index probe per vector set,
    # where DISTINCT read every row (34 ms on 100k items, on the GUI thread).
    rows = project._conn.execute(
        "WITH RECURSIVE sets(name) AS ("
        "  SELECT (SELECT MIN(featurizer) FROM embeddings)"
        "  UNION ALL"
        "  SELECT (SELECT MIN(featurizer) FROM embeddings WHERE featurizer > sets.name)"
        "  FROM sets WHERE sets.name IS NOT NULL) "
        "SELECT name FROM sets WHERE name LIKE 'vectors:%'")
    return [r[0].split(":", 1)[1] for r in rows]


def save_vectors(project: Project, featurizer: str, ids: Sequence[ItemId],
                 vectors: NDArray[np.floating]) -> None:
    if len(ids) != len(vectors):
        raise ValueError("one vector per id")
    vectors = np.asanyarray(vectors)  # a memory map stays one
    with project.transaction() as conn:
        # A block at a time: a million vectors as one list of blobs would take gigabytes.
        for start in range(0, len(ids), SAVE_ROWS):
            half = np.asarray(vectors[start:start + SAVE_ROWS], dtype=np.float16)
            conn.executemany("INSERT OR REPLACE INTO embeddings (item_id, featurizer, vector) "
                             "VALUES (?, ?, ?)",
                             [(int(i), featurizer, v.tobytes()) for i, v in
                              zip(ids[start:start + SAVE_ROWS], half, strict=True)])
        bump_vector_version(conn, featurizer)  # a vector cache of them is now stale


def load_vectors(project: Project, featurizer: str,
                 ids: Sequence[ItemId]) -> NDArray[np.float32]:
    """Vectors in the order of ``ids``; every id must have one."""
    rows = dict(project._conn.execute(
        "SELECT item_id, vector FROM embeddings WHERE featurizer = ?", (featurizer,)))
    missing = [i for i in ids if i not in rows]
    if missing:
        hint = (f"; or fuse it with another input (e.g. 'minilm+{featurizer}'): items "
                "without it then use the inputs they have" if featurizer.startswith("vectors:")
                else "")
        raise AlappError(f"{len(missing)} items have no {featurizer!r} vectors yet "
                         f"(e.g. item {missing[0]}){hint}")
    if not ids:
        return np.zeros((0, 0), dtype=np.float32)
    blob = b"".join(rows[i] for i in ids)
    return np.frombuffer(blob, dtype=np.float16).reshape(len(ids), -1).astype(np.float32)


def load_present_vectors(project: Project, featurizer: str, ids: Sequence[ItemId]
                         ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Vectors in the order of ``ids`` and which rows have one: an item may lack a vector set
    (image vectors imported for the posts that have an image). Missing rows are zeros. An
    error when no item has one (then the set is not there at all)."""
    rows = dict(project._conn.execute(
        "SELECT item_id, vector FROM embeddings WHERE featurizer = ?", (featurizer,)))
    present = np.array([i in rows for i in ids], dtype=bool)
    if not ids:
        return np.zeros((0, 0), dtype=np.float32), present
    if not present.any():
        raise AlappError(f"no item has {featurizer!r} vectors")
    first = np.frombuffer(next(rows[i] for i in ids if i in rows), dtype=np.float16)
    zero = np.zeros_like(first).tobytes()
    blob = b"".join(rows.get(i, zero) for i in ids)
    matrix = np.frombuffer(blob, dtype=np.float16).reshape(len(ids), -1).astype(np.float32)
    return matrix, present


def import_npy(project: Project, name: str, vectors_path: Path, ids_path: Path | None) -> int:
    """Precomputed vectors: an .npy matrix aligned with the project's items in import order, or
    with the external ids listed one per line in ``ids_path``. Loaded without pickle."""
    try:
        matrix = np.load(vectors_path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise InputError(vectors_path, None, f"not a numeric .npy matrix ({e})") from None
    if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.number):
        raise InputError(vectors_path, None, f"expected a 2-d numeric matrix, got shape "
                         f"{matrix.shape} of {matrix.dtype}")
    if ids_path is None:
        ids = project.item_ids()
        if len(ids) != len(matrix):
            raise InputError(vectors_path, None, f"{len(matrix)} rows for {len(ids)} items; "
                             "give the ids file to align them")
    else:
        ext = [line.strip() for line in ids_path.read_text("utf-8").splitlines() if line.strip()]
        if len(ext) != len(matrix):
            raise InputError(ids_path, None, f"{len(ext)} ids for {len(matrix)} rows")
        known = dict(project._conn.execute("SELECT ext_id, id FROM items"))
        for line, ext_id in enumerate(ext, start=1):
            if ext_id not in known:
                raise InputError(ids_path, line, f"no item with id {ext_id!r} in the project")
        ids = [ItemId(known[ext_id]) for ext_id in ext]
    # Block by block: the matrix stays memory-mapped (a million rows are gigabytes as floats).
    for start in range(0, len(matrix), SAVE_ROWS):
        if not np.all(np.isfinite(matrix[start:start + SAVE_ROWS])):
            raise InputError(vectors_path, None, "contains NaN or infinite values")
    save_vectors(project, f"vectors:{name}", ids, matrix)
    return len(ids)
