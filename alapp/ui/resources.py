"""Fonts bundled with alapp, so Chinese renders on machines without CJK fonts."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication


def resources_dir() -> Path | None:
    """The ``resources`` folder: beside the package in a checkout, inside a PyInstaller bundle."""
    candidates = [Path(__file__).resolve().parents[2] / "resources"]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.insert(0, Path(bundle) / "resources")
    return next((c for c in candidates if c.is_dir()), None)


def install_fonts(app: QApplication) -> list[str]:
    """Register bundled fonts and put them last in the fallback chain of the default font."""
    folder = resources_dir()
    families: list[str] = []
    if folder is not None:
        for path in sorted((folder / "fonts").glob("*.tt[fc]")):
            font_id = QFontDatabase.addApplicationFont(str(path))
            families += QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
    base = app.font()
    if families:
        base.setFamilies([base.family(), *families])
        app.setFont(base)
    return families


def text_font(point_size: int = 15) -> QFont:
    font = QApplication.font()
    font.setPointSize(point_size)
    return font
