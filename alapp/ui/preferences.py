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


def recent_projects() -> list[Path]:
    value = store().value("recent", []) or []
    # QSettings returns a lone string for a one-item list
    paths: list[str] = [value] if isinstance(value, str) else [str(p) for p in value]  # type: ignore[attr-defined]
    return [Path(p) for p in paths if Path(p).is_file()]


def remember_project(path: Path) -> None:
    paths = [str(path.resolve())] + [str(p) for p in recent_projects()
                                     if p.resolve() != path.resolve()]
    store().setValue("recent", paths[:MAX_RECENT])


def _project_key(project: Path) -> str:
    """A settings key for one project file (its resolved path, hashed: keys are not paths)."""
    return hashlib.blake2b(str(Path(project).resolve()).encode("utf-8"),
                           digest_size=8).hexdigest()


def annotator(project: Path) -> str | None:
    """The name this user labels ``project`` under, once given (None: not asked yet)."""
    value = store().value(f"annotators/{_project_key(project)}")
    return str(value) if value else None


def set_annotator(project: Path, name: str) -> None:
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
