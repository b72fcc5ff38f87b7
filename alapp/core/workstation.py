"""Which workstation this is: a stable random id, made once per user account and kept in a small
file beside the application's log, so that events from several machines can be told apart and
ordered by each machine's own sequence (issue 19), whatever the machines' clocks say.

``ALAPP_WORKSTATION_ID`` overrides it (a portable installation, or a test that plays several
machines); ``ALAPP_WORKSTATION_FILE`` names the file instead of the default place.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from alapp.core.files import temporary_name

ID_ENV = "ALAPP_WORKSTATION_ID"
FILE_ENV = "ALAPP_WORKSTATION_FILE"
_VALID = re.compile(r"[0-9a-z][0-9a-z_-]{3,63}")


def default_file() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "alapp" / "workstation-id"


def check_id(value: str) -> str:
    value = value.strip().lower()
    if not _VALID.fullmatch(value):
        raise ValueError(f"a workstation id is 4-64 letters, digits, '-' or '_', not {value!r}")
    return value


def workstation_id() -> str:
    """This machine's id: the override, else the file's content, else a new id written to
    the file (atomically; a file that cannot be written leaves an id for this run only)."""
    given = os.environ.get(ID_ENV)
    if given:
        return check_id(given)
    path = Path(os.environ.get(FILE_ENV) or default_file())
    try:
        return check_id(path.read_text("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    known = _made.get(str(path))
    if known:
        return known
    made = secrets.token_hex(8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = temporary_name(path)
        temp.write_text(made + "\n", "utf-8")
        try:  # a hard link never replaces: two first runs at once agree on the one written
            os.link(temp, path)
        except FileExistsError:
            made = check_id(path.read_text("utf-8"))
        finally:
            temp.unlink()
    except (OSError, ValueError):
        pass  # a read-only home or an unreadable file: the id serves this run
    _made[str(path)] = made
    return made


_made: dict[str, str] = {}  # per file: the id made in this run, when the file could not keep it


def machine_folder() -> Path:
    """This machine's alapp folder (beside its workstation id): what alapp derives here from a
    project that has no folder of its own (one on a server, issue 20)."""
    override = os.environ.get(FILE_ENV)
    return (Path(override) if override else default_file()).parent
