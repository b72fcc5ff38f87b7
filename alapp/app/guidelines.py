"""A project's labeling guidelines (issue 19): Markdown kept as the ``guidelines`` setting, so it
travels with the project file and with anything that copies its settings.

Reading a file checks it whole before anything is written (UTF-8, length, no NUL); writing one
goes through a temporary sibling and a rename, and never replaces a file unless asked to.
"""

from __future__ import annotations

from pathlib import Path

from alapp.core.errors import AlappError
from alapp.core.files import refuse_protected, write_atomic
from alapp.core.location import project_location
from alapp.core.settings import MAX_GUIDELINES, guidelines_problem
from alapp.store.project import MAX_DESCRIPTION, Project

__all__ = ["MAX_DESCRIPTION", "MAX_GUIDELINES", "clear_guidelines", "guidelines",
           "read_guidelines_file", "set_guidelines", "write_guidelines_file"]


def read_guidelines_file(file: Path) -> str:
    """The text of a UTF-8 Markdown file (a byte-order mark is dropped, line ends become
    ``\\n``), or an ``AlappError`` naming the file and the problem."""
    file = Path(file)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise AlappError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise AlappError(f"{file}: a folder, not a Markdown file") from None
    except OSError as e:
        raise AlappError(f"{file}: cannot be read ({e.strerror or e})") from None
    if len(data) > 4 * MAX_GUIDELINES + 3:  # more than any 200,000 characters of UTF-8
        raise AlappError(f"{file}: {len(data):,} bytes; guidelines hold at most "
                         f"{MAX_GUIDELINES:,} characters")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise AlappError(f"{file}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x} at "
                         f"offset {e.start:,}); save it as UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    problem = guidelines_problem(text)
    if problem is not None:
        raise AlappError(f"{file}: {problem}")
    return text


def guidelines(path: Path) -> str:
    with Project.open(path, read_only=True) as project:
        return project.settings().guidelines


def set_guidelines(path: Path, file: Path) -> str:
    """Replace the project's guidelines with ``file``'s text (read and checked first: a bad
    file writes nothing); returns the text."""
    text = read_guidelines_file(file)
    with Project.open(path) as project:
        project.update_settings(guidelines=text)
    return text


def clear_guidelines(path: Path) -> None:
    with Project.open(path) as project:
        project.update_settings(guidelines="")


def write_guidelines_file(path: Path, out: Path, overwrite: bool = False) -> int:
    """Write the guidelines to ``out`` (UTF-8) atomically; returns the characters written.
    An existing ``out`` is replaced only with ``overwrite``; the project never is."""
    out = Path(out)
    refuse_protected(out, (path,))
    text = guidelines(path)
    if not text:
        raise AlappError(f"{project_location(path).name} has no guidelines yet; nothing written")
    if out.is_dir():
        raise AlappError(f"{out}: a folder; give a file name such as guidelines.md")
    if out.exists() and not overwrite:
        raise AlappError(f"{out}: already exists; choose another name or allow overwriting")
    if not out.parent.is_dir():
        raise AlappError(f"{out.parent}: no such folder")
    write_atomic(out, text, protect=(path,))
    return len(text)
