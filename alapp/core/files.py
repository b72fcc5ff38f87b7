"""Writing output files so that a crash, a full disk or a wrong name never destroys a file.

``atomic_output`` writes a temporary file in the target's own folder, flushes and fsyncs it, and
only then renames it over the target (``os.replace``, atomic on POSIX and Windows): the target
is the old file or the complete new one, never a truncated mix, and nothing is truncated before
the new content is complete. ``protect`` names files an output must never replace: a project
file, matched by name (as given, or with symbolic links resolved) and by identity (the same
device and inode, which catches hard links), together with the files SQLite and alapp keep
beside it (``-wal``, ``-shm``, ``-journal``, ``.lock``).
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import AlappError

# What lives beside a project file "P": SQLite's log, its index and its rollback journal, and
# alapp's lock file (store/lock.py). Replacing any of them damages the project.
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two names lead to one file (symbolic links followed; hard links included)."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def project_files(project: str | Path) -> list[Path]:
    """The names of a project file and of its companions, as given and with links resolved."""
    project = Path(project)
    bases = {Path(os.path.abspath(project)), Path(os.path.realpath(project))}
    return [base.with_name(base.name + suffix) for base in sorted(bases)
            for suffix in COMPANION_SUFFIXES]


def is_project_file(out: str | Path, project: str | Path) -> bool:
    """Whether writing ``out`` would replace ``project`` or one of its companion files."""
    out = Path(out)
    names = {os.path.normcase(os.path.abspath(out)), os.path.normcase(os.path.realpath(out))}
    for candidate in project_files(project):
        if os.path.normcase(candidate) in names or same_file(out, candidate):
            return True
    return False


def refuse_protected(out: str | Path, protect: Iterable[str | Path | None]) -> None:
    for project in protect:
        if isinstance(project, str | Path) and is_project_file(out, project):  # a server: none
            raise AlappError(f"{out}: that is {project} or one of the files beside it; an output "
                             "never replaces a project; choose another name")


def fsync_folder(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles for it)."""
    if sys.platform == "win32":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is done
    finally:
        os.close(fd)


def temporary_name(target: Path, kind: str = "tmp") -> Path:
    """A hidden, unique name beside ``target``, for what becomes ``target`` once complete."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.{kind}")


@contextmanager
def atomic_output(path: str | Path, *, binary: bool = False, encoding: str = "utf-8",
                  newline: str | None = None,
                  protect: Iterable[str | Path | None] = ()) -> Iterator[IO[Any]]:
    """A stream whose content replaces ``path`` only when the ``with`` block completes.

    An error inside the block (or a crash) leaves ``path`` as it was and no temporary file. A
    symbolic link is written through: its target gets the new content, the link stays.
    """
    path = Path(path)
    refuse_protected(path, protect)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    tmp = temporary_name(target)
    # Created like any new file (mode 0666 less the umask), not 0600 as mkstemp would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        stream: IO[Any]
        if binary:
            stream = os.fdopen(fd, "wb")
        else:
            stream = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        with suppress(OSError):  # an existing file keeps its permissions
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(target.parent)


def write_atomic(path: str | Path, data: str | bytes,
                 protect: Iterable[str | Path | None] = ()) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; see ``atomic_output``."""
    with atomic_output(path, binary=isinstance(data, bytes), protect=protect) as stream:
        stream.write(data)
