"""The self-check's window step: open the demo project in the real window and render it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def render_demo(folder: Path, screenshot: Path | None = None) -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # headless: still render
    from PySide6.QtGui import QFont, QFontMetrics
    from PySide6.QtWidgets import QApplication

    from alapp.app.projects import create_demo
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    app = QApplication.instance() or QApplication(["alapp"])
    bundled = install_fonts(app)  # type: ignore[arg-type]
    path = folder / "window.alapp"
    create_demo(path)
    window = MainWindow(path, annotator="self-check")
    window.show()
    deadline = time.monotonic() + 180
    while (window.work.busy or window.entry is None) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    missing = [ch for ch in "Привет中文" if not any(
        QFontMetrics(QFont(family)).inFontUcs4(ord(ch))
        for family in [QApplication.font().family(), *bundled])]
    image = window.grab()
    out = screenshot or folder / "window.png"
    image.save(str(out))
    shown = window.entry is not None
    window.close()
    if not shown:
        raise RuntimeError("the window showed no item to label within 180 s")
    if missing:
        raise RuntimeError(f"no font renders {''.join(missing)!r}")
    return (f"demo opened, first batch shown, {image.width()}x{image.height()} rendered; "
            f"fonts: {', '.join(bundled) or 'system'}")
