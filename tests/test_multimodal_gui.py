"""The real window shows an imported item's image next to its text, scaled to fit; an item
without text shows its image alone, one without an image its text alone."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter

from alapp.app.projects import ImportSpec, create_project, import_into

# test-artifacts/ by default; ALAPP_SCREENSHOTS_TO=docs/screenshots refreshes the documented ones
SCREENSHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
                   or Path(__file__).resolve().parents[1] / "test-artifacts" / "1366")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

POSTS = [  # (text, picture) : a picture is drawn, then imported by its path
    ("Our cat found the sunniest spot in the flat again. Three hours and counting.", "cat"),
    ("New electric hatchback on the test track: 0-100 km/h in 6.1 s.", "car"),
    ("Sunday pancakes with berries and a little too much maple syrup.", "food"),
    ("Spotted this one in the old town car park this morning.", "car"),
    ("", "cat"),
    ("", "food"),
    ("", "car"),
    ("Which dry food do vets actually recommend for older cats?", ""),
    ("Fuel prices went up again; is it time to switch to an EV?", ""),
    ("Recipe thread: your best five-minute breakfast.", ""),
]
COLOURS = {"cat": ("#f4b860", "#6b4226"), "car": ("#7fb3e6", "#1f3b73"),
           "food": ("#b8e0a0", "#7a2e2e")}


def _picture(path: Path, kind: str, shade: int) -> None:
    """A small picture with a shape and a caption, drawn with Qt and saved as PNG."""
    back, fore = COLOURS[kind]
    image = QImage(480, 320, QImage.Format.Format_RGB32)
    image.fill(QColor(back).darker(100 + 8 * shade))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(fore))
    painter.setPen(Qt.PenStyle.NoPen)
    if kind == "car":
        painter.drawRoundedRect(QRect(90, 140, 300, 90), 30, 30)
        painter.drawEllipse(QPoint(160, 235), 35, 35)
        painter.drawEllipse(QPoint(320, 235), 35, 35)
    elif kind == "cat":
        painter.drawEllipse(QPoint(240, 190), 110, 90)
        painter.drawPolygon([QPoint(150, 140), QPoint(175, 60), QPoint(215, 115)])
        painter.drawPolygon([QPoint(330, 140), QPoint(305, 60), QPoint(265, 115)])
    else:
        painter.drawEllipse(QPoint(240, 180), 150, 95)
        painter.setBrush(QColor("#fff3d0"))
        painter.drawEllipse(QPoint(240, 170), 110, 60)
    painter.setPen(QColor("white"))
    painter.setFont(QFont("DejaVu Sans", 22))
    painter.drawText(QRect(0, 10, 480, 40), Qt.AlignmentFlag.AlignCenter, kind)
    painter.end()
    assert image.save(str(path), "PNG")


@pytest.fixture
def window(qtbot, tmp_path):
    from alapp.ui.main_window import MainWindow

    rows = []
    for n, (text, kind) in enumerate(POSTS):
        picture = ""
        if kind:
            picture = f"pictures/{kind}-{n}.png"
            (tmp_path / "pictures").mkdir(exist_ok=True)
            _picture(tmp_path / picture, kind, n % 3)
        rows.append((f"post-{n}", text, picture))
    data = tmp_path / "posts.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("id", "text", "image"), *rows])
    path = create_project(tmp_path / "posts.alapp", ["cats", "cars", "food"],
                          featurizer="tfidf", random_share=0.0)
    report = import_into(path, data, ImportSpec())
    assert report.images == 7
    w = MainWindow(path, annotator="tester")
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy and w.entry is not None, timeout=60_000)
    yield w
    w.close()


def test_the_labeling_view_shows_an_items_image(window, qtbot) -> None:
    view, session = window.view, window.session
    seen: set[str] = set()
    shot = False
    for _ in range(len(POSTS) - 1):
        entry = window.entry
        assert entry is not None
        image = session.image(entry.item_id)
        kind = ("both" if image and entry.text else "image" if image else "text")
        seen.add(kind)
        assert view.image.isVisible() == (image is not None)
        assert view.text.isVisible() == bool(entry.text)  # no empty text box
        if image is not None:
            pixmap = view.image.pixmap()
            assert not pixmap.isNull()
            room = view.image.contentsRect()
            assert pixmap.width() <= room.width() and pixmap.height() <= room.height()
            # scaled to fit: proportions kept (480 x 320), one side filling the pane
            assert abs(pixmap.width() / pixmap.height() - 1.5) < 0.02
            assert room.width() - pixmap.width() <= 1 or room.height() - pixmap.height() <= 1
        if kind == "both" and not shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            assert window.size().width() == 1366
            window.grab().save(str(SCREENSHOTS / "multimodal-1366-en.png"))
            shot = True
        qtbot.keyClick(window, Qt.Key.Key_1)
    assert seen == {"both", "image", "text"}

    # an earlier decision shows its image too
    qtbot.keyClick(window, Qt.Key.Key_Left)
    decision = window.decisions[window.history_index]
    assert view.image.isVisible() == (session.image(decision.item_id) is not None)


def test_an_image_that_cannot_be_decoded_says_so(qtbot) -> None:
    from alapp.ui.label_view import ImagePane

    pane = ImagePane()
    qtbot.addWidget(pane)
    assert pane.show_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert pane.pixmap().isNull() and "cannot be shown" in pane.text()
    assert not pane.show_image(None)


def test_the_import_wizard_finds_the_image_column(window, qtbot, tmp_path) -> None:
    from alapp.ui.import_wizard import NONE, ImportWizard

    data = tmp_path / "more.csv"
    data.write_text("text,picture\nanother cat,pictures/cat-0.png\n", "utf-8")
    wizard = ImportWizard(window.session, window, file=data)
    qtbot.addWidget(wizard)
    assert wizard.text_column.currentText() == "text"
    assert wizard.image_column.currentText() == "picture"
    assert wizard.spec().image == "picture"
    wizard.image_column.setCurrentText(NONE)
    assert wizard.spec().image == ""
    assert wizard.minimumSizeHint().width() <= 1280
