"""What the user reads when something goes wrong, and the log file behind it.

An error the user can act on (a missing file, a full disk, a read-only folder, a locked or
damaged project, input nested too deeply) becomes one line naming the file and the problem:
:func:`describe`. Anything else is a bug: its full traceback goes to the log file
(:func:`log_error`) and the user gets one line pointing there. The command line and the window
both use these, so the same error reads the same in both.

The log lives in the user's data folder (``$XDG_STATE_HOME/alapp/alapp.log`` on Linux,
``%LOCALAPPDATA%\\alapp\\alapp.log`` on Windows, ``~/Library/Logs/alapp/alapp.log`` on macOS),
or where ``ALAPP_LOG_FILE`` says; it is rotated at about 1 MB, keeping three old ones.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
import traceback
from pathlib import Path

from alapp.core.errors import AlappError

LOG_ENV = "ALAPP_LOG_FILE"
MAX_BYTES = 1_000_000
KEEP = 3  # alapp.log.1 .. alapp.log.3

_OS_PROBLEMS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "the disk is full",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "part of the path is not a folder",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EMFILE: "too many open files",
    errno.EBUSY: "in use by another program",
    errno.EIO: "input/output error (a failing disk or a removed drive?)",
    errno.EFBIG: "the file is too large",
    errno.EINVAL: "invalid argument (a name this file system does not allow?)",
}
if hasattr(errno, "EDQUOT"):  # not in every platform's errno
    _OS_PROBLEMS[errno.EDQUOT] = "the disk quota is used up"
# SQLite's own messages, by what they start with (the store raises these as sqlite3 errors
# where it does not turn them into an AlappError itself).
_DB_PROBLEMS = (
    ("database is locked", "the project is busy in another program; close it there and try "
                           "again"),
    ("database table is locked", "the project is busy; try again"),
    ("attempt to write a readonly database", "the project file cannot be written (read-only)"),
    ("database or disk is full", "the disk is full"),
    ("database disk image is malformed", "the project file is damaged (database disk image "
                                         "is malformed); restore it from a backup"),
    ("malformed database schema", "the project file is damaged (malformed database schema); "
                                  "restore it from a backup"),
    ("file is not a database", "not an alapp project (not an SQLite file)"),
    ("unable to open database file", "cannot open the project file (a missing folder, no "
                                     "permission, or read-only media)"),
    ("disk i/o error", "input/output error reading or writing the project (a failing disk or "
                       "a removed drive?)"),
)
_lock = threading.Lock()


def one_line(text: str) -> str:
    """``text`` as one printable line: line breaks become spaces, and characters no stream
    can encode (a file name's undecodable bytes, lone surrogates) are escaped (``\\xff``)."""
    text = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    try:  # undecodable bytes of a file name came in as U+DC80..U+DCFF: show them as \xNN
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # other lone surrogates (from JSON "\ud800"): \ud800
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_database_error(error: BaseException) -> bool:
    """An sqlite3 error, recognized by name: only the store may import sqlite3."""
    return any(kind.__module__ == "sqlite3" for kind in type(error).__mro__)


def describe(error: BaseException, subject: str | Path | None = None) -> str | None:
    """One line for an error the user can act on, naming the file (``subject`` when the error
    does not say which); None for anything else, which is a bug to log."""
    where = "" if subject is None else str(subject)
    if isinstance(error, AlappError):  # names its file already
        return one_line(str(error))
    if isinstance(error, OSError):
        return one_line(_describe_os_error(error, where))
    if is_database_error(error):
        message = str(error)
        problem = next((plain for start, plain in _DB_PROBLEMS
                        if message.lower().startswith(start)),
                       f"database error: {_shorten(message)}")
        return one_line(f"{where or 'the project'}: {problem}")
    if isinstance(error, RecursionError):
        return one_line(f"{where or 'the input'}: nested too deeply to read (more than "
                        f"{sys.getrecursionlimit():,} levels)")
    if isinstance(error, MemoryError):
        return one_line(f"{where or 'alapp'}: not enough memory (the file may be too large; "
                        "close other programs or split it)")
    if isinstance(error, UnicodeDecodeError):
        return one_line(f"{where or 'the input'}: not valid {error.encoding} text at byte "
                        f"{error.start:,}; give its encoding (--encoding)")
    if isinstance(error, UnicodeEncodeError):
        return one_line(f"{where or 'the output'}: cannot be written as {error.encoding} "
                        f"({error.reason})")
    if isinstance(error, UnicodeError):
        return one_line(f"{where or 'the input'}: {error}")
    return None


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _describe_os_error(error: OSError, where: str) -> str:
    names = [_name(n) for n in (error.filename, error.filename2) if n not in (None, "")]
    if isinstance(error.filename, int):  # a file descriptor: no name to show
        names = []
    target = " -> ".join(names) or where or "a file"
    if isinstance(error, BrokenPipeError):
        return f"{target}: the output was closed (broken pipe)"
    problem = _OS_PROBLEMS.get(error.errno or -1) or error.strerror or str(error) or \
        type(error).__name__
    return f"{target}: {problem}"


def _name(value: object) -> str:
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def internal_message(error: BaseException, log: Path | None) -> str:
    """The one line for a bug: what was raised, and where its traceback went."""
    what = one_line(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    where = (f"the details are in {one_line(str(log))}" if log is not None
             else "the log file could not be written")
    return f"internal error ({what}); {where}. Please report it."


# -- the log file ----------------------------------------------------------------------------------


def log_file() -> Path:
    """Where the log goes: ``ALAPP_LOG_FILE``, else the platform's place for logs."""
    override = os.environ.get(LOG_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        folder = Path(base) if base else Path.home() / "AppData" / "Local"
        return folder / "alapp" / "alapp.log"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "alapp" / "alapp.log"
    state = os.environ.get("XDG_STATE_HOME", "")
    folder = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return folder / "alapp" / "alapp.log"


def log_error(error: BaseException, context: str = "") -> Path | None:
    """Append ``error`` with its full traceback to the log; returns the log's path, or None
    when it cannot be written (the caller still tells the user in one line)."""
    path = log_file()
    try:
        text = _entry(error, context)
    except Exception:  # formatting the traceback failed (out of memory?): keep what we can
        text = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {type(error).__name__}\n"
    try:
        with _lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = text.encode("utf-8", "backslashreplace")
            _rotate(path, len(data))
            with open(path, "ab") as stream:
                stream.write(data)
    except (OSError, ValueError):
        return None
    return path


def _entry(error: BaseException, context: str) -> str:
    from alapp import __version__

    head = (f"{time.strftime('%Y-%m-%d %H:%M:%S')} alapp {__version__} pid {os.getpid()} "
            f"thread {threading.current_thread().name} Python {sys.version.split()[0]} "
            f"{sys.platform}")
    if context:
        head += f"\n{context}"
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return f"{head}\n{trace}\n"


def _rotate(path: Path, incoming: int) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size + incoming <= MAX_BYTES:
        return
    for k in range(KEEP, 0, -1):
        older = path if k == 1 else path.with_name(f"{path.name}.{k - 1}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{k}"))
