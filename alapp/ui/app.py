"""Starting the desktop application, and what it does with errors nobody caught."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from alapp.core.location import project_location
from alapp.core.log import describe, internal_message, log_error

ERROR_TITLE = "alapp: something went wrong"


class Application:
    """Which window is showing: the start screen, or one project's labeling window."""

    def __init__(self) -> None:
        self.window: Any = None
        self.start: Any = None

    def open(self, path: Path | None) -> None:
        from PySide6.QtWidgets import QMessageBox

        from alapp.ui.label_view import literal
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
            path = self._package_project(path)  # issue 19: a package opens as its project
            window = self._window(path)
        except Exception as e:  # one line in a dialog, never a traceback
            QMessageBox.warning(self.start, "Cannot open the project",
                                literal(error_line(e, path, f"opening {path}")))
            if self.start is None:
                self.open(None)
            return
        window.open_requested.connect(self.open)
        window.show()
        self.window = window
        if self.start is not None:
            self.start.close()
            self.start = None

    @staticmethod
    def _package_project(path: Path) -> Path:
        """An exchange package (issue 19) stands for its project beside it, made the first
        time; the window labels under the name it was made for. Any other file: itself."""
        from alapp.app.packages import SUFFIX, project_for_package
        from alapp.core.location import ServerAddress
        from alapp.ui import preferences

        if isinstance(path, ServerAddress) or Path(path).suffix != SUFFIX:
            return path
        project, annotator = project_for_package(Path(path))
        if preferences.annotator(project) is None:
            preferences.set_annotator(project, annotator)
        return project

    @staticmethod
    def _window(path: Path) -> Any:
        """The project for writing; read-only when another alapp process holds it or its
        folder cannot be written (the window says so and offers to try again)."""
        from alapp.app.session import read_only_reason
        from alapp.ui.main_window import MainWindow

        try:
            return MainWindow(path)
        except Exception as e:
            reason = read_only_reason(e, project_location(path))
            if reason is None:
                raise
            return MainWindow(path, read_only=reason)


def error_line(error: BaseException, subject: str | Path | None = None,
               context: str = "") -> str:
    """One line for the user: what went wrong and where, or, for a bug, what was raised and
    the log file that holds its traceback."""
    message = describe(error, subject)
    if message is not None:
        return message
    return internal_message(error, log_error(error, context))


# -- errors nobody caught ------------------------------------------------------------------------

_relay: Any = None  # the QObject that carries an error line to the GUI thread


def install_error_hooks() -> None:
    """An exception nobody caught, in a slot on the GUI thread or in any other thread, is
    logged with its traceback and shown as one line in a dialog (with the log's path for a
    bug), instead of a traceback on stderr or a silent crash. Call on the GUI thread, after
    the QApplication exists."""
    from PySide6.QtCore import QObject, Qt, Signal

    class ErrorRelay(QObject):
        error = Signal(str)

    global _relay
    _relay = ErrorRelay()
    # Queued even from the GUI thread: the dialog opens from the event loop, not from inside
    # the hook (where a second error would re-enter it).
    _relay.error.connect(_show_error, Qt.ConnectionType.QueuedConnection)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def _excepthook(kind: type[BaseException], value: BaseException | None,
                trace: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):  # Ctrl+C in the terminal that started it
        from PySide6.QtWidgets import QApplication

        QApplication.quit()
        return
    error = value if value is not None else kind()
    if error.__traceback__ is None and trace is not None:
        error = error.with_traceback(trace)
    _report_uncaught(error, f"uncaught on thread {threading.current_thread().name}")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    error = args.exc_value if args.exc_value is not None else args.exc_type()
    if error.__traceback__ is None and args.exc_traceback is not None:
        error = error.with_traceback(args.exc_traceback)
    name = args.thread.name if args.thread is not None else "?"
    _report_uncaught(error, f"uncaught on thread {name}")


def _report_uncaught(error: BaseException, context: str) -> None:
    try:
        log = log_error(error, context)  # every uncaught error: it escaped the code meant for it
        line = describe(error) or internal_message(error, log)
        if _relay is not None:
            _relay.error.emit(line)
    except Exception:  # the hook itself must never raise
        pass


_showing = False


def _show_error(line: str) -> None:
    """One dialog at a time: errors that come while it is open are in the log only."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from alapp.ui.label_view import literal

    global _showing
    if _showing:
        return
    _showing = True
    try:
        QMessageBox.critical(QApplication.activeWindow(), ERROR_TITLE, literal(line))
    finally:
        _showing = False


def run(path: Path | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing the app does touches the network
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("alapp")
    app.setOrganizationName("alapp")
    install_error_hooks()
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
