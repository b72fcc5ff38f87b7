"""The first screen: recent projects, a new project, open one, or try the demo."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from alapp.app.projects import create_demo, create_project
from alapp.core.errors import AlappError
from alapp.core.location import ServerAddress, project_location
from alapp.ui import preferences
from alapp.ui.server_dialog import ask_server_address


class StartScreen(QWidget):
    open_project = Signal(object)  # a Path, or a ServerAddress

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("alapp")
        self.resize(720, 460)
        title = QLabel("<h2>alapp</h2>Label text with active learning: the model asks for the "
                       "items it would learn most from.")
        title.setWordWrap(True)
        self.recent = QListWidget()
        self.recent.itemActivated.connect(self._open_recent)
        for path in preferences.recent_projects():
            where = path if isinstance(path, ServerAddress) else path.parent
            item = QListWidgetItem(f"{path.stem}    {where}")  # plain text, always
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.recent.addItem(item)
        self.new = QPushButton("New project…")
        self.open = QPushButton("Open…")
        self.server = QPushButton("Open from a server…")  # issue 20
        self.demo = QPushButton("Try the demo")
        self.new.clicked.connect(self.new_project)
        self.open.clicked.connect(self.open_dialog)
        self.server.clicked.connect(self.server_dialog)
        self.demo.clicked.connect(self.open_demo)
        buttons = QVBoxLayout()
        for button in (self.new, self.open, self.server, self.demo):
            button.setMinimumHeight(36)
            buttons.addWidget(button)
        buttons.addStretch(1)
        body = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Recent projects" if self.recent.count() else
                              "No recent projects yet"))
        left.addWidget(self.recent, 1)
        body.addLayout(left, 3)
        body.addLayout(buttons, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(body, 1)

    def _open_recent(self, item: QListWidgetItem) -> None:
        self.open_project.emit(project_location(item.data(Qt.ItemDataRole.UserRole)))

    def server_dialog(self) -> None:
        address = ask_server_address(self)
        if address is not None:
            self.open_project.emit(address)

    def open_dialog(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Open a project", str(Path.home()),
                                                "alapp projects (*.alapp);;alapp packages "
                                                "(*.alapppack);;All files (*)")
        if chosen:
            self.open_project.emit(Path(chosen))

    def open_demo(self) -> None:
        folder = Path(tempfile.gettempdir()) / "alapp-demo"
        folder.mkdir(exist_ok=True)
        path = folder / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.alapp"
        create_demo(path)
        self.open_project.emit(path)

    def new_project(self) -> None:
        dialog = NewProjectDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.created is not None:
            self.open_project.emit(dialog.created)


class NewProjectDialog(QDialog):
    """Name, labels (one per line), single- or multi-label, and where the file goes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.created: Path | None = None
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Support tickets")
        self.labels = QPlainTextEdit()
        self.labels.setPlaceholderText("one label per line, e.g.\nbilling\ndelivery\nother")
        self.multi = QCheckBox("Items can have several labels (multi-label)")
        self.folder = QLineEdit(str(Path.home()))
        browse = QPushButton("…")
        browse.clicked.connect(self._choose_folder)
        where = QHBoxLayout()
        where.addWidget(self.folder, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Labels", self.labels)
        form.addRow("", self.multi)
        form.addRow("Folder", where)
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # may quote labels and paths
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.create_project)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Where to keep the project",
                                                  self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def create_project(self) -> None:
        name = self.name.text().strip()
        labels = [line.strip() for line in self.labels.toPlainText().splitlines()
                  if line.strip()]
        if not name:
            self.error.setText("Give the project a name.")
            return
        if len(labels) < 2 and not self.multi.isChecked():
            self.error.setText("A single-label project needs at least two labels.")
            return
        safe = "".join(c if c.isalnum() or c in "-_ " else "_" for c in name).strip()
        path = Path(self.folder.text()) / f"{safe}.alapp"
        try:
            create_project(path, labels, name=name, multi_label=self.multi.isChecked())
        except AlappError as e:
            self.error.setText(str(e))
            return
        except OSError as e:
            box = QMessageBox(QMessageBox.Icon.Warning, "Cannot create the project",
                              f"{path}: {e.strerror}", QMessageBox.StandardButton.Ok, self)
            box.setTextFormat(Qt.TextFormat.PlainText)  # the name is the user's
            box.exec()
            return
        self.created = path
        self.accept()
