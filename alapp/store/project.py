"""A project: one SQLite file holding items, labels and their full history.

Every annotator action is one short transaction with ``synchronous=FULL``: once a call returns, the
label survives a crash, a kill or a power cut. The model is derived state; this file is the one
source of truth.

What cannot be written is refused before anything is: a read-only file or folder, another
writer under any name (``store/lock.py``). SQLite failures of the file itself (damaged, full
disk, permissions, input/output) become one-line ``AlappError`` subclasses naming the file
(``storage_error``); a failed transaction is rolled back whole. Opening for writing keeps
rolling backups (``store/backup.py``).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alapp.core.errors import (
    AlappError,
    DiskFullError,
    ProjectDamagedError,
    ProjectFormatError,
    ProjectReadOnlyError,
    StorageError,
    StorageWarning,
)
from alapp.core.pairs import join_pair
from alapp.core.settings import ProjectSettings
from alapp.core.spans import decode_spans
from alapp.core.types import (
    LABEL_SEPARATOR,
    Action,
    EventId,
    Item,
    ItemId,
    Selection,
    Source,
    Split,
    join_labels,
    split_labels,
)
from alapp.store import claims, queue
from alapp.store.claims import ClaimRequest
from alapp.store.lock import ProjectLock, real_path
from alapp.store.postgres import (
    PgConnection,
    ServerAddress,
    execute_together,
    is_server_address,
)
from alapp.store.schema import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    TEAMS_VERSION,
    migrate,
    schema_version,
)

# The latest event that sets or restores a label, per item. ``label`` NULL means "no label".
MAX_DESCRIPTION = 500  # characters of a label's description (issue 17)
# Each item's training label as the team rule resolves it (store/resolution.py; issue 19): with
# one annotator, their latest label or undo.
CURRENT_LABEL_SQL = "SELECT item_id, label FROM item_labels WHERE label IS NOT NULL"
# The event that gave each item its training label (export and history read its details).
CURRENT_EVENT_SQL = "SELECT item_id, event_id AS id FROM item_labels WHERE label IS NOT NULL"
# Items the annotators disagree on and the rule cannot decide: no training label, not asked again.
DISPUTED_SQL = "SELECT item_id FROM item_labels WHERE label IS NULL"
# Items whose latest decision is "never ask again" (a later label or undo lifts it).
# Items without a training label that someone, at their latest decision on the item (by their
# workstation's own sequence, so copies merged in any order agree: issue 19), said never to ask.
SKIPPED_FOREVER_SQL = """
    SELECT DISTINCT e.item_id FROM label_events e
    JOIN (SELECT item_id, annotator, workstation, MAX(seq) AS seq FROM label_events
          WHERE action IN ('label', 'undo', 'skip_forever')
          GROUP BY item_id, annotator, workstation) last
      ON e.item_id = last.item_id AND e.workstation = last.workstation AND e.seq = last.seq
    WHERE e.action = 'skip_forever'
      AND e.item_id NOT IN (SELECT item_id FROM item_labels WHERE label IS NOT NULL)
