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

Credentials never live in an address alapp keeps: a password in the address is refused; libpq
reads it from ``PGPASSWORD``, ``~/.pgpass`` or a service file (``postgresql:///?service=x``),
and TLS options (``sslmode``, ``sslrootcert``...) pass through unchanged.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from alapp.core.errors import AlappError, StorageError
from alapp.store.pg_dialect import Statement, Tables, translate

SCHEMES = ("postgresql://", "postgres://")
# pg_advisory_xact_lock keys: (alapp's class, what is locked); per database, so per project
LOCK_CLASS = 0x616C6170  # "alap"
WRITER_LOCK = 1
TRAINER_LOCK = 2


# A transaction that writes only rows it locks itself (a session's claims, store/claims.py)
# takes no writer lock, so it never waits for another workstation's label: "BEGIN DEFERRED".
UNLOCKED_BEGIN = "BEGIN DEFERRED"
_DEFERRED = re.compile(r"^\s*BEGIN\s+DEFERRED\b", re.IGNORECASE)


def is_server_address(location: object) -> bool:
    return isinstance(location, ServerAddress) or (
        isinstance(location, str) and location.lower().startswith(SCHEMES))


class ServerAddress:
    """Where a project on a server lives; stands where a file project's ``Path`` stands.

    ``str()`` is the address as given (never with a password: those are refused). ``name`` and
    ``stem`` are the database's name; ``parent`` is a local folder for what alapp derives from
    the project on this machine (encoder folders, caches), since the server has no folder."""

    def __init__(self, address: str) -> None:
        parts = urlsplit(address)
        if parts.scheme.lower() not in ("postgresql", "postgres"):
            raise AlappError(f"{address}: not a PostgreSQL address (postgresql://host/database)")
        if parts.password:
            raise AlappError(
                f"{_without_password(address)}: the address holds a password, and alapp keeps "
                "addresses in its list of recent projects; put the password in ~/.pgpass, a "
                "service file (postgresql:///?service=NAME) or PGPASSWORD instead")
        query = dict(parse_qsl(parts.query))
        self.address = address
        self.database = unquote(parts.path.lstrip("/")) or query.get("dbname") or query.get(
            "service") or parts.username or "postgres"
        self.host = parts.hostname or query.get("host") or "local"

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"ServerAddress({self.address!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerAddress) and other.address == self.address

    def __hash__(self) -> int:
        return hash(self.address)

    @property
    def name(self) -> str:
        return self.database

    @property
    def stem(self) -> str:
        return self.database

    @property
    def parent(self) -> Path:
        from alapp.core.workstation import machine_folder

        slug = re.sub(r"[^\w.-]+", "_", f"{self.host}-{self.database}")[:80]
        folder = machine_folder() / "servers" / slug
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def with_name(self, name: str) -> Path:
        return self.parent / name


def _without_password(address: str) -> str:
    return re.sub(r"(//[^:/@]*):[^@]*@", r"\1:***@", address)


class PgCursor:
    """A psycopg cursor seen as an sqlite3 one: rows are tuples, ``lastrowid`` is the key an
    INSERT returned."""

    def __init__(self, cursor: Any, statement: Statement | None) -> None:
        self._cursor = cursor
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

    def __init__(self, address: ServerAddress, conn: Any, tables: Tables) -> None:
        self.address = address
        self._conn = conn
        self.tables = tables
        self._keys_given: set[str] = set()  # tables whose integer key an INSERT gave itself

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return bool(self._conn.info.transaction_status != TransactionStatus.IDLE)

    def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> PgCursor:
        statement = translate(sql, self.tables)
        head = statement.sql.lstrip()[:8].upper()
        if head.startswith("PRAGMA"):
            raise AlappError(f"{self.address}: a server project has no {sql.split()[1]}")
        if head.startswith("COMMIT") or head.startswith("END"):
            self._follow_given_keys()
        cursor = self._run(lambda c: c.execute(statement.sql, _params(parameters)), sql)
        if head.startswith("BEGIN"):
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

    def _run(self, call: Any, sql: str) -> Any:
        import psycopg

        cursor = self._conn.cursor()
        try:
            call(cursor)
        except psycopg.Error as e:
            raise _as_sqlite_error(self.address, e, sql) from e
        return cursor

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


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
    try:
        import psycopg
    except ImportError:
        raise AlappError(f"{address}: a server project needs PostgreSQL support: "
                         'pip install "alapp[postgres]"') from None
    try:
        conn = psycopg.connect(address.address, autocommit=True, connect_timeout=10,
                               application_name="alapp")
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"{address}: cannot connect ({first})") from None
    conn.adapters.register_loader("numeric", _numeric_loader())
    if read_only:
        conn.execute("SET default_transaction_read_only = on")
    return PgConnection(address, conn, tables)


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
