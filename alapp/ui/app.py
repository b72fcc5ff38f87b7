"""Starting the desktop application."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError


class Application:
    """Which window is showing: the start screen, or one project's labeling window."""

    def __init__(self) -> None:
        self.window: Any = None
        self.start: Any = None

    def open(self, path: Path | None) -> None:
        from PySide6.QtWidgets import QMessageBox

        from alapp.ui.label_view import literal
        from alapp.ui.main_window import MainWindow
        from alapp.ui.start_screen import StartScreen

        if self.window is not None:
            self.window.close()
            self.window = None
        if path is None:
            self.start = StartScreen()
            self.start.open_project.connect(self.open)
            self.start.show()
            return
        try:
            window = MainWindow(path)
        except AlappError as e:
            QMessageBox.warning(self.start, "Cannot open the project", literal(f"{path}: {e}"))
            if self.start is None:
                self.open(None)
            return
        window.open_requested.connect(self.open)
        window.show()
        self.window = window
        if self.start is not None:
            self.start.close()
            self.start = None


def run(path: Path | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing the app does touches the network
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("alapp")
    app.setOrganizationName("alapp")
    install_fonts(app)  # type: ignore[arg-type]
    app.setWindowIcon(_icon())  # type: ignore[attr-defined]
    controller = Application()
    controller.open(path)
    if os.environ.get("ALAPP_STARTUP_PROBE"):  # bench/bench_startup.py: time to a window
        from PySide6.QtCore import QTimer

        def shown() -> None:
            print("alapp: window shown", flush=True)
            app.quit()

        QTimer.singleShot(0, shown)  # runs once the window's first events are processed
    return int(app.exec())


def _icon() -> Any:
    from PySide6.QtGui import QIcon

    from alapp.ui.resources import resources_dir

    folder = resources_dir()
    return QIcon(str(folder / "icons" / "alapp.png")) if folder else QIcon()
