"""Rolling automatic backups of a project, listing and restoring them, and the integrity check.

Backups live in ``<project>.backups/`` beside the project file (the real file: symbolic links
resolved), one complete project each, named ``<stem>-<UTC time><suffix>``
(``labels-20250131T142501Z.alapp``): each opens in alapp as it is. One is made

- when the project is opened for writing and the newest backup is older than
  ``BACKUP_AGE_S`` (an hour): the file as it was before this session's changes;
- every ``BACKUP_EVERY`` (200) new decisions, by the writer thread (``BackupSchedule``), from a
  read-only connection on a thread of its own, so labeling never waits for it.

The newest ``KEEP`` (5) are kept. Each is written with ``VACUUM INTO`` (a consistent snapshot,
even while labels are being written) to a temporary name, fsynced, then renamed: a backup that
exists is complete. Nothing but this folder's own backups and temporaries is ever deleted.

``restore`` puts a backup in place of the project: it refuses while another process has the
project open for writing, checks the backup first, and keeps the current file as
``<project>.before-restore-<time>`` instead of deleting it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alapp.core.errors import AlappError, ProjectDamagedError, ProjectLockedError
from alapp.core.files import fsync_folder, same_file, temporary_name
from alapp.store.lock import ProjectLock, real_path
from alapp.store.project import (
    _CORRUPT,
    _IOERR,
    _NOTADB,
    Project,
    _check_file,
    _code,
    _warn,
    connect_read_only,
    storage_error,
)
from alapp.store.schema import APPLICATION_ID

BACKUP_EVERY = 200
BACKUP_AGE_S = 3600.0
KEEP = 5
_STAMP = "%Y%m%dT%H%M%SZ"
_STALE_TEMPORARY_S = 3600.0  # a temporary untouched this long belongs to a dead process


@dataclass(frozen=True)
class Backup:
    path: Path
    created: float  # seconds since the epoch, from the name
    size: int


def backup_folder(project_path: str | Path) -> Path:
    real = real_path(Path(project_path))
    return real.with_name(real.name + ".backups")


def _pattern(real: Path) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(real.stem)}-(\d{{8}}T\d{{6}}Z)(?:-(\d+))?"
                      rf"{re.escape(real.suffix)}")


def list_backups(project_path: str | Path) -> list[Backup]:
    """The project's backups, newest first."""
    folder = backup_folder(project_path)
    if not folder.is_dir():
        return []
    pattern = _pattern(real_path(Path(project_path)))
    found = []
    for entry in folder.iterdir():
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file() or entry.is_symlink():
            continue
        created = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC).timestamp()
        found.append((created, int(match.group(2) or 0),
                      Backup(entry, created, entry.stat().st_size)))
    return [b for _, _, b in sorted(found, key=lambda f: (f[0], f[1]), reverse=True)]


def make_backup(conn: sqlite3.Connection, project_path: str | Path,
                keep: int = KEEP) -> Path:
    """Write a backup of the database ``conn`` is open on; keep the newest ``keep``."""
    real = real_path(Path(project_path))
    folder = backup_folder(real)
    folder.mkdir(exist_ok=True)
    _remove_stale_temporaries(folder, real)
    stamp = datetime.now(UTC).strftime(_STAMP)
    target = folder / f"{real.stem}-{stamp}{real.suffix}"
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{real.stem}-{stamp}-{n}{real.suffix}"
    tmp = temporary_name(target)
    try:
        conn.execute("VACUUM INTO ?", (str(tmp),))
        with open(tmp, "rb") as written:  # not the project: SQLite has closed this file
            os.fsync(written.fileno())
        _same_permissions(real, tmp)  # a private project keeps private backups
        os.replace(tmp, target)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    fsync_folder(folder)
    for old in list_backups(real)[keep:]:
        old.path.unlink()
    return target


def backup_now(project: Project) -> Path:
    """A backup of an open project, now (``alapp backups P --now``)."""
    return make_backup(project._conn, project.path)


def backup_if_due(project: Project) -> Path | None:
    """At a writable open: a backup when the project has items and the newest backup is older
    than ``BACKUP_AGE_S``. A file found damaged on the way (the backup reads every page) is
    refused, so nothing is written into it and no damaged copy replaces a good backup; any
    other failure (a full disk) warns and does not stop the opening."""
    try:
        if project._conn.execute("SELECT NOT EXISTS (SELECT 1 FROM items)").fetchone()[0]:
            return None  # nothing to lose yet
        newest = list_backups(project.path)[:1]
        if newest and time.time() - newest[0].created < BACKUP_AGE_S:
            return None
        return make_backup(project._conn, project.path)
    except sqlite3.DatabaseError as e:
        if _code(e) in (_CORRUPT, _NOTADB):
            project.close()
            raise storage_error(project.path, e) or e from None
        _warn(f"{project.path}: could not write a backup ({e}); labeling goes on")
    except OSError as e:
        _warn(f"{project.path}: could not write a backup ({e}); labeling goes on")
    return None


def _remove_stale_temporaries(folder: Path, real: Path) -> None:
    """Temporaries of backups a killed process left behind (ours by their name)."""
    pattern = re.compile(rf"\.{re.escape(real.stem)}-.*\.[0-9a-f]{{8}}\.tmp")
    now = time.time()
    for entry in folder.iterdir():
        if (pattern.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink()
                and now - entry.stat().st_mtime > _STALE_TEMPORARY_S):
            entry.unlink()


