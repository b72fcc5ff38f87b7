"""Starting the desktop application."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from alapp.core.errors import AlappError


def run(path: Path | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing the app does touches the network
    from PySide6.QtWidgets import QApplication, QFileDialog

    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("alapp")
    app.setOrganizationName("alapp")
    install_fonts(app)  # type: ignore[arg-type]
    if path is None:
        chosen, _ = QFileDialog.getOpenFileName(None, "Open a project", str(Path.home()),
                                                "alapp projects (*.alapp);;All files (*)")
        if not chosen:
            return 0
        path = Path(chosen)
    try:
        window = MainWindow(path)
    except AlappError as e:
        raise AlappError(f"cannot open {path}: {e}") from None
    window.show()
    return int(app.exec())
