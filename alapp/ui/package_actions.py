"""The File menu's exchange-package actions (issue 19): open a package as a project, send the
labels made in it back, merge a results package. The work is ``app/packages.py``; a merge and
a send-back run on the session's writer thread, which owns the project file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from alapp.app.packages import (
    SUFFIX,
    MergeReport,
    merge_text,
    merge_with,
    open_package,
    pack_results,
    package_of,
    results_with,
)
from alapp.core.errors import AlappError
from alapp.ui import preferences
from alapp.ui.label_view import literal

FILTER = f"alapp packages (*{SUFFIX});;All files (*)"


def open_package_dialog(window: Any) -> Path | None:
    """Choose a package and where its project goes; the window then opens that project,
    labeling under the name the package was made for."""
    chosen, _ = QFileDialog.getOpenFileName(window, "Open a package to label",
                                            str(Path.home()), FILTER)
    if not chosen:
        return None
    file = Path(chosen)
    out, _ = QFileDialog.getSaveFileName(window, "Save the package as a project",
                                         str(file.with_suffix(".alapp")),
                                         "alapp projects (*.alapp)")
    if not out:
        return None
    try:
        report = open_package(file, Path(out))
    except AlappError as e:
        QMessageBox.warning(window, "Package not opened", literal(str(e)))
        return None
    preferences.set_annotator(report.path, report.annotator)
    window.open_requested.emit(report.path)
    return report.path


def send_back_dialog(window: Any) -> Path | None:
    """Write the labels made in this package project as a results package."""
    session = window.session
    if not window.read_only and "package_id" not in package_of(session.writer.call):
        QMessageBox.information(window, "Nothing to send back", literal(
            f"{session.path.name} is not a project opened from a package; packages are made "
            "with `alapp pack` and opened with File › Open package…"))
        return None
    default = session.path.with_name(
        f"{session.path.stem}-results-{time.strftime('%Y%m%d-%H%M%S')}{SUFFIX}")
    out, _ = QFileDialog.getSaveFileName(window, "Send the labels back as", str(default),
                                         FILTER)
    if not out:
        return None
    try:  # the dialog asked before replacing a file
        report = (pack_results(session.path, Path(out), force=True) if window.read_only
                  else results_with(session.writer.call, Path(out)))
    except AlappError as e:
        QMessageBox.warning(window, "Nothing sent", literal(str(e)))
        return None
    QMessageBox.information(window, "Labels ready to send back", literal(report.text()))
    return report.path


def merge_package_dialog(window: Any) -> QMessageBox | None:
    """Merge a results package (all or nothing) and show what came in; returns the shown
    message box."""
    if not window._writable():
        return None
    chosen, _ = QFileDialog.getOpenFileName(window, "Merge a results package",
                                            str(window.session.path.parent), FILTER)
    if not chosen:
        return None
    package = Path(chosen)
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        report = merge_with(window.session.writer.call, package)
    except AlappError as e:
        QApplication.restoreOverrideCursor()
        QMessageBox.warning(window, "Nothing merged", literal(str(e)))
        return None
    QApplication.restoreOverrideCursor()
    box = merge_result_box(window, report, package)
    box.open()
    if report.new_events:
        window.refresh()
        window.request_round()
    return box


def merge_result_box(parent: QWidget, report: MergeReport, package: Path) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "Package merged",
                      merge_text(report, package.name), QMessageBox.StandardButton.Ok,
                      parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    lines = [f"New events: {report.new_events}", f"Already present: {report.already_present}",
             f"Items: {report.items}"]
    lines += [f"  {name}: {count} events" for name, count in sorted(report.per_annotator.items())]
    lines += [f"  {action}: {count}" for action, count in sorted(report.per_action.items())]
    box.setInformativeText(literal("\n".join(lines)))
    return box
