"""User data is shown as plain text everywhere in the window: a label named ``<b>x</b>`` reads
``<b>x</b>`` (not a bold x), ``<img src=y>`` loads no image, ``R&D`` keeps its ampersand on a
button. Checked on the real window and its dialogs, opened on a project whose labels, item
texts, metadata, annotator, file and folder names are all HTML, by walking every widget.

Screenshots of the window and the browse dialog go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QListWidget,
    QTableView,
    QTableWidget,
    QTextEdit,
    QWidget,
)

from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LABELS = ["<b>x</b>", "<img src=y>", "R&D"]
ANNOTATOR = "<u>annotator</u>"
SNIPPET = '<b>bold?</b> <img src="y.png"> &amp; <a href="z">link</a>'
META = "<i>meta</i>"
NEEDLES = [*LABELS, ANNOTATOR, "<b>bold?</b>", META, "<b>proj</b>", "<b>folder", "<i>proj"]
WORDS = ["alpha apple anchor", "beta banana bridge", "gamma grape garden"]


def displayed(text: str) -> str:
    """What a widget that guesses the format (tooltip, message box, automatic QLabel) shows."""
    if not QtGui.Qt.mightBeRichText(text):
        return text
    doc = QtGui.QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _widgets(*roots: QWidget) -> Iterator[QWidget]:
    for root in roots:
        yield root
        yield from root.findChildren(QWidget)


def check_plain(*roots: QWidget) -> dict[str, set[str]]:
    """Every label, button, list and table entry and tooltip under ``roots`` that shows user
    data shows it literally. Returns the needles found, by kind of widget."""
    found: dict[str, set[str]] = {}
    problems: list[str] = []

    def saw(kind: str, text: str) -> bool:
        hits = {n for n in NEEDLES if n in text}
        found.setdefault(kind, set()).update(hits)
        return bool(hits)

    def tip(where: str, text: str, original: str | None = None) -> None:
        if not text:
            return
        shown = displayed(text)
        saw("tooltip", shown)
        if original is not None and not _same(shown, original):
            problems.append(f"{where}: tooltip shows {shown!r}, not {original!r}")
        if any(n in text and n not in shown for n in NEEDLES):
            problems.append(f"{where}: tooltip {text!r} is taken as rich text")

    for w in _widgets(*roots):
        name = f"{type(w).__name__} {w.objectName() or ''}".strip()
        if isinstance(w, QLabel) and saw("label", w.text()) \
                and w.textFormat() != Qt.TextFormat.PlainText:
            problems.append(f"{name}: {w.text()!r} is not plain text ({w.textFormat()})")
        if isinstance(w, QAbstractButton):
            text = w.text()
            if saw("button", text.replace("&&", "&")) and re.search(r"&(?!&)",
                                                                    text.replace("&&", "")):
                problems.append(f"{name}: {text!r} turns an '&' into a shortcut")
        if isinstance(w, QTextEdit) and saw("text", w.toPlainText()) \
                and "<img" in w.document().toHtml():
            problems.append(f"{name}: the item text is shown as HTML")
        if isinstance(w, QListWidget):
            for i in range(w.count()):
                saw("list", w.item(i).text())
        if isinstance(w, QTableWidget):
            headers = [w.horizontalHeaderItem(c) for c in range(w.columnCount())]
            headers += [w.verticalHeaderItem(r) for r in range(w.rowCount())]
            for item in [h for h in headers if h is not None]:
                saw("table", item.text())
            for r in range(w.rowCount()):
                for c in range(w.columnCount()):
                    item = w.item(r, c)
                    if item is not None:
                        saw("table", item.text())
                        tip(f"{name} cell {r},{c}", item.toolTip())
        elif isinstance(w, QTableView):  # a view over a model: what the model gives to show
            model = w.model()
            for c in range(model.columnCount()):
                saw("table", str(model.headerData(c, Qt.Orientation.Horizontal) or ""))
            for r in range(model.rowCount()):
                for c in range(model.columnCount()):
                    index = model.index(r, c)
                    saw("table", str(index.data() or ""))
                    tip(f"{name} cell {r},{c}",
                        str(index.data(Qt.ItemDataRole.ToolTipRole) or ""))
        tip(name, w.toolTip())
    assert not problems, "\n".join(problems)
    return found


def _project(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "<i>proj.alapp"
    project = Project.create(path, LABELS, name="<b>proj</b>", featurizer="tfidf",
                             batch_size=10, retrain_every=0)
    rows = []
    for i in range(60):
        k = i % 3
        split = "test" if i < 24 else "pool"
        labeled = split == "test" or i < 36
        rows.append({"id": f"item-{i}", "text": f"{WORDS[k]} {i} {SNIPPET}", "note": META,
                     "split": split, **({"label": LABELS[k]} if labeled else {})})
    data = folder / "items.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    import_file(project, data, ImportSpec(format="jsonl", split_column="split", meta=["note"]))
    project.close()
    return path


@pytest.fixture
def window(qtbot, tmp_path):
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())  # type: ignore[arg-type]
    path = _project(tmp_path / "<b>folder")
    w = MainWindow(path, annotator=ANNOTATOR)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.session.last_result is not None and not w.work.busy,
                    timeout=120_000)
    yield w
    w.close()


def test_the_window_shows_user_data_as_plain_text(window, qtbot, monkeypatch, tmp_path) -> None:
    from alapp.core.errors import AlappError
    from alapp.ui import main_window

    assert window.windowTitle() == "alapp — <b>proj</b>"
    entry = window.entry
    assert entry is not None and entry.predicted is not None  # trained on the imported labels
    view = window.view
    assert view.prediction.text().startswith(f"Model: {entry.predicted[0]} (")
    assert view.text.toPlainText() == entry.text and SNIPPET in entry.text
    window.panel.tabs.setCurrentIndex(1)  # the model tab: signals, curve, confusion matrix
    # the confusion headers are fitted when the table is first shown, at its real width
    qtbot.waitUntil(lambda: window.panel.confusion is not None
                    and window.panel.confusion.horizontalHeaderItem(0) is not None)
    found = check_plain(window)
    assert set(LABELS) <= found["button"]  # the label keys
    assert entry.predicted[0] in found["label"]  # "Model: <b>x</b> (…)"
    assert "<b>bold?</b>" in found["text"] and "<b>bold?</b>" in found["list"]
    assert set(LABELS) <= found["table"]  # the confusion matrix's headers
    assert set(LABELS) <= found["tooltip"]  # and its cells' tooltips
    buttons = {b.text() for b in view.buttons.values()}
    assert any(t.endswith("R&&D") for t in buttons), buttons
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(200)  # the charts lay out and paint
    window.grab().save(str(ARTIFACTS / "plain-text-window.png"))

    # A decision of this annotator, revisited: the history banner and list name its label.
    qtbot.keyClick(window, Qt.Key.Key_1)
    window.history_back()
    assert view.history_banner.isVisible()
    assert f"back): {LABELS[0]}." in view.history_banner.text()
    found = check_plain(window)
    assert LABELS[0] in found["label"] and LABELS[0] in found["list"]
    window.leave_history()

    # Browse: item texts, labels, predictions and the annotator in the table and filters.
    window.browse()
    browser = window.browser
    qtbot.waitExposed(browser)
    found = check_plain(browser)
    assert {*LABELS, ANNOTATOR, "<b>bold?</b>"} <= found["table"]
    assert set(LABELS) <= found["button"]
    model = browser.table.model()
    assert any(SNIPPET in displayed(model.index(r, 0).data(Qt.ItemDataRole.ToolTipRole))
               for r in range(model.rowCount()))
    browser.grab().save(str(ARTIFACTS / "plain-text-browse.png"))
    browser.close()

    # Settings: an error quoting a folder name as typed.
    window.settings_dialog()
    settings = window.settings_window
    settings.model_folder.setText(str(tmp_path / "<img src=y>"))
    settings.apply()
    assert "<img src=y>" in settings.error.text()
    assert settings.error.textFormat() == Qt.TextFormat.PlainText
    check_plain(settings)
    settings.reject()

    # Message boxes: what they are given shows literally.
    shown: list[str] = []
    monkeypatch.setattr(main_window.QMessageBox, "warning",
                        lambda parent, title, text: shown.append(text))
    window._round_failed(RuntimeError(f"label {LABELS[1]} exploded"))

    def refuse(out: Path, overwrite: bool = False) -> int:
        raise AlappError(f"{out}: cannot write {LABELS[0]}")

    monkeypatch.setattr(window.session, "export_labels", refuse)
    window.export_to(tmp_path / "<b>out.jsonl")
    assert len(shown) == 2
    assert _same(displayed(shown[0]), f"RuntimeError: label {LABELS[1]} exploded")
    assert _same(displayed(shown[1]),
                 f"{tmp_path / '<b>out.jsonl'}: cannot write {LABELS[0]}")


def test_the_start_screen_and_the_import_preview_show_names_as_plain_text(
        window, qtbot, tmp_path) -> None:
    from alapp.ui.import_wizard import ImportWizard
    from alapp.ui.start_screen import NewProjectDialog, StartScreen

    start = StartScreen()  # the window remembered the project: <i>proj in <b>folder
    qtbot.addWidget(start)
    found = check_plain(start)
    assert {"<i>proj", "<b>folder"} <= found["list"]
    dialog = NewProjectDialog()
    qtbot.addWidget(dialog)
    dialog.name.setText("<b>new</b>")
    dialog.labels.setPlainText("<b>a|b</b>\nother")
    dialog.folder.setText(str(tmp_path))
    dialog.create_project()  # "|" is reserved: refused, quoting the name
    assert "<b>a|b</b>" in dialog.error.text()
    assert dialog.error.textFormat() == Qt.TextFormat.PlainText

    csv = tmp_path / "<b>items.csv"
    csv.write_text(f"text,<i>meta</i>\n{SNIPPET.replace(',', ' ')},{LABELS[0]}\n",
                   encoding="utf-8")
    wizard = ImportWizard(window.session, window, file=csv)
    qtbot.addWidget(wizard)
    found = check_plain(wizard)
    assert {META, "<b>bold?</b>", LABELS[0]} <= found["table"]
    empty = tmp_path / "<b>empty.csv"
    empty.write_bytes(b"")
    wizard.set_file(empty)
    assert wizard.message.textFormat() == Qt.TextFormat.PlainText
    check_plain(wizard)
    wizard.reject()
