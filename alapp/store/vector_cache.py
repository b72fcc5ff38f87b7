"""A project's vectors of one featurizer as a file beside it, read a block of rows at a time
(issue 20: pools of a million items).

The embeddings table keeps one float16 blob per item; reading a million of them into Python
bytes, joining them and converting them to float32 takes several gigabytes. The cache file
holds the same values as float32 (exactly: every float16 is a float32), rows in item order,
behind a header. Float32 doubles the file (1.5 GB for a million 384-dimension vectors) but
spares converting every row on every read: numpy turns float16 into float32 three times
slower than it copies float32 (measured on the 2-core development machine under load).

It is derived state: rebuilt from the embeddings table whenever it is missing, damaged or out
of date, and never trusted without checks. Its header names the featurizer, the vector set's
version (``vector_versions``, raised by every write of that featurizer's vectors), the row
count and dimension, and a CRC-32 of everything after the header; the file's size must
match. The checksum is checked in full the first time a process opens a file (by its
device, inode, size and modification time). A build writes a temporary sibling and renames
it into place, so a reader sees a whole old file or a whole new one.

Layout: 4096 header bytes (JSON, space padded), then ``count`` int64 item ids (ascending),
then ``count`` x ``dim`` float32 vectors (little-endian), rows in the order of the ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tempfile
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError
from alapp.core.types import ItemId
from alapp.store.postgres import begin_read
from alapp.store.project import Project

MAGIC = "alapp-vector-cache"
FORMAT = 1  # the layout below; another number is rebuilt
HEADER = 4096
READ_ROWS = 20_000  # rows fetched from the embeddings table at a time while building
_DIGEST_BLOCK = 8 << 20

# Files whose digest this process has checked: (path, device, inode, size, mtime_ns).
_checked: set[tuple[str, int, int, int, int]] = set()
_checked_lock = threading.Lock()


def bump_vector_version(conn: sqlite3.Connection, featurizer: str) -> None:
    """Every write of a featurizer's vectors calls this in its transaction: a cache built
    before it is out of date."""
    conn.execute("INSERT INTO vector_versions (featurizer, version) VALUES (?, 1) "
                 "ON CONFLICT (featurizer) DO UPDATE SET version = vector_versions.version + 1",
                 (featurizer,))


def vector_version(conn: sqlite3.Connection, featurizer: str) -> int:
    row = conn.execute("SELECT version FROM vector_versions WHERE featurizer = ?",
                       (featurizer,)).fetchone()
    return int(row[0]) if row else 0


def cache_folder(project_path: Path) -> Path:
    """Where a project's derived files live: ``support.alapp`` -> ``support.alapp-cache/``."""
    return project_path.with_name(project_path.name + "-cache")


def cache_path(project_path: Path, featurizer: str) -> Path:
    tag = hashlib.blake2b(featurizer.encode("utf-8"), digest_size=8).hexdigest()
    return cache_folder(project_path) / f"vectors-{tag}.f32"