"""


# Called with every SQL statement a writable connection runs, when set: the test suite uses it
# to prove that the GUI thread never writes (tests/guards.py). None in the application.
statement_watcher: Callable[[str], None] | None = None


# SQLite's primary result codes (sqlite3.h); an error's ``sqlite_errorcode`` is the extended one.
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3, 5, 6, 8, 10, 11, 13, 14, 26)
# Where SQLite's locking cannot be trusted (SQLite FAQ 5; "How To Corrupt", 2.1).
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "coda", "9p",
    "sshfs", "fuse.sshfs", "davfs", "fuse.davfs2", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "gpfs", "fuse.rclone", "fuse.s3fs"})


def _code(error: sqlite3.Error) -> int:
    return int(getattr(error, "sqlite_errorcode", None) or 0) & 0xFF


def _backup_hint(path: Path) -> str:
    return f"restore a backup (alapp backups {path}; alapp restore {path} BACKUP)"


def storage_error(path: Path, error: sqlite3.Error) -> AlappError | None:
    """The one-line error for an SQLite failure of the file itself (damaged, disk full, no
    permission, input/output, locked too long), or None for anything else: a bug keeps its
    traceback."""
    code = _code(error)
    if code in (_CORRUPT, _NOTADB):
        return ProjectDamagedError(f"{path}: the project file is damaged ({error}); "
                                   f"{_backup_hint(path)}")
    if code == _FULL:
        return DiskFullError(f"{path}: the disk is full ({error}); this change was rolled back "
                             "and nothing of it was saved; free some space and try again")
    if code in (_READONLY, _PERM, _CANTOPEN):
        return ProjectReadOnlyError(
            f"{path}: cannot open or write the project file or the files beside it ({error}); "
            "view it read-only (alapp stats, alapp export) or copy it to a writable folder")
    if code == _IOERR:
        return StorageError(f"{path}: the disk reported an input/output error ({error}); check "
                            f"the disk or the network share, then run alapp check {path}")
    if code in (_BUSY, _LOCKED):
        return StorageError(f"{path}: another program kept the file locked ({error}); "
                            "try again when it is done")
    return None


def _warn(message: str) -> None:
    # One line: no source line follows a "<...>" file name.
    warnings.warn_explicit(message, StorageWarning, filename="<alapp>", lineno=0)


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; on a read-only folder too.

    SQLite reads a WAL file through its index, ``-shm``, which it must create beside the file.
    Where it cannot (a read-only folder, a read-only medium) and there is no log (no writer has
    the file open and every change is in the file itself), the file is opened ``immutable``:
    nothing can change it while nobody can write beside it. A log that holds changes is never
    skipped: that refusal names it.
    """
    uri = real_path(path).as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # reads the file, and the log's index
    except sqlite3.DatabaseError as e:
        if _code(e) not in (_READONLY, _CANTOPEN):
            return conn  # damaged or not SQLite: the caller's first question reports it
        conn.close()
        wal = Path(f"{real_path(path)}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise ProjectReadOnlyError(
                f"{path}: its folder is read-only and its log {wal.name} holds changes not yet "
                "in the file; copy the project with that file to a writable folder") from None
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
    return conn


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        conn = connect_read_only(path)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    if statement_watcher is not None and not read_only:
        conn.set_trace_callback(statement_watcher)
    return conn


def _configure_writer(conn: sqlite3.Connection) -> None:
    # WAL: readers (another process's export, the GUI) never block the writer.
    # FULL: a label acknowledged to the annotator survives even a power cut.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")


