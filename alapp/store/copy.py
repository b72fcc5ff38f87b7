"""Moving a project between stores (issue 20): a project file to a PostgreSQL database, back,
or to another file, losing nothing.

Every table of the schema is copied row for row, keys included (items keep their ids, label
events their uid, workstation and sequence, models their weights), so the copy answers every
question as the original does. The list of tables is the schema's own (``sqlite_schema``), in
reference order (``_referenced_first``): a table added by a later migration is copied without a
change here.

- The source is opened read-only and read in one snapshot (a read transaction): a copy taken
  while annotators label is the project at one instant. It must be at the current schema
  version (a read-only open refuses an older one: open it for writing once to upgrade).
- The destination must not exist (a file) or be an empty database (a server): nothing is ever
  overwritten.
- All or nothing: a file is written under a temporary name beside the destination and only
  then linked to its name (never replacing a file that appeared meanwhile); a server database
  is filled in one transaction, the schema included, which a failure (or a lost connection)
  rolls back to the empty database it was.
- Rows are streamed in chunks, page by page along each table's key (``CHUNK`` rows at a time,
  on both stores), so a project of millions of items is never held whole in memory; each
  table's count is checked against the source's at the end of it.

The copy is the same project: the ``identity`` table (its ``project_id``, and ``package_id``
where the source is an opened exchange package) is copied too, so exchange packages made from
the original merge into the copy and the other way round. Events made in the copy on a machine
continue that machine's sequence; keep labeling in one of the two (the copy is a move), or give
the other a workstation of its own, since both would count the same sequence numbers.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError, StorageError
from alapp.core.files import fsync_folder, temporary_name
from alapp.store.postgres import PgConnection, ServerAddress, begin_read, is_server_address
from alapp.store.project import Project, storage_error
from alapp.store.schema import (
    _referenced_first,
    create_server_schema,
    migrate,
    server_tables,
    sqlite_schema,
)

CHUNK = 2000  # rows read and written at a time
PAGE_BYTES = 32 * 2**20  # about this much of a table read at a time (large rows: fewer)
FIRST_PAGE = 16  # rows of a table's first page, before its rows' size is known
STALE_S = 3600.0  # a copy's temporary untouched this long belongs to a dead process
# (table, rows copied so far, rows in the table): after each chunk
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key: the order rows are read and paged in


@functools.cache
def tables() -> tuple[Table, ...]:
    """Every table of the current schema, referenced tables first, with its columns and key."""
    conn = sqlite3.connect(":memory:")
    try:
        for _name, sql in sqlite_schema():
            conn.execute(sql)
        keys = server_tables().keys
        result = []
        for name, sql in _referenced_first(sqlite_schema()):
            if not sql.lstrip().upper().startswith("CREATE TABLE"):
                continue
            columns = tuple(row[1] for row in conn.execute(f'PRAGMA table_info("{name}")'))
            if name not in keys:  # a table without one cannot be paged in a stable order
                raise AlappError(f"table {name} has no primary key; alapp copy needs one")
            result.append(Table(name, columns, keys[name]))
        return tuple(result)
    finally:
        conn.close()


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def read_rows(conn: sqlite3.Connection | PgConnection, table: Table,
              chunk: int = CHUNK) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in key order, pages of at most ``chunk`` rows and about ``PAGE_BYTES``
    (images and model weights are large rows: the first page is a few rows, and each next
    page's size follows the rows seen so far). Each page starts after the last key of the one
    before (a row value comparison, which both stores index), so no page costs more than its
    rows and no cursor holds the table."""
    columns = _quoted(table.columns)
    order = _quoted(table.key)
    first = f'SELECT {columns} FROM "{table.name}" ORDER BY {order} LIMIT ?'
    marks = ", ".join("?" for _ in table.key)
    after = (f'SELECT {columns} FROM "{table.name}" WHERE ({order}) > ({marks}) '
             f"ORDER BY {order} LIMIT ?")
    where = [table.columns.index(k) for k in table.key]
    limit = min(chunk, FIRST_PAGE)
    rows = conn.execute(first, [limit]).fetchall()
    seen_rows, seen_bytes = 0, 0
    while rows:
        yield rows
        if len(rows) < limit:
            return
        seen_rows += len(rows)
        seen_bytes += sum(_size(row) for row in rows)
        limit = max(1, min(chunk, PAGE_BYTES * seen_rows // max(seen_bytes, 1)))
        last = rows[-1]
        rows = conn.execute(after, [*(last[i] for i in where), limit]).fetchall()


def _size(row: tuple[Any, ...]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)


@dataclass
class CopyReport:
    source: str
    dest: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_project(source: str | Path, dest: str | Path, progress: Progress | None = None,
                 chunk: int = CHUNK) -> CopyReport:
    """Copy the project at ``source`` to ``dest`` (each a file or a ``postgresql://``
    address); see the module's description. Raises ``AlappError`` with one line when the copy
    cannot be made; then nothing is left at ``dest``."""
    started = time.perf_counter()
    if is_server_address(dest):
        writer: _Destination = _ServerDestination(ServerAddress(str(dest)))
    else:
        writer = _FileDestination(Path(dest))
    try:
        with Project.open(source, read_only=True) as project:
            conn = project._conn
            begin_read(conn)  # the project at one instant
            try:
                report = CopyReport(str(source), str(dest))
                writer.start()
                for table in tables():
                    report.rows[table.name] = _copy_table(conn, writer, table, chunk, progress)
                try:
                    writer.finish()
                except sqlite3.Error as e:
                    raise writer.failed(e, "the copy's last step (commit)") from None
            finally:
                with suppress(sqlite3.Error, AlappError):
                    conn.execute("ROLLBACK")  # the snapshot (nothing was written)
    except BaseException:
        writer.abandon()
        raise
    report.seconds = time.perf_counter() - started
    return report


def _copy_table(source: sqlite3.Connection | PgConnection, dest: _Destination, table: Table,
                chunk: int, progress: Progress | None) -> int:
    (total,) = source.execute(f'SELECT COUNT(*) FROM "{table.name}"').fetchone() or (0,)
    insert = (f'INSERT INTO "{table.name}" ({_quoted(table.columns)}) '
              f"VALUES ({', '.join('?' for _ in table.columns)})")
    done = 0
    for rows in read_rows(source, table, chunk):
        try:
            if isinstance(dest.conn, PgConnection):
                dest.conn.copy_rows(table.name, table.columns, rows)
            else:
                dest.conn.executemany(insert, rows)
        except sqlite3.Error as e:  # the destination's failure, named as its own
            key = ", ".join(repr(rows[0][table.columns.index(k)]) for k in table.key)
            raise dest.failed(e, f"table {table.name}, from key ({key})") from None
        done += len(rows)
        if progress is not None:
            progress(table.name, done, total)
    if done != total:  # the snapshot holds still, so this is a bug of the paging: say it
        raise AlappError(f"table {table.name}: {done} rows copied of {total}; nothing was kept")
    if progress is not None and total == 0:
        progress(table.name, 0, 0)
    return done


def _clear(conn: sqlite3.Connection | PgConnection) -> None:
    """The rows a new schema comes with (a new project id): the source's replace them."""
    for table in reversed(tables()):
        conn.execute(f'DELETE FROM "{table.name}"')


class _Destination:
    conn: sqlite3.Connection | PgConnection

    def start(self) -> None:
        """An empty project at the current schema, in an open transaction."""
        raise NotImplementedError

    def finish(self) -> None:
        """Commit, and make the copy appear under its name."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Leave nothing behind (called on any failure, before or after ``start``)."""
        raise NotImplementedError

    def failed(self, error: sqlite3.Error, where: str) -> AlappError:
        """One line for a write that failed: nothing of the copy is kept."""
        raise NotImplementedError


class _FileDestination(_Destination):
    """A new project file: written under a hidden temporary name beside ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if os.path.lexists(path):
            raise AlappError(f"{path}: already exists; alapp copy never replaces a file: "
                             "choose a new name (or remove that file first)")
        folder = path.absolute().parent
        if not folder.is_dir():
            raise AlappError(f"{path.parent}: no such folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise AlappError(f"{path}: the folder {path.parent} is read-only; copy to a "
                             "writable folder")
        _remove_stale_temporaries(path)
        self.tmp = temporary_name(path, "copy")
        self._conn: sqlite3.Connection | None = None

    def start(self) -> None:
        conn = self._conn = sqlite3.connect(self.tmp, isolation_level=None,
                                            check_same_thread=False)
        self.conn = conn
        try:
            conn.execute("PRAGMA foreign_keys = ON")  # every reference checked as it lands
            migrate(conn)  # the schema, the file's marks and version
            conn.execute("PRAGMA synchronous = OFF")  # a temporary: fsynced once, at the end
            conn.execute("BEGIN IMMEDIATE")
            _clear(conn)
        except sqlite3.Error as e:
            raise storage_error(self.path, e) or e from None

    def finish(self) -> None:
        assert self._conn is not None
        conn = self._conn
        try:
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")  # as every project file is written
        except sqlite3.Error as e:
            raise storage_error(self.path, e) or e from None
        conn.close()
        self._conn = None
        fd = os.open(self.tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(self.tmp, self.path)  # fails, rather than replaces, if the name is taken
        except FileExistsError:
            raise AlappError(f"{self.path}: appeared while the copy was being made; it is "
                             "left as it is and the copy is dropped") from None
        except OSError:  # a filesystem without hard links: a rename, after one more look
            if os.path.lexists(self.path):
                raise AlappError(f"{self.path}: appeared while the copy was being made; it "
                                 "is left as it is and the copy is dropped") from None
            os.rename(self.tmp, self.path)
        with suppress(FileNotFoundError):
            os.unlink(self.tmp)
        fsync_folder(self.path.absolute().parent)

    def failed(self, error: sqlite3.Error, where: str) -> AlappError:
        return storage_error(self.path, error) or AlappError(
            f"{self.path}: cannot write {where} ({error}); nothing of the copy was kept")

    def abandon(self) -> None:
        if getattr(self, "_conn", None) is not None:
            assert self._conn is not None
            with suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if hasattr(self, "tmp"):
            for suffix in ("", "-journal", "-wal", "-shm"):
                with suppress(OSError):
                    os.unlink(f"{self.tmp}{suffix}")


def _remove_stale_temporaries(path: Path) -> None:
    """A copy killed outright (power cut, kill -9) leaves its hidden temporary beside the
    destination, never the destination: one untouched for an hour belongs to a dead copy."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.copy(-journal|-wal|-shm)?")
    folder = path.absolute().parent
    with suppress(OSError):
        for entry in os.scandir(folder):
            if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                with suppress(OSError):
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_S:
                        os.unlink(entry.path)


class _ServerDestination(_Destination):
    """An empty database on a PostgreSQL server: the schema and every row in one
    transaction."""

    def __init__(self, address: ServerAddress) -> None:
        from alapp.store.postgres import connect

        self.address = address
        try:
            conn = connect(address, server_tables())
        except StorageError as e:
            if f'database "{address.database}" does not exist' not in str(e):
                raise
            raise StorageError(f"{address}: no such database; alapp copy writes into a new, "
                               f"empty database: create it first (createdb {address.database})"
                               ) from None
        self.conn = conn
        try:
            _check_empty(conn, address)
        except BaseException:
            conn.close()
            raise

    def start(self) -> None:
        assert isinstance(self.conn, PgConnection)
        self.conn.execute("BEGIN IMMEDIATE")
        create_server_schema(self.conn)
        _clear(self.conn)

    def finish(self) -> None:
        self.conn.execute("COMMIT")  # the identity keys follow the copied ones (postgres.py)
        self.conn.close()

    def failed(self, error: sqlite3.Error, where: str) -> AlappError:
        return AlappError(f"{self.address}: the server refused {where} ({error}); nothing of "
                          "the copy was kept")

    def abandon(self) -> None:
        with suppress(sqlite3.Error, AlappError):
            self.conn.rollback()  # the schema too: the database is empty again
        with suppress(Exception):
            self.conn.close()


def _check_empty(conn: PgConnection, address: ServerAddress) -> None:
    """Refuse a database that holds anything of anyone's: a project, or other tables."""
    from alapp.store.schema import APPLICATION_ID, server_application_id

    if server_application_id(conn) == APPLICATION_ID:
        raise AlappError(f"{address}: already holds a project; alapp copy never overwrites: "
                         "copy into a new, empty database (createdb NAME)")
    conn.rollback()
    held = [f"{kind} {schema}.{name}" for kind, schema, name in conn.execute(
        "SELECT 'table', table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
        "UNION ALL SELECT 'function', routine_schema, routine_name "
        "FROM information_schema.routines "
        "WHERE routine_schema NOT IN ('pg_catalog', 'information_schema') "
        "ORDER BY 1, 2, 3").fetchall()]
    if held:
        more = f" and {len(held) - 3} more" if len(held) > 3 else ""
        raise AlappError(f"{address}: the database is not empty ({', '.join(held[:3])}{more}); "
                         "alapp copy writes only into a new, empty database (createdb NAME)")
