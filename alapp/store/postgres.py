"""A project on a PostgreSQL server (issue 20): its address and its connection.

``PgConnection`` gives the store's modules the part of ``sqlite3.Connection`` they use
(``execute``, ``executemany``, ``in_transaction``, cursors with ``lastrowid``), so every query
the SQLite store runs runs here too, in PostgreSQL's form (``store/pg_dialect.py``). Errors are
raised as the DB-API classes of ``sqlite3`` the store already handles (a constraint is an
``IntegrityError`` on both); a lost or refused connection is one line naming the server.

A write transaction takes the project's writer lock (a transaction-level advisory lock): writes
from every connected workstation are serialized like SQLite's one writer, so the store's
read-then-write steps (an event's sequence number, an item's training label) stay correct with
several annotators, while reads never wait. Each is a short transaction; training happens
outside them.

The address, and what alapp does with credentials, are in ``core/location.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from alapp.core.errors import AlappError, StorageError
from alapp.core.location import ServerAddress as ServerAddress  # re-exported for store
from alapp.core.location import is_server_address as is_server_address
from alapp.store.pg_dialect import Statement, Tables, translate

# pg_advisory_xact_lock keys: (alapp's class, what is locked); per database, so per project
LOCK_CLASS = 0x616C6170  # "alap"
WRITER_LOCK = 1
TRAINER_LOCK = 2
_IN_ERROR = 3  # psycopg.pq.TransactionStatus.INERROR: a statement of the transaction failed




@dataclass
class Traffic:
    """What a connection asked of the server, counted (issue 20: a label's latency is mostly
    its round trips, and the writer lock's holder makes every other workstation wait for its
    locked ones). Read by tests and the concurrent-labeling bench; reset by assigning anew."""

    statements: int = 0  # the store's statements (BEGIN and COMMIT included)
    round_trips: int = 0  # waits for the server's answer (a pipeline of several is one)
    locked_round_trips: int = 0  # of those, while this connection held the writer lock


class PgCursor:
    """A psycopg cursor seen as an sqlite3 one: rows are tuples, ``lastrowid`` is the key an
    INSERT returned."""

    def __init__(self, cursor: Any, statement: Statement | None) -> None:
        # None: a statement that had nothing to do (a COMMIT with no transaction)
        self._cursor: Any = cursor if cursor is not None else SimpleNamespace(
            description=None, rowcount=-1, close=lambda: None)
        self.lastrowid: int | None = None
        if statement is not None and statement.returns_key:
            row = cursor.fetchone()
            self.lastrowid = int(row[0]) if row else None

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cursor.description is None:
            return None
        row = self._cursor.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:
            return []
        return [tuple(r) for r in self._cursor.fetchall()]

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:
            return []
        return [tuple(r) for r in self._cursor.fetchmany(size)]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self._cursor.description is None:
            return iter(())
        return (tuple(r) for r in self._cursor)

    def close(self) -> None:
        self._cursor.close()


def _params(values: Sequence[Any] | None) -> tuple[Any, ...]:
    # SQLite stores True as 1 in an INTEGER column; PostgreSQL refuses a boolean there
    return tuple(int(v) if isinstance(v, bool) else v for v in (values or ()))


class PgConnection:
    """One connection to the project's database (autocommit; ``BEGIN`` opens a transaction)."""

    def __init__(self, address: ServerAddress, conn: Any, tables: Tables,
                 read_only: bool = False) -> None:
        self.address = address
        self._conn = conn
        self.tables = tables
        self.read_only = read_only
        self._keys_given: set[str] = set()  # tables whose integer key an INSERT gave itself
        self._transaction = False  # between our BEGIN and its COMMIT or ROLLBACK
        self._locked = False  # the writer lock is held (BEGIN took it; begin_lease does not)
        self.traffic = Traffic()

    @property
    def in_transaction(self) -> bool:
        return self._transaction

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> PgCursor:
        statement = translate(sql, self.tables)
        head = statement.sql.lstrip()[:8].upper()
        if head.startswith("PRAGMA"):
            raise AlappError(f"{self.address}: a server project has no {sql.split()[1]}")
        if head.startswith("COMMIT") or head.startswith("END"):
            self._follow_given_keys()
        control = head.startswith(("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"))
        ending = head.startswith(("COMMIT", "END", "ROLLBACK"))
        if ending:
            open_transaction, self._transaction = self._transaction, False
            if self._conn.closed:  # the server dropped the transaction with the connection
                self._locked = False
                if head.startswith("ROLLBACK"):
                    return PgCursor(None, None)
                raise _lost(self.address)
            if not open_transaction:
                return PgCursor(None, None)
        self.traffic.statements += 1
        if head.startswith("BEGIN"):
            return self._begin(statement.sql, locking=True)
        try:
            cursor = self._run(lambda c: c.execute(statement.sql, _params(parameters)), sql,
                               control)
        finally:
            if ending:  # the lock goes with the transaction, committed or not
                self._locked = False
        if statement.sets_key and statement.table:
            self._keys_given.add(statement.table)
            if not self.in_transaction:
                self._follow_given_keys()
        return PgCursor(cursor, statement)

    def _begin(self, sql: str, locking: bool, also: str | None = None) -> PgCursor:
        """A transaction, with the project's writer lock unless ``locking`` is False (and
        ``also``, a statement of its own): in one round trip (the lock is waited for in it)."""
        def begin(cursor: Any) -> None:
            cursor.execute(sql)
            if locking:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, WRITER_LOCK))
            if also is not None:
                cursor.execute(also)

        import psycopg

        self.traffic.statements += int(locking)
        try:
            cursor = self._run(begin, sql, control=True, pipelined=locking or also is not None)
        except BaseException:  # the lock was not had (a lost connection, a timeout): no
            if not self._conn.closed:  # transaction stays open behind the caller's back
                with suppress(psycopg.Error):
                    self._conn.execute("ROLLBACK")
            raise
        self._transaction, self._locked = True, locking
        self._keys_given.clear()
        return PgCursor(cursor, None)

    def begin_lease(self) -> None:
        """A transaction that writes only rows it locks itself (a session's claims,
        ``store/claims.py``): no writer lock, so it never waits for another workstation's
        label, and committed without waiting for the disk; ``BEGIN`` and its setting in one
        round trip."""
        self.traffic.statements += 1
        self._begin("BEGIN", locking=False, also="SET LOCAL synchronous_commit = off")

    def execute_together(self, statements: Sequence[tuple[str, Sequence[Any]]]
                         ) -> list[PgCursor]:
        """Several statements in one round trip (a pipeline) inside a transaction, under one
        savepoint: a failing one undoes the others of the batch and raises, as ``execute``
        would. Their cursors are read after all have run. Outside a transaction, one by one."""
        if not self._transaction:
            return [self.execute(sql, parameters) for sql, parameters in statements]
        translated = [translate(sql, self.tables) for sql, _ in statements]
        if any(t.sql.lstrip()[:9].upper().startswith(("BEGIN", "COMMIT", "END", "ROLLBACK",
                                                       "SAVEPOINT", "RELEASE", "PRAGMA"))
               for t in translated):
            raise ValueError("execute_together runs plain statements, not transaction control")
        self.traffic.statements += len(statements)
        cursors: list[Any] = []

        def run(_: Any) -> None:
            for statement, (_sql, parameters) in zip(translated, statements, strict=True):
                cursor = self._conn.cursor()
                cursor.execute(statement.sql, _params(parameters))
                cursors.append(cursor)

        self._run(run, "; ".join(sql for sql, _ in statements))
        for statement in translated:
            if statement.sets_key and statement.table:
                self._keys_given.add(statement.table)
        return [PgCursor(c, t) for c, t in zip(cursors, translated, strict=True)]

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> PgCursor:
        statement = translate(sql, self.tables, many=True)
        rows = [_params(p) for p in seq_of_parameters]
        self.traffic.statements += len(rows)
        if not rows:  # nothing to send: no round trip
            return PgCursor(None, None)
        cursor = self._run(lambda c: c.executemany(statement.sql, rows), sql)
        if statement.sets_key and statement.table and rows:
            self._keys_given.add(statement.table)
            if not self.in_transaction:
                self._follow_given_keys()
        return PgCursor(cursor, None)

    def begin_snapshot(self) -> None:
        """A read-only transaction that sees the project at one instant (``alapp copy``),
        without the writer lock, so annotators go on labeling meanwhile; a connection lost in it
        fails the reader rather than reading on at another instant."""
        self._run(lambda c: c.execute(
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"), "START", True)
        self._transaction = True
        self._keys_given.clear()

    def copy_rows(self, table: str, columns: Sequence[str],
                  rows: Iterable[Sequence[Any]]) -> None:
        """A bulk load (``alapp copy``): the rows by ``COPY ... FROM STDIN``, several times
        faster than INSERTs; keys given are followed like an INSERT's."""
        import psycopg

        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'COPY "{table}" ({names}) FROM STDIN'
        try:
            with self._conn.cursor() as cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(_params(row))
        except psycopg.Error as e:
            raise _as_sqlite_error(self.address, e, sql) from e
        if table in self.tables.identity:
            self._keys_given.add(table)
            if not self.in_transaction:
                self._follow_given_keys()

    def _follow_given_keys(self) -> None:
        """Rows inserted with their own integer key do not move the identity's sequence: move
        it past them before the transaction commits, so the next drawn key is free."""
        for table in sorted(self._keys_given):
            key = self.tables.identity[table]
            top = f"(SELECT MAX({key}) FROM {table})"
            self._run(lambda c, t=table, k=key, top=top: c.execute(
                f"SELECT setval(pg_get_serial_sequence('{t}', '{k}'), GREATEST({top}, 1), "
                f"{top} IS NOT NULL)"), "setval")
        self._keys_given.clear()

    def _run(self, call: Any, sql: str, control: bool = False, pipelined: bool = False) -> Any:
        """Run one statement. Inside a transaction it runs under a savepoint: a failing
        statement is undone alone and the transaction goes on, as in SQLite (PostgreSQL would
        otherwise refuse every later statement of the transaction)."""
        import psycopg

        if self._conn.closed:  # the server restarted, or the network blinked
            if self._transaction:  # what this transaction wrote is gone with it: say so
                raise _lost(self.address)
            self._reconnect()
        cursor = self._conn.cursor()
        guarded = self._transaction and not control
        self.traffic.round_trips += 1
        self.traffic.locked_round_trips += int(self._locked)
        try:
            if pipelined:  # control statements sent together (BEGIN and the writer lock)
                with self._conn.pipeline():
                    call(cursor)
            elif guarded:  # three statements, one round trip to the server
                with self._conn.pipeline():
                    self._conn.execute("SAVEPOINT alapp_statement")
                    call(cursor)
                    self._conn.execute("RELEASE SAVEPOINT alapp_statement")
            else:
                call(cursor)
        except psycopg.Error as e:
            if guarded and self._conn.info.transaction_status == _IN_ERROR:
                with suppress(psycopg.Error):
                    self._conn.execute("ROLLBACK TO SAVEPOINT alapp_statement")
                    self._conn.execute("RELEASE SAVEPOINT alapp_statement")
            if self._conn.closed:
                if self._transaction:
                    raise _lost(self.address) from e
                if not control:  # lost between transactions: this statement is tried again
                    self._reconnect()
                    return self._run(call, sql, control)
            raise _as_sqlite_error(self.address, e, sql) from e
        return cursor

    def _reconnect(self) -> None:
        """A new connection in place of a lost one. Only between transactions: a transaction
        the server lost was rolled back there, and its caller gets the error."""
        self._conn = _open(self.address, self.read_only)
        self._keys_given.clear()
        self._locked = False

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


def begin_read(conn: Any) -> None:
    """A read transaction that sees the project at one instant (a round's snapshot, the
    vector cache's check, a copy): on a file a plain BEGIN; on a server a read-only snapshot
    without the writer lock, so every annotator's label goes on meanwhile (a round's read of
    a million items takes seconds)."""
    if isinstance(conn, PgConnection):
        conn.begin_snapshot()
    else:
        conn.execute("BEGIN")


def execute_together(conn: Any, statements: Sequence[tuple[str, Sequence[Any]]]
                     ) -> list[Any]:
    """``statements`` on a file's connection or a server's, their cursors in order: on a
    server inside a transaction, in one round trip (``PgConnection.execute_together``); on a
    file, one after another (no round trips to save)."""
    if isinstance(conn, PgConnection):
        return conn.execute_together(statements)
    return [conn.execute(sql, parameters) for sql, parameters in statements]


def _lost(address: ServerAddress) -> StorageError:
    return StorageError(f"{address}: the connection to the server was lost during a change, so "
                        "the server did not save it (nothing of it is half-written); check that "
                        "the server runs and the network, then do it again")


def _as_sqlite_error(address: ServerAddress, error: Exception, sql: str) -> Exception:
    """The error as the store handles it: constraint and data errors as sqlite3's classes;
    a lost connection or a refused login as one line naming the server."""
    import psycopg

    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return StorageError(f"{address}: the server did not answer ({first}); check that it "
                            "runs and the network, then try again")
    if isinstance(error, psycopg.IntegrityError):
        return sqlite3.IntegrityError(first)
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StorageError(f"{address}: the server refused ({first}); ask its administrator "
                            "for access to this database")
    if isinstance(error, psycopg.DataError):
        return sqlite3.DataError(first)
    if isinstance(error, psycopg.errors.UndefinedTable):
        return sqlite3.OperationalError(first)
    return sqlite3.DatabaseError(f"{first} (in: {' '.join(sql.split())[:300]})")


def connect(address: ServerAddress, tables: Tables, read_only: bool = False) -> PgConnection:
    """A connection to the project's database; a one-line error when there is none."""
    return PgConnection(address, _open(address, read_only), tables, read_only)


def _open(address: ServerAddress, read_only: bool) -> Any:
    try:
        import psycopg
    except ImportError:
        raise AlappError(f"{address}: a server project needs PostgreSQL support: "
                         'pip install "alapp[postgres]"') from None
    try:
        conn = psycopg.connect(address.address, autocommit=True, connect_timeout=10,
                               application_name="alapp")
        conn.adapters.register_loader("numeric", _numeric_loader())
        if read_only:
            conn.execute("SET default_transaction_read_only = on")
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"{address}: cannot connect ({first})") from None
    return conn


def _numeric_loader() -> type:
    """SUM over an integer column is NUMERIC in PostgreSQL: read it as SQLite would give it, an
    int when whole and a float otherwise (not a Decimal)."""
    from psycopg.adapt import Loader

    class NumericAsNumber(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data).decode("ascii")
            try:
                return int(text)
            except ValueError:
                return float(text)

    return NumericAsNumber
