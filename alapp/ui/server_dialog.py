"""Asking for a project on a PostgreSQL server (issue 20): its address, never a password."""

from __future__ import annotations

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from alapp.core.errors import AlappError
from alapp.core.location import ServerAddress
from alapp.ui.label_view import literal

PROMPT = ("The project's address on a PostgreSQL server, e.g.\n"
          "postgresql://db.lab.local/support_tickets?sslmode=verify-full\n"
          "or postgresql:///?service=support (a libpq service file).\n\n"
          "No password here: the server's password comes from ~/.pgpass, the service file "
          "or PGPASSWORD, and alapp never keeps one.")


def ask_server_address(parent: QWidget | None) -> ServerAddress | None:
    """The address the user typed, checked; None when cancelled or refused (said why)."""
    text, accepted = QInputDialog.getText(parent, "Open from a server", PROMPT,
                                          QLineEdit.EchoMode.Normal, "postgresql://")
    text = text.strip()
    if not accepted or text in ("", "postgresql://"):
        return None
    if "://" not in text:
        text = f"postgresql://{text}"
    try:
        return ServerAddress(text)
    except AlappError as e:
        QMessageBox.warning(parent, "Not a server address", literal(str(e)))
        return None
