"""Issue 19 in the window: the guidelines dialog (F1) renders Russian and Chinese Markdown as
formatted text and loads nothing, ever (no remote image, no local file, no HTML, no link
followed); Settings edits the guidelines (with a preview) and each label's description, written
by the writer thread; descriptions show under the label names, cut with "…", whole on hover."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QFont, QImage, QPainter, QTextCursor
from PySide6.QtWidgets import QTabWidget

from alapp.store.demo import create_demo_project
from alapp.store.project import Project
from alapp.ui.guidelines import EMPTY, GuidelinesDialog, GuidelinesView, markdown_document
from alapp.ui.label_view import LabelView

ROOT = Path(__file__).resolve().parents[1]
# test-artifacts/ by default; ALAPP_SCREENSHOTS_TO=docs/screenshots refreshes the documented ones
SHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO") or ROOT / "test-artifacts")
SHOTS = SHOTS if SHOTS.is_absolute() else ROOT / SHOTS

RU_ZH = """# Правила разметки обращений

Каждое обращение получает **одну** метку — ту, что описывает *главную* просьбу клиента.

- **billing** — счета, двойные списания, возврат денег
- **delivery** — сроки и статус доставки
- Сомневаетесь? Пропустите (S) или отметьте (F) с комментарием.

## 标注规则

1. **technical**：应用崩溃、登录失败、错误代码
2. **praise**：感谢与表扬，*没有*具体请求
3. 不确定时，请标记 (F) 并写下原因。

