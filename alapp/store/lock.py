"""One writer per project *file*, whatever name it is opened by, across processes.

Two writers on one file lose labels, so the lock must follow the file, not the name it was
given: a relative and an absolute path, a symbolic link and a hard link all lead to one file.
A writer therefore holds two OS locks (``flock`` on POSIX, ``msvcrt.locking`` on Windows), both
on small lock files of their own, never on the database:

1. ``<real project>.lock``: beside the project with every symbolic link resolved, so every
   path and symlink to one file meets on one lock file. It works between machines too where
   the filesystem carries locks, and older alapp versions use the same name.
2. ``<dev>-<inode>.lock`` in a per-user folder of the machine's temporary directory, named by
   the file's identity (``st_dev``, ``st_ino``; NTFS file ids on Windows): this is what catches
   hard links, which have no common real path. It is skipped (lock 1 alone holds) where that
   folder cannot be made safely.

The OS drops both locks when the process dies (a crash, ``kill -9``, a power cut), so no stale
lock is ever left behind, and nothing needs cleaning up.

Why not lock the database file itself: SQLite takes POSIX advisory (``fcntl``) locks on it, and
POSIX drops *all* of a process's ``fcntl`` locks on a file when *any* descriptor of that file is
closed: a second descriptor opened for our lock would, once closed, silently drop SQLite's locks
(the corruption SQLite documents in "How To Corrupt An SQLite Database File", 2.2). On macOS and
the BSDs ``flock`` and ``fcntl`` locks interact, so an exclusive ``flock`` on the database blocks
SQLite's own locks (even this process's readers); on Windows locks are mandatory and would block
other processes' reads. Why not a lease row in the database: a process killed with ``kill -9``
cannot clear it, and telling a dead holder from a live one on another machine is guesswork. A
separate lock file with an OS lock has neither problem.

Hard links have a second risk that no lock removes: SQLite keeps its log (``-wal``) beside the
*name* it opened, so a project opened by two names in two folders has two logs. ``Project.open``
warns about a file with several names.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import IO

from alapp.core.errors import ProjectLockedError


def real_path(path: Path) -> Path:
    """Absolute, with every symbolic link resolved (what SQLite itself opens)."""
    return Path(os.path.realpath(path))


def identity_lock_folder() -> Path | None:
    """The per-user folder of identity locks, or None where it cannot be made safely."""
    base = "/tmp" if sys.platform.startswith("linux") and os.path.isdir("/tmp") \
        else tempfile.gettempdir()  # fixed on Linux: TMPDIR may differ between two processes
    uid = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(base) / ("alapp-locks" if uid is None else f"alapp-locks-{uid}")
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
        return None  # a symlink or someone else's folder: not ours to write into
    return folder


def identity_lock_path(project_path: Path) -> Path | None:
    try:
        info = os.stat(project_path)
    except OSError:
        return None  # not created yet: the name lock covers it until it exists
    folder = identity_lock_folder()
    return None if folder is None else folder / f"{info.st_dev:x}-{info.st_ino:x}.lock"


class ProjectLock:
    def __init__(self, project_path: Path) -> None:
        self.project = Path(project_path)
        real = real_path(self.project)
        self.path = real.with_name(real.name + ".lock")  # the name lock (see the docstring)
        self._handles: list[IO[str]] = []
        self._identity: Path | None = None

    @property
    def held(self) -> bool:
        return bool(self._handles)

    def acquire(self) -> None:
        """Take the name lock and, when the file exists, the identity lock; raise
        ``ProjectLockedError`` (holding neither) when another process holds either."""
        if not self._handles:
            self._handles.append(self._take(self.path, other_name=False))
        try:
            self.acquire_identity()
        except BaseException:
            self.release()
            raise

    def acquire_identity(self) -> None:
        """The identity lock, once the project file exists (``Project.create`` makes it)."""
        if self._identity is not None:
            return
        path = identity_lock_path(self.project)
        if path is None:
            return
        try:
            handle = self._take(path, other_name=True)
        except OSError:
            return  # the folder went away or filled up: the name lock still holds
        self._handles.append(handle)
        self._identity = path

    def _take(self, path: Path, other_name: bool) -> IO[str]:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            _lock_nonblocking(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            where = " under another name (a link to the same file)" if other_name else ""
            raise ProjectLockedError(
                f"{self.project}: the project is open in another alapp process{where} "
                f"(pid {holder}). Close it there, or open this one read-only.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return handle

    def release(self) -> None:
        while self._handles:
            handle = self._handles.pop()
            try:
                _unlock(handle)
            finally:
                handle.close()
        self._identity = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds only
    import msvcrt

    def _lock_nonblocking(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_nonblocking(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