def _last_event(project: Project) -> int:
    return int(project._conn.execute(
        "SELECT COALESCE(MAX(id), 0) FROM label_events").fetchone()[0])


class BackupSchedule:
    """On the writer thread: after each write job, counts the decisions recorded since the last
    backup (one indexed query); every ``every`` of them, writes a backup from a read-only
    connection on a thread of its own. Never raises into the writer."""

    def __init__(self, project: Project, every: int | None = None) -> None:
        self.path = project.path
        self.every = every or BACKUP_EVERY
        self.on_server = project.on_server  # a server keeps its own backups (issue 20)
        self._thread: threading.Thread | None = None
        try:
            self._mark = _last_event(project)
        except sqlite3.Error:
            self._mark = 0

    def after_write(self, project: Project) -> None:
        if self.on_server:
            return
        try:
            last = _last_event(project)
        except sqlite3.Error:
            return
        if last - self._mark < self.every:
            return
        if self._thread is not None and self._thread.is_alive():
            return  # the next job looks again
        self._mark = last
        self._thread = threading.Thread(target=self._write, name="alapp-backup", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            with Project.open(self.path, read_only=True) as reader:
                make_backup(reader._conn, self.path)
        except (OSError, AlappError, sqlite3.Error) as e:
            _warn(f"{self.path}: could not write a backup ({e}); labeling goes on")

    def close(self, timeout: float = 60.0) -> None:
        """Let a backup being written finish (before the writer closes the project)."""
        if self._thread is not None:
            self._thread.join(timeout)


# -- restoring ---------------------------------------------------------------------------------


def find_backup(project_path: str | Path, backup: str | Path) -> Path:
    """A backup by its path, or by its name in the project's backups folder."""
    given = Path(backup)
    if given.is_file():
        return given
    named = backup_folder(project_path) / given.name
    if given.name == str(backup) and named.is_file():
        return named
    raise AlappError(f"{backup}: no such backup; `alapp backups {project_path}` lists them")


def restore(project_path: str | Path, backup: str | Path) -> Path | None:
    """Put ``backup`` in place of the project; returns where the current file was kept
    (``<project>.before-restore-<time>``), or None when there was no project file."""
    path = Path(project_path)
    source = find_backup(path, backup)
    if path.exists() and same_file(source, path):
        raise AlappError(f"{source}: that is the project itself; choose a backup")
    problems = check_project(source)
    if problems:
        raise AlappError(f"{source}: not a sound backup ({problems[0]}); choose another one")
    lock = ProjectLock(path)
    try:
        lock.acquire()
    except ProjectLockedError as e:
        raise ProjectLockedError(f"{e} Nothing was restored.") from None
    try:
        real = real_path(path)
        tmp = temporary_name(real, "restore")
        try:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb") as copied:
                os.fsync(copied.fileno())
            _same_permissions(real, tmp)
        except BaseException:
            if tmp.exists():
                tmp.unlink()
            raise
        kept = None
        if real.exists():
            kept = real.with_name(f"{real.name}.before-restore-"
                                  f"{datetime.now(UTC).strftime(_STAMP)}")
            _fold_log(real)
            os.rename(real, kept)
            log = Path(f"{real}-wal")
            if log.exists():  # the log could not be folded in: it stays with its file
                os.rename(log, f"{kept}-wal")
            index = Path(f"{real}-shm")
            if index.exists():  # an index of that log, rebuilt from it when needed
                index.unlink()
        os.replace(tmp, real)
        fsync_folder(real.parent)
    finally:
        lock.release()
    return kept


def _same_permissions(model: Path, path: Path) -> None:
    with suppress(OSError):
        os.chmod(path, stat.S_IMODE(os.stat(model).st_mode))


def _fold_log(real: Path) -> None:
    """Checkpoint the log into the file, so the file alone is the project (nobody has it open:
    we hold its lock). A damaged file keeps its log beside it instead."""
    try:
        conn = sqlite3.connect(real, isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()  # the last connection: SQLite removes an empty log
    except sqlite3.Error:
        pass


# -- the integrity check -------------------------------------------------------------------------


def check_project(project_path: str | Path) -> list[str]:
    """SQLite's ``integrity_check`` and ``foreign_key_check`` of the file, read-only: the
    problems found, none when the file is sound. A file that cannot be read at all (missing,
    no permission) raises."""
    path = Path(project_path)
    try:
        _check_file(path)
    except ProjectDamagedError as e:  # empty
        return [str(e).partition(": ")[2].partition(";")[0]]
    conn = connect_read_only(path)
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            return [f"not an alapp project (application id {app_id:#x})"]
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(100)")]
        if problems == ["ok"]:
            problems = []
        for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"{table} row {rowid}: refers to a missing row of {parent}")
        return problems
    except sqlite3.DatabaseError as e:
        if _code(e) in (_CORRUPT, _NOTADB, _IOERR):
            return [f"SQLite: {e}"]
        translated = storage_error(path, e)
        if translated is None:
            raise
        raise translated from None
    finally:
        conn.close()