class Project:
    """An open project file. Use :meth:`create` or :meth:`open`, and close it (or use ``with``)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: ProjectLock | None,
                 read_only: bool = False, workstation: str | None = None) -> None:
        from alapp.core.workstation import check_id, workstation_id

        self.path = path
        # the machine this copy's events are made on (issue 19)
        self.workstation = check_id(workstation) if workstation else workstation_id()
        self._conn = conn  # private: only store modules speak SQL
        package = _package_id(conn)
        if package:  # an opened exchange package is an event stream of its own (issue 19)
            self.workstation = f"{self.workstation[:40]}-p{package[:12]}"
        self.read_only = read_only
        self._lock = lock

    # -- opening and closing ------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path | ServerAddress, labels: Sequence[str],
               name: str | None = None, workstation: str | None = None,
               **settings: Any) -> Project:
        if is_server_address(path):  # a project on a PostgreSQL server (issue 20)
            return cls._create_on_server(ServerAddress(str(path)), labels, name, workstation,
                                         settings)
        path = Path(path)  # type: ignore[arg-type]
        if path.exists():
            raise AlappError(f"{path}: already exists; open it instead, or choose another name")
        initial = _initial_settings(labels, name or path.stem, settings)
        folder = real_path(path).parent
        if not folder.is_dir():
            raise AlappError(f"{path.parent}: no such folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ProjectReadOnlyError(f"{path}: the folder {path.parent} is read-only; "
                                       "create the project in a writable folder")
        fstype = _network_filesystem(folder)
        if fstype:
            _warn(_network_warning(path, fstype))
        lock = ProjectLock(path)
        _acquire(lock, path)
        try:
            conn = _connect(path, read_only=False)
            try:
                _configure_writer(conn)
                lock.acquire_identity()  # the file exists now: hard links to it meet its lock
                migrate(conn)
                project = cls(path, conn, lock, workstation=workstation)
                with project.transaction():
                    project._insert_labels(labels)
                    project._write_settings(initial.as_rows())
            except BaseException:
                conn.close()
                for made in (path, *(Path(f"{path}{s}") for s in ("-wal", "-shm", "-journal"))):
                    with suppress(OSError):  # half a new project: ours, made just now
                        made.unlink()
                raise
        except sqlite3.DatabaseError as e:
            lock.release()
            raise _translated(path, e) from None
        except BaseException:
            lock.release()
            raise
        return project

    @classmethod
    def open(cls, path: str | Path | ServerAddress, read_only: bool = False, take_lock: bool = True,
             backup: bool = True, workstation: str | None = None) -> Project:
        """``take_lock=False`` is for a second connection of the process that already holds
        the project open (a background job writing its results). The one writer (``take_lock``)
        makes a backup when the newest is older than an hour, unless ``backup=False``."""
        if is_server_address(path):  # issue 20: no file, lock or backup of ours there
            return cls._open_on_server(ServerAddress(str(path)), read_only, workstation)
        path = Path(path)  # type: ignore[arg-type]
        _check_file(path)  # exists, readable, not empty
        if not read_only:
            _check_writable(path)  # before the lock file is made beside it
            _warn_about_storage(path)
        lock = None
        conn = None
        try:
            if not read_only and take_lock:
                lock = ProjectLock(path)
                _acquire(lock, path)
            conn = _connect(path, read_only)
            _check_is_project(path, conn)
            if not read_only:
                _configure_writer(conn)
            version = _upgraded(path, conn, read_only)
            project = cls(path, conn, lock, read_only, workstation)
            if not read_only and version < TEAMS_VERSION <= SCHEMA_VERSION:
                # an older file: its training labels by the team rule (issue 19)
                from alapp.store.resolution import rebuild

                with project.transaction() as tx:
                    rebuild(tx)
        except sqlite3.DatabaseError as e:
            if conn is not None:
                conn.close()
            if lock:
                lock.release()
            raise _translated(path, e) from None
        except BaseException:
            if conn is not None:
                conn.close()
            if lock:
                lock.release()
            raise
        if lock is not None and backup:  # the one writer: a backup of the file as it was
            from alapp.store.backup import backup_if_due

            backup_if_due(project)
        return project

    @classmethod
    def _create_on_server(cls, address: ServerAddress, labels: Sequence[str], name: str | None,
                          workstation: str | None, settings: dict[str, Any]) -> Project:
        """A new project in an empty PostgreSQL database (issue 20): the schema, the labels
        and the settings in one transaction each; nothing is dropped or overwritten."""
        from alapp.store.postgres import connect
        from alapp.store.schema import create_server_schema, server_application_id, server_tables

        initial = _initial_settings(labels, name or address.stem, settings)
        conn = connect(address, server_tables())
        try:
            if server_application_id(conn) is not None:
                raise AlappError(f"{address}: already holds a project; open it instead "
                                 "(alapp gui ADDRESS), or choose another database")
            conn.rollback()
            project = cls(address, conn, None, workstation=workstation)  # type: ignore[arg-type]
            with project.transaction():  # the tables, labels and settings: all or nothing
                create_server_schema(conn)
                project._insert_labels(labels)
                project._write_settings(initial.as_rows())
        except BaseException:
            conn.close()
            raise
        return project

    @classmethod
    def _open_on_server(cls, address: ServerAddress, read_only: bool,
                        workstation: str | None) -> Project:
        from alapp.store.postgres import connect
        from alapp.store.schema import server_application_id, server_tables

        conn = connect(address, server_tables(), read_only=read_only)
        try:
            if server_application_id(conn) != APPLICATION_ID:
                raise ProjectFormatError(f"{address}: holds no alapp project; create one with "
                                         f"alapp init {address} --labels A,B")
            _upgraded(address, conn, read_only)
            return cls(address, conn, None, read_only, workstation)  # type: ignore[arg-type]
        except BaseException:
            conn.close()
            raise

    @property
    def on_server(self) -> bool:
        """Whether the project lives on a PostgreSQL server (issue 20), not in a file."""
        return isinstance(self._conn, PgConnection)

    def close(self) -> None:
        self._conn.close()
        if self._lock:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.close()
        if isinstance(exc, sqlite3.DatabaseError):  # damaged, disk full...: one line, no trace
            translated = storage_error(self.path, exc)
            if translated is not None:
                raise translated from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing: the statements inside commit together or not at all."""
        if self.read_only:
            raise AlappError(f"{self.path}: opened read-only")
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")  # inside: a COMMIT that fails (disk full) rolls back
        except BaseException as e:
            if self._conn.in_transaction:  # SQLite may have rolled back already (disk full)
                with suppress(sqlite3.Error):  # the original error says more
                    self._conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.DatabaseError):
                translated = storage_error(self.path, e)
                if translated is not None:
                    raise translated from e
            raise

    # -- labels and settings --------------------------------------------------------------------

    def labels(self) -> list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT name FROM labels WHERE combination = 0 ORDER BY position")]

    def label_descriptions(self) -> dict[str, str]:
        """Each label's description (issue 17), for the labels that have one."""
        return {r[0]: r[1] for r in self._conn.execute(
            "SELECT name, description FROM labels WHERE combination = 0 AND description != '' "
            "ORDER BY position")}

    def describe_label(self, name: str, description: str) -> None:
        """Set a label's description (blank: none). One line, at most 500 characters."""
        text = " ".join(description.split())
        if name not in self.labels():
            raise AlappError(f"no label {name!r} in {self.path.name}; labels are "
                             f"{', '.join(self.labels())}")
        if len(text) > MAX_DESCRIPTION:
            raise AlappError(f"the description of {name!r} has {len(text)} characters; at most "
                             f"{MAX_DESCRIPTION}")
        with self.transaction() as conn:
            conn.execute("UPDATE labels SET description = ? WHERE name = ?", (text, name))

    def add_labels(self, names: Sequence[str]) -> None:
        with self.transaction():
            self._insert_labels(names)

    def _insert_labels(self, names: Sequence[str]) -> None:
        existing = set(self.labels())
        new = [n for n in dict.fromkeys(names) if n not in existing]
        _check_label_names(new)
        if new and self.spans:  # issue 18
            from alapp.store.spans import check_type_names

            check_type_names(new)
        start = len(existing)
        self._conn.executemany("INSERT INTO labels (name, position) VALUES (?, ?)",
                               [(n, start + i) for i, n in enumerate(new)])

    def settings(self) -> ProjectSettings:
        """The stored settings. A value this alapp no longer accepts (an old project's) is
        read as its default, with a ``SettingWarning``; the stored row is left as it is."""
        import warnings

        from alapp.al.registry import strategies_for
        from alapp.core.settings import SettingWarning

        rows = {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM settings")}
        settings, repaired = ProjectSettings.from_stored(
            rows, strategies_for(rows.get("task", "classification")))
        for problem in repaired:
            warnings.warn(f"{self.path}: stored {problem}", SettingWarning, stacklevel=2)
        return settings

    def update_settings(self, **changes: Any) -> ProjectSettings:
        """Change settings; an ``AlappError`` naming the key, the value and what is allowed
        when one is not, and then nothing is written."""
        from alapp.al.registry import strategies_for
        from alapp.core.settings import setting_names

        unknown = sorted(set(changes) - set(setting_names()))
        if unknown:
            raise AlappError(f"unknown setting {unknown[0]!r}; settings are "
                             f"{', '.join(setting_names())}")
        current = self.settings()
        if "task" in changes and changes["task"] != current.task:
            raise AlappError(f"task={changes['task']!r}: a project's task is chosen when it is "
                             f"created (this one is {current.task!r})")
        merged = ProjectSettings.from_rows({**current.as_rows(), **changes})
        merged.validate(strategies=strategies_for(merged.task))
        if changes.get("stratify_by"):  # a metadata key the items have (issue 16)
            from alapp.store.stream import check_stratify_key

            check_stratify_key(self, merged.stratify_by)
        if merged.multi_label != current.multi_label:  # issue 21: decisions are sets or not
            raise AlappError(f"multi_label={merged.multi_label!r}: whether decisions are sets "
                             "of labels is chosen when a project is created (this one is "
                             f"{'multi' if current.multi_label else 'single'}-label)")
        with self.transaction() as conn:
            self._write_settings({k: getattr(merged, k) for k in changes})
            if merged.training_label_rule != current.training_label_rule:  # issue 19
                from alapp.store.resolution import rebuild

                rebuild(conn)
        return merged

    def _write_settings(self, rows: dict[str, Any]) -> None:
        self._conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                               [(k, json.dumps(v)) for k, v in rows.items()])

    # -- items -----------------------------------------------------------------------------------

    def item(self, item_id: ItemId) -> Item:
        row = self._conn.execute(
            "SELECT id, ext_id, text, split, meta FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise AlappError(f"{self.path}: no item with id {item_id}")
        return Item(ItemId(row[0]), row[1], row[2], Split(row[3]), row[4])

    def item_ids(self, split: Split | None = None) -> list[ItemId]:
        if split is None:
            rows = self._conn.execute("SELECT id FROM items ORDER BY id")
        else:
            rows = self._conn.execute("SELECT id FROM items WHERE split = ? ORDER BY id", (split,))
        return [ItemId(r[0]) for r in rows]

    def texts(self, ids: Sequence[ItemId]) -> list[str]:
        """Model texts in the order of ``ids`` (a pair's two texts joined, see core/pairs.py);
        reads in chunks to stay under SQLite's variable limit."""
        found: dict[int, str] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            marks = ",".join("?" * len(chunk))
            found.update((i, join_pair(a, b)) for i, a, b in self._conn.execute(
                f"SELECT id, text, text_b FROM items WHERE id IN ({marks})", chunk))
        return [found[i] for i in ids]

    def splits(self) -> dict[ItemId, str]:
        return {ItemId(i): split for i, split in self._conn.execute("SELECT id, split FROM items")}

    def count_items(self) -> dict[str, int]:
        counts = dict.fromkeys(Split, 0)
        for split, n in self._conn.execute("SELECT split, COUNT(*) FROM items GROUP BY split"):
            counts[Split(split)] = n
        return {str(k): v for k, v in counts.items()}

    # -- label events ------------------------------------------------------------------------------

    def current_labels(self) -> dict[ItemId, str]:
        """Each item's training label (see store/resolution.py)."""
        return {ItemId(i): label for i, label in self._conn.execute(CURRENT_LABEL_SQL)}

    def disputed(self) -> set[ItemId]:
        """Items whose annotators disagree with no rule to decide: for review, not asked."""
        return {ItemId(r[0]) for r in self._conn.execute(DISPUTED_SQL)}

    def skipped_forever(self) -> set[ItemId]:
        return {ItemId(r[0]) for r in self._conn.execute(SKIPPED_FOREVER_SQL)}

    def current_label(self, item_id: ItemId) -> str | None:
        row = self._conn.execute(
            "SELECT label FROM item_labels WHERE item_id = ?", (item_id,)).fetchone()
        return None if row is None else row[0]

    def label_item(self, item_id: ItemId, label: str, annotator: str,
                   started_at: float | None = None, active_ms: int | None = None,
                   selection: Selection | None = None,
                   claim: ClaimRequest | None = None) -> EventId:
        """Record one decision; durable when this returns. In a multi-label project the label
        is the set chosen, its names joined by "|" (see ``join_labels``; "" is an explicit
        "none of these"): stored as one ``event_labels`` row per name, in the label order.
        ``claim`` (issue 20): refused on an item another live session holds; the session's
        claims renewed and its window refilled (``claims.after_decision``)."""
        from alapp.al.task import task_for

        labels = self.labels()
        try:
            parts = task_for(self._fixed_settings()).check_label(label, labels)
        except ValueError as e:
            raise AlappError(str(e)) from None
        if self.multi_label:
            label = join_labels(parts, labels)  # the same set is always the same text
        if self.spans:  # issue 18: checked against the item's text and tokens
            from alapp.store.spans import checked_decision

            label = checked_decision(self, item_id, label, labels)
        if claim is not None:  # issue 20: not an item another session holds; read before
            claims.check_not_held(self, item_id, claim)  # the writer lock (see the function)
        with self.transaction():
            event = self._insert_event(item_id, Action.LABEL, label, annotator, started_at,
                                       active_ms, selection)
            queue.take_off(self._conn, item_id, annotator)
            claims.after_decision(self, claim, in_transaction=True)
        claims.after_decision(self, claim, in_transaction=False)
        return event

    def skip_item(self, item_id: ItemId, annotator: str, forever: bool = False,
                  started_at: float | None = None, active_ms: int | None = None,
                  selection: Selection | None = None,
                  claim: ClaimRequest | None = None) -> EventId:
        action = Action.SKIP_FOREVER if forever else Action.SKIP
        return self._record(item_id, action, None, annotator, started_at, active_ms, selection,
                            claim=claim)

    def flag_item(self, item_id: ItemId, annotator: str, note: str = "",
                  selection: Selection | None = None) -> EventId:
        return self._record(item_id, Action.FLAG, self.current_label(item_id), annotator,
                            None, None, selection, note=note)

    def undo_last(self, annotator: str) -> tuple[ItemId, EventId] | None:
        """Undo the annotator's latest label that is not undone yet, as a new event, and put
        the item back at the front of the queue.

        The undo event carries the label the item had before, so history stays append-only.
        """
        with self.transaction():
            row = self._conn.execute(
                "SELECT id, item_id FROM label_events WHERE annotator = ? AND action = 'label' "
                "AND id NOT IN (SELECT undoes FROM label_events WHERE undoes IS NOT NULL) "
                "ORDER BY id DESC LIMIT 1", (annotator,)).fetchone()
            if row is None:
                return None
            target, item_id = row
            before = self._conn.execute(  # their own: another annotator's vote is theirs
                "SELECT label FROM label_events WHERE item_id = ? AND id < ? AND annotator = ? "
                "AND action IN ('label', 'undo') ORDER BY id DESC LIMIT 1",
                (item_id, target, annotator)).fetchone()
            event = self._insert_event(item_id, Action.UNDO, before[0] if before else None,
                                       annotator, None, None, None, undoes=target)
            # in the undo's transaction; an overlap item they decided is theirs to decide again
            queue.put_first(self._conn, ItemId(item_id), Source.UNDO, annotator)
        return ItemId(item_id), event

    def _record(self, item_id: ItemId, action: Action, label: str | None, annotator: str,
                started_at: float | None, active_ms: int | None, selection: Selection | None,
                note: str | None = None, claim: ClaimRequest | None = None) -> EventId:
        if claim is not None:  # issue 20: not an item another session holds
            claims.check_not_held(self, item_id, claim)
        with self.transaction():
            event = self._insert_event(item_id, action, label, annotator, started_at, active_ms,
                                       selection, note=note)
            # "never ask again" takes an overlap item off for everyone (issue 20)
            queue.take_off(self._conn, item_id,
                           None if action == Action.SKIP_FOREVER else annotator)
            claims.after_decision(self, claim, in_transaction=True)  # issue 20
        claims.after_decision(self, claim, in_transaction=False)
        return event

    def _insert_event(self, item_id: int, action: Action, label: str | None, annotator: str,
                      started_at: float | None, active_ms: int | None,
                      selection: Selection | None, undoes: int | None = None,
                      note: str | None = None, submitted_at: float | None = None,
                      resolve: bool = True) -> EventId:
        """One event, inside the caller's transaction, with its identity (issue 19: a unique
        id, this workstation and its next sequence number); the item's training label is
        resolved again unless ``resolve`` is False (a bulk import does it once at the end)."""
        sel = selection or Selection(Source.UNDO if action == Action.UNDO else Source.UNKNOWN)
        now = time.time()
        # The event and its annotator in one round trip to a server (the writer lock is held);
        # its sequence number is the workstation's next, read in the same statement (origins)
        inserted, _ = execute_together(self._conn, [(
            "INSERT INTO label_events (item_id, action, label, annotator, started_at, "
            "submitted_at, active_ms, undoes, note, round_id, source, strategy, score, "
            "predicted_cost, is_random_share, uid, workstation, seq) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM label_events WHERE workstation = ?))",
            (item_id, action.value, label, annotator, started_at,
             submitted_at if submitted_at is not None else now, active_ms, undoes, note,
             sel.round_id, sel.source, sel.strategy or None, sel.score, sel.predicted_cost,
             int(sel.source == Source.RANDOM), uuid.uuid4().hex, self.workstation,
             self.workstation)), (
            "INSERT OR IGNORE INTO annotators (name, added_at, how) VALUES (?, ?, ?)",
            (annotator, now, "reviewed here" if action == Action.ADJUDICATION
             else "labeled here"))])
        event = EventId(int(inserted.lastrowid or 0))
        if label is not None and self.multi_label:  # the set, one row per chosen label
            self._conn.executemany("INSERT INTO event_labels (event_id, label) VALUES (?, ?)",
                                   [(event, name) for name in split_labels(label)])
        elif label is not None and self.spans:  # issue 18: one row per span
            from alapp.store.spans import insert_event_spans

            insert_event_spans(self._conn, event, label)
        if resolve and action in (Action.LABEL, Action.UNDO, Action.ADJUDICATION):
            from alapp.store.resolution import update_items

            update_items(self._conn, [item_id])
        return event

    def origins(self, count: int) -> Iterator[tuple[str, str, int]]:
        """(uid, workstation, sequence) for the next ``count`` events made here (issue 19);
        read inside the transaction that writes them."""
        last = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM label_events "
                                  "WHERE workstation = ?", (self.workstation,)).fetchone()[0]
        for k in range(count):
            yield uuid.uuid4().hex, self.workstation, int(last) + 1 + k

    def _fixed_settings(self) -> ProjectSettings:
        """The settings chosen when the project was created and never changed after (its
        ``task``, and ``multi_label``: ``update_settings`` refuses either), read once per
        connection: every decision asks for them. Only those two may be used from it."""
        known = self.__dict__.get("_fixed")
        if known is None:
            rows = dict(self._conn.execute(
                "SELECT key, value FROM settings WHERE key IN ('task', 'multi_label')"))
            known = ProjectSettings(task=json.loads(rows.get("task", '"classification"')),
                                    multi_label=json.loads(rows.get("multi_label", "false"))
                                    is True)
            if "task" in rows:  # a project being created has no settings yet: read again
                self.__dict__["_fixed"] = known
        return known

    @property
    def multi_label(self) -> bool:
        """Whether decisions are sets of labels (issue 21); fixed at creation, so read once."""
        return bool(self._fixed_settings().multi_label)

    @property
    def spans(self) -> bool:
        """Whether this is a span project (issue 18); fixed at creation, so read once."""
        return bool(self._fixed_settings().task == "spans")

    def label_set(self, event_id: EventId) -> list[str]:
        """The labels a multi-label event chose, in the project's label order (empty: none)."""
        return [r[0] for r in self._conn.execute(
            "SELECT s.label FROM event_labels s JOIN labels l ON l.name = s.label "
            "WHERE s.event_id = ? ORDER BY l.position", (event_id,))]

    def events(self, item_id: ItemId | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM label_events"
        args: tuple[Any, ...] = ()
        if item_id is not None:
            sql += " WHERE item_id = ?"
            args = (item_id,)
        cursor = self._conn.execute(sql + " ORDER BY id", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    # -- summary ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        labels = self.current_labels()
        per_label = dict.fromkeys(self.labels(), 0)
        multi, spans = self.multi_label, self.spans
        for label in labels.values():
            # a set counts each label; a span set each entity (issue 18)
            for name in (split_labels(label) if multi
                         else [s.label for s in decode_spans(label)] if spans else [label]):
                per_label[name] = per_label.get(name, 0) + 1
        split_of = dict(self._conn.execute("SELECT id, split FROM items"))
        labeled_by_split = dict.fromkeys(Split, 0)
        for item_id in labels:
            labeled_by_split[Split(split_of[item_id])] += 1
        timed = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(active_ms), 0) FROM label_events "
            "WHERE action = 'label' AND active_ms IS NOT NULL").fetchone()
        return {
            "project": str(self.path),
            "name": self.settings().name,
            "schema_version": schema_version(self._conn),
            "items": self.count_items(),
            "labeled": {str(k): v for k, v in labeled_by_split.items()},
            "labeled_total": len(labels),
            "per_label": per_label,
            "skipped_forever": len(self.skipped_forever()),
            "events": self._conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0],
            "timed_labels": timed[0],
            "active_hours": round(timed[1] / 3_600_000, 4),
            "imports": self._conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0],
        }

    def integrity_ok(self) -> bool:
        if self.on_server:  # the server checks its pages itself; this asks that it answers
            return bool(self._conn.execute("SELECT COUNT(*) FROM alapp_meta").fetchone()[0] > 0)
        return bool(self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _upgraded(where: Path | ServerAddress, conn: sqlite3.Connection | PgConnection,
              read_only: bool) -> int:
    """The project's schema version as it was found, after bringing it up to this alapp's
    (writable only); a newer one is refused."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise ProjectFormatError(
            f"{where}: written by a newer alapp (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); update alapp to open it")
    if version < SCHEMA_VERSION:
        if read_only:
            raise ProjectFormatError(
                f"{where}: needs an upgrade from schema {version}; open it for writing once")
        migrate(conn)
    return version


def _initial_settings(labels: Sequence[str], name: str, settings: dict[str, Any]
                      ) -> ProjectSettings:
    """A new project's settings, checked before anything is written."""
    from alapp.al.registry import strategies_for
    from alapp.core.options import TaskKind
    from alapp.core.settings import setting_names

    _check_label_names(labels)
    unknown = sorted(set(settings) - set(setting_names()))
    if unknown:
        raise AlappError(f"unknown setting {unknown[0]!r}; settings are "
                         f"{', '.join(setting_names())}")
    if settings.get("task") == "spans":  # issue 18: entity types, one span set per item
        from alapp.store.spans import check_type_names

        if settings.get("multi_label"):
            raise AlappError("a span project cannot be multi-label: its decision is a set "
                             "of spans already")
        check_type_names(labels)
    if settings.get("multi_label") and "strategy" not in settings:  # issue 21
        from alapp.al.multilabel_strategies import DEFAULT

        settings = {**settings, "strategy": DEFAULT}
    if settings.get("task") == TaskKind.SPANS and "strategy" not in settings:  # issue 18
        from alapp.al.sequence import DEFAULT_SEQUENCE_STRATEGY

        settings = {**settings, "strategy": DEFAULT_SEQUENCE_STRATEGY}
    initial = ProjectSettings(name=name, **settings)
    initial.validate(strategies=strategies_for(initial.task))  # before a file exists
    return initial


def _package_id(conn: sqlite3.Connection) -> str | None:
    """The id of the exchange package this file was opened from (None: a project of its own).

    Its events carry the workstation ``<machine>-p<package>``: a machine may hold the main
    project and packages of it (or two annotators' packages), each counting its own sequence
    from 1, and the merged project must keep (workstation, sequence) unique (store/packages.py).
    """
    try:
        row = conn.execute("SELECT value FROM identity WHERE key = 'package_id'").fetchone()
    except sqlite3.OperationalError:  # a file older than schema 13 (upgraded after this)
        return None
    return str(row[0]) if row else None


def _check_is_project(path: Path, conn: sqlite3.Connection) -> None:
    """Refuse files that are not SQLite, or SQLite files that are not alapp projects.

    Asked through SQLite rather than read from the header bytes: in WAL mode the header in the
    main file can lag behind the log until a checkpoint, and a second descriptor on the file,
    once closed, would drop this process's SQLite locks on it (see ``store/lock.py``). Only
    SQLite's "not a database" answer means that: a permission or disk problem is reported as
    what it is by the caller (``storage_error``).
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    except sqlite3.DatabaseError as e:
        if _code(e) != _NOTADB:
            raise
        raise ProjectDamagedError(
            f"{path}: not an alapp project (not an SQLite file, or a damaged one); if it is "
            f"a project, {_backup_hint(path)}") from None
    if app_id != APPLICATION_ID:
        hint = f"; if it was one, {_backup_hint(path)}" if _has_backups(path) else ""
        raise ProjectFormatError(f"{path}: not an alapp project{hint}")


def _has_backups(path: Path) -> bool:
    folder = real_path(path).with_name(real_path(path).name + ".backups")
    return folder.is_dir() and any(folder.iterdir())


def _translated(path: Path, error: sqlite3.DatabaseError) -> BaseException:
    """``error`` as the one-line error of ``storage_error``, or itself (a bug)."""
    return storage_error(path, error) or error


def _acquire(lock: ProjectLock, path: Path) -> None:
    try:
        lock.acquire()
    except OSError as e:  # the lock file cannot be made or opened (permissions, a full disk)
        raise ProjectReadOnlyError(
            f"{path}: cannot make its lock file {lock.path.name} ({e.strerror}); view it "
            "read-only (alapp stats, alapp export) or copy it to a writable folder") from None


def _check_file(path: Path) -> None:
    """A project file that exists, can be read and is not empty: one line otherwise."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise AlappError(f"{path}: no such project file") from None
    except PermissionError:
        raise AlappError(f"{path}: cannot be read: permission denied on its folder") from None
    except OSError as e:
        raise StorageError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise AlappError(f"{path}: no such project file (that is not a file)")
    if not os.access(path, os.R_OK):
        raise AlappError(f"{path}: cannot be read: permission denied; ask its owner for access")
    wal = Path(f"{real_path(path)}-wal")
    if info.st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise ProjectDamagedError(f"{path}: the project file is empty (0 bytes): it was cut "
                                  f"short or never written; {_backup_hint(path)}")


def _check_writable(path: Path) -> None:
    """Refuse, in one line, a project that cannot be written: SQLite would otherwise open it
    read-only without a word and fail at the first label."""
    real = real_path(path)
    problem = None
    if not os.access(real, os.W_OK):
        problem = "the file is read-only"
    elif not os.access(real.parent, os.W_OK | os.X_OK):
        problem = f"its folder {real.parent} is read-only (SQLite writes its log beside it)"
    if problem:
        raise ProjectReadOnlyError(
            f"{path}: {problem}, so alapp cannot save labels here; view it read-only (alapp "
            "stats, alapp export) or copy it to a writable folder")


def _warn_about_storage(path: Path) -> None:
    """One-line warnings (not refusals) where SQLite cannot fully protect the file."""
    real = real_path(path)
    fstype = _network_filesystem(real)
    if fstype:
        _warn(_network_warning(path, fstype))
    links = real.stat().st_nlink
    if links > 1:
        _warn(f"{path}: the file has {links} names (hard links); always open it by the same "
              "name: SQLite keeps its log beside the name it was opened by")


def _network_warning(path: Path, fstype: str) -> str:
    return (f"{path}: on a network filesystem ({fstype}), where SQLite's locking is unreliable; "
            "keep projects on a local disk, or open this one from one computer at a time")


def _network_filesystem(path: Path, mounts: Path = Path("/proc/mounts")) -> str | None:
    """The type of the network filesystem holding ``path``, or None (local, or unknown: Linux
    reads /proc/mounts, Windows asks for the drive type; elsewhere this is best effort)."""
    if sys.platform == "win32":  # pragma: no cover - Windows builds only
        import ctypes

        text = str(path)
        if text.startswith("\\\\"):
            return "a network share"
        drive = os.path.splitdrive(text)[0] + "\\"
        return "a network drive" if ctypes.windll.kernel32.GetDriveTypeW(drive) == 4 else None
    try:
        table = mounts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = str(path)
    best, fstype = -1, ""
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > best:
            best, fstype = len(point), fields[2]
    return fstype if fstype in NETWORK_FILESYSTEMS or fstype.startswith("nfs") else None


def _check_label_names(names: Sequence[str]) -> None:
    for name in names:
        if not name.strip() or name != name.strip():
            raise AlappError(f"label name {name!r}: must be non-empty without outer spaces")
        if LABEL_SEPARATOR in name:
            raise AlappError(f"label name {name!r}: {LABEL_SEPARATOR!r} is reserved "
                             "(it joins the labels of a multi-label decision)")
