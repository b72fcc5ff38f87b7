"""Errors a user can act on. The command line prints them without a traceback."""

from __future__ import annotations

from pathlib import Path


class AlappError(Exception):
    """A problem the user can fix (bad input, wrong option, locked project)."""


class InputError(AlappError):
    """Bad input data, located by file and line so the user can find it."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, int | None, str]]:
        # Raised in the import parser process and re-raised in the parent.
        return InputError, (self.path, self.line, self.problem)


class ProjectLockedError(AlappError):
    """Another process has the project open for writing."""


class ProjectFormatError(AlappError):
    """The file is not an alapp project, or was written by a newer alapp."""


class ProjectDamagedError(ProjectFormatError):
    """The project file is damaged (truncated, overwritten, bytes changed): restore a backup."""


class ProjectReadOnlyError(AlappError):
    """The project file or its folder cannot be written (permissions, a read-only medium)."""


class DiskFullError(AlappError):
    """A write did not fit on the disk; the transaction was rolled back, nothing half-written."""


class StorageError(AlappError):
    """The disk or the operating system failed a read or a write (input/output error, busy)."""


class StorageWarning(UserWarning):
    """The project is somewhere SQLite cannot fully protect it (a network filesystem, a file
    with several names); it opens, with this warning."""


class Cancelled(Exception):
    """Raised inside background work when the user cancelled it."""
