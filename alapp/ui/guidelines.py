"""The project's labeling guidelines (issue 19): Markdown shown as formatted text, with nothing
ever loaded or opened.

Guidelines come from whoever wrote the project file, so they are untrusted. Three things keep
them inert:

- raw HTML is not HTML here (``MarkdownNoHTML``): ``<img src=...>`` shows as the text it is;
- every image is replaced by a grey "[image not shown: …]" before the document is laid out.
  Returning nothing from ``loadResource`` alone is not enough: Qt's image handler then reads
  a local path itself (``QImage::load``); a document without images asks for nothing;
- ``loadResource`` answers nothing anyway (document and browser), and links are shown but never
  followed (``setOpenLinks(False)``): a click only names the address under the text.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import (
    QColor,
    QShowEvent,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from alapp.ui.label_view import plain_label
from alapp.ui.resources import text_font

MARKDOWN = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
            | QTextDocument.MarkdownFeature.MarkdownNoHTML)
EMPTY = "No guidelines yet — Edit › Settings… › Guidelines to add them"


class InertDocument(QTextDocument):
    """A document that loads no resource: every request is counted and refused."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.requests: list[str] = []

    def loadResource(self, kind: int, url: QUrl | str) -> None:
        self.requests.append(url.toString() if isinstance(url, QUrl) else str(url))
        return None


def markdown_document(text: str, parent: Any = None) -> InertDocument:
    """``text`` (Markdown) as a document with no HTML and no images: built apart from any
    view, so nothing lays it out (and asks for an image) before the images are gone."""
    document = InertDocument(parent)
    document.setMarkdown(text, MARKDOWN)
    _drop_images(document)
    return document


def _drop_images(document: QTextDocument) -> int:
    """Replace each image with "[image not shown: ALT]" in grey; returns how many."""
    found: list[tuple[int, int, str]] = []
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.isValid() and fragment.charFormat().isImageFormat():
                image = fragment.charFormat().toImageFormat()
                alt = image.property(QTextFormat.Property.ImageAltText)
                found.append((fragment.position(), fragment.length(),
                              str(alt) if alt else image.name()))
            fragments += 1
        block = block.next()
    look = QTextCharFormat()
    look.setForeground(QColor("#777777"))
    look.setFontItalic(True)
    for position, length, what in reversed(found):
        cursor = QTextCursor(document)
        cursor.setPosition(position)
        cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(f"[image not shown: {what}]", look)
    return len(found)


class GuidelinesView(QTextBrowser):
    """Read-only, formatted Markdown; links visible, never followed; nothing fetched."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFont(text_font(12))
        self.requests: list[str] = []  # what anything asked this view to load (nothing is)
        self.clicked: list[str] = []  # the links clicked (none is opened)
        self.anchorClicked.connect(lambda url: self.clicked.append(url.toString()))
        self._shown: InertDocument | None = None
        self.set_markdown("")

    def loadResource(self, kind: int, url: QUrl | str) -> None:
        self.requests.append(url.toString() if isinstance(url, QUrl) else str(url))
        return None

    def set_markdown(self, text: str, empty: str = EMPTY) -> None:
        document = markdown_document(text if text.strip() else f"*{_escaped(empty)}*", self)
        document.setDefaultFont(self.font())
        old, self._shown = self._shown, document
        self.setDocument(document)  # Qt deletes only the document it made itself
        if old is not None:
            old.deleteLater()

    def inert_document(self) -> InertDocument:
        document = self.document()
        assert isinstance(document, InertDocument)
        return document


def plain_text(editor: QPlainTextEdit) -> str:
    """An editor's text as typed: ``toPlainText`` turns no-break spaces (Russian typography:
    "т.\u00a0е.") into plain ones, the raw text keeps them (paragraph ends become \n)."""
    return editor.document().toRawText().replace("\u2029", "\n")


class MarkdownPreview(GuidelinesView):
    """A live preview of the ``source`` editor: rendered when first shown, then a moment after
    typing stops, never while hidden (200,000 characters take about 0.2 s to lay out: Settings
    opens without paying for it)."""

    def __init__(self, source: QPlainTextEdit, empty: str, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.editor, self.empty, self.stale = source, empty, True
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.refresh)
        source.textChanged.connect(self.timer.start)

    def refresh(self) -> None:
        self.stale = not self.isVisible()
        if not self.stale:
            self.set_markdown(plain_text(self.editor), self.empty)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.stale:
            self.refresh()


def _escaped(text: str) -> str:
    """Plain words inside Markdown (our own message: only its punctuation needs it)."""
    return "".join(f"\\{c}" if c in "\\`*_[]()#+-.!<>" else c for c in text)


class GuidelinesDialog(QDialog):
    """The guidelines beside the labeling window: not modal, so labeling goes on (F1)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Labeling guidelines")
        self.setModal(False)
        self.resize(620, 560)
        self.view = GuidelinesView()
        self.view.anchorClicked.connect(self._link_clicked)
        self.link_note = plain_label()
        self.link_note.setWordWrap(True)
        self.link_note.setStyleSheet("QLabel { color: #555; }")
        self.link_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.link_note.setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.link_note)
        layout.addWidget(buttons)

    def show_guidelines(self, text: str) -> None:
        self.view.set_markdown(text)
        self.link_note.setVisible(False)

    def _link_clicked(self, url: QUrl) -> None:
        self.link_note.setText(f"Links are not opened from here: {url.toString()}")
        self.link_note.setVisible(True)
