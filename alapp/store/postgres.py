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

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
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


# A transaction that writes only rows it locks itself (a session's claims, store/claims.py)
# takes no writer lock, so it never waits for another workstation's label: "BEGIN DEFERRED".
UNLOCKED_BEGIN = "BEGIN DEFERRED"
_DEFERRED = re.compile(r"^\s*BEGIN\s+DEFERRED\b", re.IGNORECASE)




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
        if head.startswith(("COMMIT", "END", "ROLLBACK")):
            ending, self._transaction = self._transaction, False
            if self._conn.closed:  # the server dropped the transaction with the connection
                if head.startswith("ROLLBACK"):
                    return PgCursor(None, None)
                raise _lost(self.address)
            if not ending:
                return PgCursor(None, None)
        cursor = self._run(lambda c: c.execute(statement.sql, _params(parameters)), sql, control)
        if head.startswith("BEGIN"):
            self._transaction = True
            self._keys_given.clear()
            if not _DEFERRED.match(sql):  # BEGIN DEFERRED: see UNLOCKED_BEGIN
                self._run(lambda c: c.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                                              (LOCK_CLASS, WRITER_LOCK)), sql)
        elif statement.sets_key and statement.table:
            self._keys_given.add(statement.table)
            if not self.in_transaction:
                self._follow_given_keys()
        return PgCursor(cursor, statement)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> PgCursor:
        statement = translate(sql, self.tables, many=True)
        rows = [_params(p) for p in seq_of_parameters]
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

    def _run(self, call: Any, sql: str, control: bool = False) -> Any:
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
        try:
            if guarded:  # three statements, one round trip to the server
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

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


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