@dataclass
class CachedVectors:
    """One featurizer's vectors in a checked cache file: ``ids`` ascending, and float32 rows
    read from the file when asked for (``gather``, ``blocks``), so only those rows are ever in
    memory. Reads, not a memory map: a mapped file's pages count towards the resident set,
    and the kernel maps a megabyte around each page a scattered read touches (1,000 random
    rows of a million mapped 1 GB here)."""

    path: Path
    featurizer: str
    ids: NDArray[np.int64]
    dim: int
    version: int
    built: bool  # True: built (or rebuilt) by this call, False: an existing file was valid
    file: io.BufferedReader | None = None  # the checked file, open (a rebuild renames over it)

    @property
    def _rows_at(self) -> int:
        return HEADER + len(self.ids) * 8

    def rows_of(self, ids: Sequence[ItemId] | NDArray[np.integer]) -> NDArray[np.intp]:
        """Cache rows of ``ids``; an error naming an id that has no vector."""
        wanted = np.asarray(ids, dtype=np.int64)
        rows = np.searchsorted(self.ids, wanted)
        rows = np.minimum(rows, max(len(self.ids) - 1, 0))
        found = (self.ids[rows] == wanted) if len(self.ids) else np.zeros(len(wanted), bool)
        if not found.all():
            missing = wanted[~found]
            raise AlappError(f"{len(missing)} items have no {self.featurizer!r} vectors yet "
                             f"(e.g. item {int(missing[0])})")
        return rows.astype(np.intp)

    def _read(self, first: int, count: int, into: NDArray[np.float32] | None = None
              ) -> NDArray[np.float32]:
        out = np.empty((count, self.dim), dtype="<f4") if into is None else into
        if self.file is None:
            raise AlappError(f"{self.path}: the vector cache is closed")
        self.file.seek(self._rows_at + first * self.dim * 4)
        if self.file.readinto(out.data.cast("B")) != out.nbytes:
            raise AlappError(f"{self.path}: the vector cache ends early; it is rebuilt on the "
                             "next round")
        return out

    def gather(self, rows: NDArray[np.integer] | Sequence[int]) -> NDArray[np.float32]:
        """Rows (cache positions) as float32, in the order given."""
        at = np.asarray(rows, dtype=np.intp)
        if at.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        first, last = int(at.min()), int(at.max())
        if last - first + 1 == len(at) and bool(np.all(np.diff(at) == 1)):  # a range
            return self._read(first, len(at))
        runs = _runs(at)
        if runs is not None:  # a block of the pool: each run read straight into place
            out = np.empty((len(at), self.dim), dtype="<f4")
            for start, end in runs:
                self._read(int(at[start]), end - start, out[start:end])
            return out
        if last - first < 2 * len(at):  # nearly a range (a block of the pool): read it whole
            return self._read(first, last - first + 1)[at - first]
        out = np.empty((len(at), self.dim), dtype="<f4")  # scattered rows: one read each,
        for k in np.argsort(at, kind="stable").tolist():  # forwards through the file
            self._read(int(at[k]), 1, out[k:k + 1])
        return out

    def blocks(self, rows: NDArray[np.integer], size: int
               ) -> Iterator[tuple[slice, NDArray[np.float32]]]:
        """``rows`` (cache positions) ``size`` at a time: (where in ``rows``, float32 rows);
        the resident set stays about one block whatever the pool's size."""
        at = np.asarray(rows, dtype=np.intp)
        for start in range(0, len(at), size):
            part = at[start:start + size]
            yield slice(start, start + len(part)), self.gather(part)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _runs(at: NDArray[np.intp], most: int = 256) -> list[tuple[int, int]] | None:
    """Ascending ``at`` as runs of consecutive rows, (start, end) positions in ``at``, when
    there are few (a pool block less its scattered labeled items); else None. Reading runs
    spares copying the whole range again to drop the rows between them."""
    steps = np.diff(at)
    if not bool(np.all(steps > 0)):
        return None
    starts = np.flatnonzero(steps != 1) + 1
    if len(starts) + 1 > max(1, len(at) // most):
        return None
    edges = [0, *starts.tolist(), len(at)]
    return list(pairwise(edges))


def open_cache(project: Project, featurizer: str) -> CachedVectors:
    """The featurizer's vectors as a checked cache file, built or rebuilt when needed. Read on
    the caller's connection (the round thread's, read-only); writes only the cache file."""
    conn = project._conn
    own = not conn.in_transaction
    if own:
        begin_read(conn)  # the version, the count and the rows read below agree
    try:
        # No scan of the table here (a million rows are a gigabyte to read): every write of
        # a featurizer's vectors raises its version, which the file's header must match.
        version = vector_version(conn, featurizer)
        first = conn.execute("SELECT length(vector) FROM embeddings WHERE featurizer = ? "
                             "LIMIT 1", (featurizer,)).fetchone()
        path = cache_path(project.path, featurizer)
        expected: dict[str, Any] = {"featurizer": featurizer, "version": version,
                                    "dim": int(first[0]) // 2 if first else 0}  # float16
        cached = _open_valid(path, expected)
        if cached is not None:
            return cached
        expected["count"] = int(conn.execute(
            "SELECT COUNT(*) FROM embeddings WHERE featurizer = ?", (featurizer,)).fetchone()[0])
        try:
            _build(conn, path, expected)
        except OSError as e:
            raise AlappError(f"{path.parent}: cannot write the vector cache ({e.strerror or e}); "
                             "free some space there, or set large_pool_items=0 to read the "
                             "vectors into memory instead") from None
    finally:
        if own:
            conn.execute("COMMIT")
    cached = _open_valid(path, expected, built=True)
    if cached is None:
        raise AlappError(f"{path}: the vector cache just written does not read back")
    return cached


def _header(file: IO[bytes]) -> dict[str, Any] | None:
    try:
        file.seek(0)
        raw = file.read(HEADER)
        if len(raw) < HEADER:
            return None
        header = json.loads(raw.decode("ascii"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _open_valid(path: Path, expected: dict[str, Any], built: bool = False
                ) -> CachedVectors | None:
    """The cache at ``path`` when it is whole and current, else None (it is then rebuilt)."""
    try:
        file = open(path, "rb")  # noqa: SIM115 - the CachedVectors returned keeps it open
    except OSError:
        return None
    try:
        cached = _check(file, path, expected, built)
    except (OSError, ValueError):
        cached = None
    if cached is None:
        file.close()
    return cached


def _check(file: io.BufferedReader, path: Path, expected: dict[str, Any], built: bool
           ) -> CachedVectors | None:
    header = _header(file)
    if header is None or header.get("magic") != MAGIC or header.get("format") != FORMAT:
        return None
    if any(header.get(k) != v for k, v in expected.items()):
        return None
    count, dim = header.get("count"), int(expected["dim"])
    if not isinstance(count, int) or count < 0:
        return None
    stat = os.fstat(file.fileno())
    if stat.st_size != HEADER + count * 8 + count * dim * 4:
        return None
    identity = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _checked_lock:
        known = identity in _checked
    if not known:
        if _digest(file) != header.get("crc32"):
            return None
        with _checked_lock:
            _checked.add(identity)
    file.seek(HEADER)
    ids = np.frombuffer(file.read(count * 8), dtype="<i8").astype(np.int64)
    if len(ids) != count or (count > 1 and not bool(np.all(ids[1:] > ids[:-1]))):
        return None
    return CachedVectors(path, str(expected["featurizer"]), ids, dim,
                         int(expected["version"]), built, file)


def _digest(file: IO[bytes]) -> int | None:
    """CRC-32 of everything after the header (1.6 GB/s: a check against damage, which is what
    a derived file needs; nobody gains by forging one)."""
    crc = 0
    try:
        file.seek(HEADER)
        while block := file.read(_DIGEST_BLOCK):
            crc = zlib.crc32(block, crc)
    except OSError:
        return None
    return crc


def _build(conn: sqlite3.Connection, path: Path, expected: dict[str, Any]) -> None:
    """Write the cache from the embeddings table: a temporary sibling, renamed into place."""
    count, dim, featurizer = int(expected["count"]), int(expected["dim"]), expected["featurizer"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.truncate(HEADER + count * 8 + count * dim * 4)
        written = 0
        matrix_at = HEADER + count * 8
        with open(tmp, "r+b") as out:  # written, not mapped: no page of it stays resident
            cursor = conn.execute("SELECT item_id, vector FROM embeddings WHERE featurizer = ? "
                                  "ORDER BY item_id", (featurizer,))
            while rows := cursor.fetchmany(READ_ROWS):
                end = written + len(rows)
                if end > count:
                    raise AlappError(f"{featurizer!r}: more vectors than counted")
                blob = b"".join(r[1] for r in rows)
                if len(blob) != len(rows) * dim * 2:
                    raise AlappError(f"{featurizer!r}: vectors of different lengths in the "
                                     "project; re-import them")
                out.seek(HEADER + written * 8)
                out.write(np.array([r[0] for r in rows], dtype="<i8").tobytes())
                out.seek(matrix_at + written * dim * 4)
                out.write(np.frombuffer(blob, dtype="<f2").astype("<f4").tobytes())
                written = end
            if written != count:
                raise AlappError(f"{featurizer!r}: fewer vectors than counted")
        # the checksum of what is on disk, not of what was meant to be
        with open(tmp, "rb") as written_file:
            crc = _digest(written_file)
        header = json.dumps({"magic": MAGIC, "format": FORMAT, **expected,
                             "crc32": crc}).encode("ascii")
        if len(header) > HEADER:
            raise AlappError(f"{featurizer!r}: name too long for the vector cache")
        with open(tmp, "r+b") as f:
            f.write(header.ljust(HEADER, b" "))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
