"""What the application remembers between runs (QSettings): recent projects, the keyboard
shortcuts, window geometry, the annotator's name per project. Per-project settings live in
the project file instead.

``ALAPP_SETTINGS_FILE`` names an INI file to use instead of the user's settings (the tests give
each test its own; it also makes a portable installation possible)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QSettings

from alapp.core.location import Location, ServerAddress, is_server_address, project_location

MAX_RECENT = 10

# Action name -> (description, default keys). Label keys are "label_1".."label_9".
SHORTCUTS: dict[str, tuple[str, str]] = {
    **{f"label_{i}": (f"Label {i} (toggle it in multi-label projects)", str(i))
       for i in range(1, 10)},
    "accept": ("Accept the prediction / confirm a multi-label choice", "Return"),
    "undo": ("Undo the last decision", "Backspace"),
    "undo_alt": ("Undo (second key)", "Ctrl+Z"),
    "skip": ("Skip the item", "S"),
    "flag": ("Flag the item for a second look", "F"),
    "back": ("Earlier decision (history)", "Left"),
    "forward": ("Later decision / back to the queue", "Right"),
    "leave_history": ("Back to the queue", "Escape"),
    "none_of_these": ("Multi-label: none of these labels", "0"),  # issue 21
    "guidelines": ("Show the labeling guidelines", "F1"),  # issue 19
}


SETTINGS_FILE_ENV = "ALAPP_SETTINGS_FILE"


def store() -> QSettings:
    path = os.environ.get(SETTINGS_FILE_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("alapp", "alapp")


def recent_projects() -> list[Location]:
    """Recent project files that still exist, and server projects (issue 20; their addresses
    hold no password: those are refused)."""
    value = store().value("recent", []) or []
    # QSettings returns a lone string for a one-item list
    paths: list[str] = [value] if isinstance(value, str) else [str(p) for p in value]  # type: ignore[attr-defined]
    places = [project_location(p) for p in paths if is_server_address(p) or Path(p).is_file()]
    return places


def _place(project: Location | str) -> str:
    """A project's place as kept: a file's resolved path, or a server's address."""
    place = project_location(project)
    return str(place) if isinstance(place, ServerAddress) else str(place.resolve())


def remember_project(path: Location) -> None:
    here = _place(path)
    paths = [here] + [str(p) for p in recent_projects() if _place(p) != here]
    store().setValue("recent", paths[:MAX_RECENT])


def _project_key(project: Location) -> str:
    """A settings key for one project (its resolved path or address, hashed: keys are not
    paths)."""
    return hashlib.blake2b(_place(project).encode("utf-8"), digest_size=8).hexdigest()


def annotator(project: Location) -> str | None:
    """The name this user labels ``project`` under, once given (None: not asked yet)."""
    value = store().value(f"annotators/{_project_key(project)}")
    return str(value) if value else None


def set_annotator(project: Location, name: str) -> None:
    store().setValue(f"annotators/{_project_key(project)}", name)


def side_panel_shown() -> bool:
    return str(store().value("window/side_panel", "true")).lower() != "false"


def set_side_panel_shown(shown: bool) -> None:
    store().setValue("window/side_panel", "true" if shown else "false")


def shortcut(action: str) -> str:
    value = store().value(f"shortcuts/{action}", SHORTCUTS[action][1])
    return str(value)


def set_shortcut(action: str, keys: str) -> None:
    store().setValue(f"shortcuts/{action}", keys)


def reset_shortcuts() -> None:
    store().remove("shortcuts")