Подробнее: [вики команды](https://wiki.example/guidelines)
"""


def _hostile(image: Path) -> str:
    return (f"# Hostile\n\n![x](http://127.0.0.1:9/x.png)\n\n![local]({image})\n\n"
            f'<img src="file://{image}">\n\n<img src="file:///etc/passwd">\n\n'
            "![data](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUl"
            "EQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==)\n\n"
            "| a | b |\n|---|---|\n| ![cell](http://127.0.0.1:9/t.png) | 2 |\n\n"
            "[click me](http://127.0.0.1:9/page) and <a href='http://127.0.0.1:9/a'>raw</a>\n")


def _fonts() -> None:
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())  # type: ignore[arg-type]


def _images_in(document) -> list[str]:
    found = []
    block = document.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().isImageFormat():
                found.append(fragment.charFormat().toImageFormat().name())
            fragments += 1
        block = block.next()
    return found


def test_russian_and_chinese_markdown_render_as_headings_lists_and_bold(qtbot) -> None:
    _fonts()
    dialog = GuidelinesDialog()
    qtbot.addWidget(dialog)
    dialog.show_guidelines(RU_ZH)
    dialog.show()
    document = dialog.view.document()
    headings, items, bold = {}, [], []
    block = document.begin()
    while block.isValid():
        if block.blockFormat().headingLevel():
            headings[block.text()] = block.blockFormat().headingLevel()
        if block.textList() is not None:
            items.append(block.text())
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.charFormat().fontWeight() >= QFont.Weight.Bold:
                bold.append(fragment.text())
            fragments += 1
        block = block.next()
    assert headings == {"Правила разметки обращений": 1, "标注规则": 2}
    assert items[0] == "billing — счета, двойные списания, возврат денег"
    assert "technical：应用崩溃、登录失败、错误代码" in items and len(items) == 6
    assert {"одну", "billing", "technical", "praise"} <= set(bold)
    assert "**" not in dialog.view.toPlainText() and "#" not in dialog.view.toPlainText()
    assert not dialog.isModal()


def test_a_hostile_document_loads_nothing_and_a_link_opens_nothing(
        qtbot, tmp_path, monkeypatch) -> None:
    image = tmp_path / "real.png"
    picture = QImage(8, 8, QImage.Format.Format_RGB32)
    picture.fill(0xFF0000)
    assert picture.save(str(image))
    old = time.time() - 100_000
    os.utime(image, (old, time.time()))  # a read would move the access time (relatime)
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)

    dialog = GuidelinesDialog()
    qtbot.addWidget(dialog)
    dialog.resize(700, 600)
    dialog.show_guidelines(_hostile(image))
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab()  # laid out and painted: when an image would be asked for
    view, document = dialog.view, dialog.view.inert_document()
    assert view.requests == [] and document.requests == []  # loadResource: never called
    assert _images_in(document) == []
    text = view.toPlainText()
    for alt in ("x", "local", "data", "cell"):
        assert f"[image not shown: {alt}]" in text
    assert '<img src="file:///etc/passwd">' in text  # raw HTML is text, not a tag
    assert os.stat(image).st_atime < old + 1  # the local picture was never read

    before = (view.source(), view.toPlainText())
    cursor = QTextCursor(document)
    cursor.setPosition(document.toPlainText().index("click me") + 2)
    point = view.cursorRect(cursor).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert view.clicked == ["http://127.0.0.1:9/page"]  # the click reached the link...
    assert (view.source(), view.toPlainText()) == before  # ...and went nowhere
    assert opened == [] and view.requests == [] and document.requests == []
    assert dialog.link_note.text() == "Links are not opened from here: http://127.0.0.1:9/page"


def test_raw_html_and_images_never_reach_the_image_reader(tmp_path) -> None:
    """The document is cleaned before any view lays it out: markdown_document alone."""
    image = tmp_path / "real.png"
    QImage(4, 4, QImage.Format.Format_RGB32).save(str(image))
    document = markdown_document(_hostile(image))
    assert _images_in(document) == [] and document.requests == []


def test_an_empty_project_says_where_to_add_guidelines(qtbot) -> None:
    view = GuidelinesView()
    qtbot.addWidget(view)
    view.set_markdown("  \n")
    assert view.toPlainText() == EMPTY
    assert EMPTY.startswith("No guidelines yet — ")


def _window(qtbot, tmp_path: Path, guidelines: str = ""):
    from alapp.ui.main_window import MainWindow

    _fonts()
    path = tmp_path / "demo.alapp"
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf", guidelines=guidelines)
    project.describe_label("billing", "счета, двойные списания, возврат денег по карте и "
                           "всё, что связано с оплатой заказа")
    project.describe_label("praise", "感谢与表扬，没有具体请求")
    project.close()
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    return window, path


def test_f1_opens_the_guidelines_beside_the_window_and_labeling_goes_on(
        qtbot, tmp_path) -> None:
    window, path = _window(qtbot, tmp_path, RU_ZH)
    assert window.view.guidelines_button.text() == "Guidelines (F1)"
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.guidelines_window
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.view.toPlainText().startswith("Правила разметки обращений")
    dialog.move(window.x() + 700, window.y() + 60)
    dialog.resize(640, 640)
    qtbot.waitExposed(dialog)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = window.grab().toImage()  # the window at 1366x768 with the dialog where it opens
    painter = QPainter(shot)  # offscreen windows have no frame: a title strip and a border
    inside = dialog.grab()
    painter.fillRect(700, 36, inside.width(), 24, QColor("#dfe3ea"))
    painter.drawText(708, 53, dialog.windowTitle())
    painter.drawPixmap(QPoint(700, 60), inside)
    painter.setPen(QColor("#606060"))
    painter.drawRect(700, 36, inside.width() - 1, inside.height() + 23)
    painter.end()
    assert shot.save(str(SHOTS / "guidelines-dialog-1366.png"))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    first = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_2)  # the dialog is open: labeling goes on
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.current_labels()[first] == "delivery"
    window.view.guidelines_button.click()
    assert dialog.isVisible()
    window.close()


def test_the_guidelines_key_is_rebindable(qtbot, tmp_path) -> None:
    from alapp.ui import preferences

    preferences.set_shortcut("guidelines", "Ctrl+G")
    window, _ = _window(qtbot, tmp_path)
    assert window.view.guidelines_button.text() == "Guidelines (Ctrl+G)"
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.guidelines_window is None
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert window.guidelines_window is not None
    assert window.guidelines_window.view.toPlainText() == EMPTY
    window.close()


def test_descriptions_show_under_the_names_cut_with_an_ellipsis_whole_on_hover(qtbot) -> None:
    view = LabelView(["billing", "praise", "delivery"])
    qtbot.addWidget(view)
    long = "счета, двойные списания, возврат денег по карте и всё, что связано с оплатой"
    view.show_descriptions({"billing": long, "praise": "感谢与表扬"})
    view.resize(700, 300)
    view.show()
    button = view.buttons["billing"]
    assert button.toolTip() == f"billing\n{long}"
    plain = view.buttons["delivery"]
    assert button.sizeHint().height() > plain.sizeHint().height()  # room for the second line
    qtbot.waitExposed(view)
    view.grab()  # painted: the line is cut to the button (no exception, nothing widened)
    assert button.minimumSizeHint().width() <= button.MIN_WIDTH


def test_settings_edit_guidelines_with_a_preview_and_descriptions_through_the_writer(
        qtbot, tmp_path) -> None:
    from alapp.ui.settings_dialog import SettingsDialog

    window, path = _window(qtbot, tmp_path)
    window.settings_dialog()
    dialog = window.settings_window
    assert isinstance(dialog, SettingsDialog)
    dialog.guidelines.setPlainText(RU_ZH)
    assert dialog.guidelines_preview.stale  # hidden: not rendered (Settings opens at once)
    tabs = dialog.findChild(QTabWidget)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Guidelines"))
    qtbot.waitUntil(lambda: dialog.guidelines_preview.toPlainText().startswith("Правила"),
                    timeout=3_000)
    dialog.guidelines.appendPlainText("\n**Ещё** одно правило")
    qtbot.waitUntil(lambda: dialog.guidelines_preview.toPlainText().endswith("Ещё одно правило"),
                    timeout=3_000)  # as typed, a moment later
    dialog.guidelines.setPlainText(RU_ZH)
    assert f"{len(RU_ZH):,} of 200,000 characters" == dialog.guidelines_count.text()
    assert dialog.descriptions["praise"].text() == "感谢与表扬，没有具体请求"
    dialog.descriptions["delivery"].setText("  сроки   и статус доставки ")
    dialog.descriptions["praise"].setText("")
    dialog.resize(900, 640)
    qtbot.waitUntil(lambda: dialog.guidelines_preview.toPlainText().endswith("вики команды"),
                    timeout=3_000)
    qtbot.waitExposed(dialog)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "settings-guidelines.png"))
    dialog.apply()
    assert dialog.changes == {"guidelines": RU_ZH}
    assert dialog.description_changes == {"delivery": "сроки и статус доставки", "praise": ""}
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.settings().guidelines == RU_ZH
        described = p.label_descriptions()
    assert described["delivery"] == "сроки и статус доставки" and "praise" not in described
    assert window.view.buttons["delivery"].toolTip().endswith("сроки и статус доставки")
    window.close()


@pytest.mark.parametrize("multi", [False, True])
def test_settings_offer_issue_17s_knobs_validated_as_alapp_config_does(qtbot, multi) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    settings = ProjectSettings(multi_label=multi, strategy="ml-mmc" if multi else "margin")
    dialog = SettingsDialog(settings, [])
    qtbot.addWidget(dialog)
    values = dialog.values()
    for key in ("self_training", "self_training_weight", "propagation_weight",
                "propagation_max_items", "label_prior", "cold_start", "cold_start_labels",
                "contrastive_min_gain", "contrastive_epochs", "contrastive_max_pairs",
                "contrastive_pseudo_cap"):
        assert values[key] == getattr(settings, key), key
    assert "Default: 20,000. (alapp config: propagation_max_items)" in \
        dialog.propagation_max_items.toolTip()
    assert "Default: on" in dialog.self_training.toolTip() or multi
    assert dialog.self_training.isEnabled() is not multi  # multi-label: said once, here
    if not multi:  # what the Model tab and the cold-start group look like (1366x768 screen)
        dialog.resize(640, 700)
        dialog.show()
        tabs = dialog.findChild(QTabWidget)
        for title, name in (("Model", "settings-model-issue17.png"),
                            ("Sampling", "settings-sampling-cold-start.png")):
            tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index(title))
            page = tabs.currentWidget()
            assert page.widget().minimumSizeHint().width() <= page.viewport().width(), title
            page.verticalScrollBar().setValue(page.verticalScrollBar().maximum())
            qtbot.wait(50)
            SHOTS.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(str(SHOTS / name))
    dialog.apply()
    assert dialog.changes == {}  # untouched controls change nothing
    dialog.cold_start.setCurrentIndex(dialog.cold_start.findData("typiclust"))
    dialog.propagation_weight.setValue(0.0)
    dialog.contrastive_min_gain.setValue(-1.0)
    dialog.propagation_max_items.setValue(100)
    dialog.contrastive_pseudo_cap.setValue(2.5)
    dialog.apply()
    assert dialog.changes == {"cold_start": "typiclust", "propagation_weight": 0.0,
                              "contrastive_min_gain": -1.0, "propagation_max_items": 100,
                              "contrastive_pseudo_cap": 2.5}
    # the dialog's ranges are the config's: the lowest a control allows is a valid value
    assert dialog.propagation_max_items.minimum() == 100
    assert dialog.contrastive_epochs.maximum() == 20

def test_settings_keep_the_guidelines_as_typed_no_break_spaces_included(qtbot) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    text = "# Правила\n\nт.\u00a0е. 10\u00a0000 меток\n\n- пункт\n"
    dialog = SettingsDialog(ProjectSettings(guidelines=text), [])
    qtbot.addWidget(dialog)
    dialog.apply()
    assert dialog.changes == {}  # unchanged: nothing rewritten
    dialog.guidelines.appendPlainText("- ещё\u00a0пункт")
    dialog.apply()
    assert dialog.changes == {"guidelines": text + "\n- ещё\u00a0пункт"}  # a new paragraph


def test_the_label_descriptions_tab_lists_every_label(qtbot) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    _fonts()
    labels = [("Спорт", "матчи, команды, спортсмены"), ("体育", ""),
              ("<b>Политика</b>", "выборы")]
    dialog = SettingsDialog(ProjectSettings(), [], labels=labels)
    qtbot.addWidget(dialog)
    assert [e.text() for e in dialog.descriptions.values()] == ["матчи, команды, спортсмены",
                                                               "", "выборы"]
    assert dialog.descriptions["体育"].maxLength() == 500
    dialog.descriptions["体育"].setText("比赛、球队、运动员")
    dialog.apply()
    assert dialog.description_changes == {"体育": "比赛、球队、运动员"}
    assert dialog.changes == {}
    dialog.resize(640, 500)
    dialog.show()
    tabs = dialog.findChild(QTabWidget)
    tabs.setCurrentIndex(tabs.count() - 1)
    qtbot.wait(50)
    from PySide6.QtWidgets import QLabel

    captions = [w.text() for w in tabs.currentWidget().findChildren(QLabel)]
    assert "<b>Политика</b>" in captions  # a label name is shown as typed
    dialog.grab().save(str(SHOTS / "settings-label-descriptions.png"))
