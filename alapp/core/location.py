"""Where a project lives: a file (a ``Path``) or a database on a PostgreSQL server (issue 20).

Credentials never live in an address alapp keeps: a password in the address is refused; libpq
reads it from ``PGPASSWORD``, ``~/.pgpass`` or a service file (``postgresql:///?service=x``),
and TLS options (``sslmode``, ``sslrootcert``...) pass through unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from alapp.core.errors import AlappError

SCHEMES = ("postgresql://", "postgres://")


def project_location(text: str | Path | ServerAddress) -> Path | ServerAddress:
    """A project argument as given: a server's address, or a file's path."""
    if isinstance(text, ServerAddress):
        return text
    return ServerAddress(str(text)) if is_server_address(text) else Path(text)


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


Location = Path | ServerAddress  # where a project lives, either kind
