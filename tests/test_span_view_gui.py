"""The span view (issue 18), driven through Qt's real mouse and key events: drag selection
snaps to tokens, double-click, keyboard selection and typing, changing and deleting entities,
the undo chain, refused overlaps, Enter's exact value, and offsets that stay right for emoji
(surrogate pairs in Qt's UTF-16), CRLF, tabs, combining characters, direction marks, Chinese
without spaces and texts that begin or end with whitespace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtTest import QTest

from alapp.core.spans import Span, encode_spans
from alapp.ui.span_editor import display_text
from alapp.ui.span_view import SpanView
from tests.span_samples import TYPES, entry, sample_entry, span_of, tokens_of
from tests.test_gui_workflow import settings_home  # noqa: F401 (a fixture)

SCREENSHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
                   or Path(__file__).resolve().parents[1] / "test-artifacts" / "1366")
TEXT = "Barack Obama met Angela Merkel in Berlin on Tuesday."
DEFAULT_KEYS = {f"label_{i}": str(i) for i in range(1, 10)}


@pytest.fixture
def view(qtbot):
    widget = SpanView(TYPES)
    qtbot.addWidget(widget)
    widget.show_keys(DEFAULT_KEYS)
    widget.resize(1000, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _show(view, text: str, suggestions=(), tokens=None):
    view.show_entry(entry(text, list(suggestions), tokens=tokens))
    editor = view.editor
    editor.setFocus()
    return editor


def _point(editor, token: int, where: float = 0.5) -> QPoint:
    """A point inside ``token`` (``where``: 0 its left edge, 1 its right)."""
    _, rect = editor._rects[token][0]
    return QPointF(rect.left() + where * rect.width(), rect.center().y()).toPoint()


def _drag(editor, start: QPoint, end: QPoint) -> None:
    QTest.mousePress(editor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    middle = QPoint((start.x() + end.x()) // 2, (start.y() + end.y()) // 2)
    for point in (middle, end):
        QTest.mouseMove(editor, point)
    QTest.mouseRelease(editor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def _key(editor, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(editor, key, modifier)


def test_the_layout_text_keeps_every_utf16_position() -> None:
    assert display_text("a\r\nb\tc\rd\n") == "a\u200b\u2028b\tc\u2028d\u2028"
    text = "x😀\r\ny\u0301\x00z"
    assert len(display_text(text).encode("utf-16-le")) == len(text.encode("utf-16-le"))


def test_drag_snaps_to_token_boundaries(view) -> None:
    editor = _show(view, TEXT)
    # From the middle of "Obama" to the middle of "Merkel": the whole words, not the pixels.
    _drag(editor, _point(editor, 1, 0.6), _point(editor, 4, 0.3))
    assert editor.selection() == (1, 4)
    _key(editor, Qt.Key.Key_2)
    assert editor.spans() == [Span(7, 30, "LOC")]
    assert TEXT[7:30] == "Obama met Angela Merkel"
    # A drag that ends in the space after "Berlin" snaps to "Berlin".
    berlin = editor.token_rect(6)
    gap = QPoint(int(berlin.right() + 3), int(berlin.center().y()))
    _drag(editor, _point(editor, 5, 0.2), gap)
    assert editor.selection() == (5, 6)


def test_double_click_selects_a_token_and_a_key_types_it(view) -> None:
    editor = _show(view, TEXT)
    QTest.mouseDClick(editor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      _point(editor, 6, 0.3))
    assert editor.selection() == (6, 6)
    _key(editor, Qt.Key.Key_2)
    assert editor.value() == '[[34,40,"LOC"]]' and TEXT[34:40] == "Berlin"
    assert editor.selection() is None


def test_keyboard_selects_and_types_and_enter_emits_the_exact_value(view, qtbot) -> None:
    editor = _show(view, TEXT)
    _key(editor, Qt.Key.Key_2)  # the cursor's token alone: "Barack"
    _key(editor, Qt.Key.Key_Backspace)  # and gone again
    _key(editor, Qt.Key.Key_Home, Qt.KeyboardModifier.ShiftModifier)
    _key(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # Barack Obama
    _key(editor, Qt.Key.Key_1)
    for _ in range(3):
        _key(editor, Qt.Key.Key_Right)  # met, Angela, Merkel
    _key(editor, Qt.Key.Key_Left)
    _key(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    _key(editor, Qt.Key.Key_1)
    _key(editor, Qt.Key.Key_End)  # the full stop
    _key(editor, Qt.Key.Key_Left)
    _key(editor, Qt.Key.Key_4)  # Tuesday
    expected = encode_spans([Span(0, 12, "PER"), Span(17, 30, "PER"), Span(44, 51, "MISC")])
    with qtbot.waitSignal(view.label_chosen, timeout=1000) as signal:
        _key(editor, Qt.Key.Key_Return)
    assert signal.args == [expected]
    assert expected == '[[0,12,"PER"],[17,30,"PER"],[44,51,"MISC"]]'


def test_click_an_entity_then_change_its_type_or_delete_it(view) -> None:
    editor = _show(view, TEXT, [span_of(TEXT, "Angela Merkel", "ORG"),
                                span_of(TEXT, "Berlin", "LOC")])
    assert all(e.suggested for e in editor.entities)
    QTest.mouseClick(editor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     _point(editor, 4))  # "Merkel", inside the suggestion
    assert editor.current_entity() is not None
    _key(editor, Qt.Key.Key_1)
    changed = next(e for e in editor.entities if e.first == 3)
    assert (changed.label, changed.suggested) == ("PER", False)  # changed: now the annotator's
    QTest.mouseClick(editor, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     _point(editor, 6))
    _key(editor, Qt.Key.Key_Delete)
    assert editor.value() == '[[17,30,"PER"]]'


def test_undo_takes_back_one_action_at_a_time(view) -> None:
    editor = _show(view, TEXT, [span_of(TEXT, "Berlin", "LOC")])
    states = [editor.value()]
    editor.select(0, 1)
    _key(editor, Qt.Key.Key_1)
    states.append(editor.value())
    editor.set_cursor(1)
    _key(editor, Qt.Key.Key_3)  # retype
    states.append(editor.value())
    editor.set_cursor(6)
    _key(editor, Qt.Key.Key_Backspace)  # delete the suggestion
    states.append(editor.value())
    assert states == ['[[34,40,"LOC"]]', '[[0,12,"PER"],[34,40,"LOC"]]',
                      '[[0,12,"ORG"],[34,40,"LOC"]]', '[[0,12,"ORG"]]']
    for before in reversed(states[:-1]):
        _key(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert editor.value() == before
    assert not editor.can_undo()
    assert editor.entities[0].suggested  # undone back to the model's suggestion


def test_an_overlap_is_refused_with_a_visible_message(view) -> None:
    editor = _show(view, TEXT, [span_of(TEXT, "Angela Merkel", "PER")])
    editor.select(4, 6)  # Merkel in Berlin
    _key(editor, Qt.Key.Key_2)
    assert editor.value() == '[[17,30,"PER"]]'
    assert view.notice.isVisible() and "overlap" in view.notice.text()
    assert "Angela Merkel" in view.notice.text()
    editor.select(5, 6)
    _key(editor, Qt.Key.Key_2)  # the next action clears the message
    assert view.notice.text() == "" and len(editor.entities) == 2


def test_a_round_refresh_keeps_the_edits_of_the_sentence(view) -> None:
    editor = _show(view, TEXT)
    editor.select(6, 6)
    _key(editor, Qt.Key.Key_2)
    view.show_entry(entry(TEXT, [span_of(TEXT, "Obama", "PER")]))  # the same item again
    assert editor.value() == '[[34,40,"LOC"]]'
    view.show_entry(entry(TEXT, [span_of(TEXT, "Obama", "PER")], item_id=3))
    editor.select(5, 6)  # no edit yet: a refresh brings the round's suggestions, and the
    view.show_entry(entry(TEXT, [span_of(TEXT, "Obama", "PER")], item_id=3))  # selection stays
    assert editor.value() == '[[7,12,"PER"]]' and editor.selection() == (5, 6)
    view.show_entry(entry("Another one.", item_id=2))
    assert editor.value() == "[]" and not editor.can_undo()


HARD_TEXTS = {
    # text, (first surface, last surface) of the entity dragged over, its exact surface
    "emoji": ("Hi 😀 Ada 👩‍🔬 Lovelace wrote 🚀 code", ("Ada", "Lovelace"),
              "Ada 👩\u200d🔬 Lovelace"),
    "crlf": ("First line\r\nJohn Smith\r\nlives in Paris\r\n", ("John", "Paris"),
             "John Smith\r\nlives in Paris"),
    "tabs": ("name\tAlan\tTuring\tLondon", ("Alan", "Turing"), "Alan\tTuring"),
    "combining": ("Rene\u0301 met Zoe\u0308 in Cafe\u0301 Noir", ("Zoe\u0308", "Cafe\u0301"),
                  "Zoe\u0308 in Cafe\u0301"),
    "rtl marks": ("\u200fMr \u200eAli\u200f Hassan\u200e visited Cairo", ("Ali", "Hassan"),
                  "Ali\u200f Hassan"),
    "chinese": ("李明在上海的华为公司工作", ("华", "司"), "华为公司"),
    "whitespace": ("   \t Maria Curie won  \n", ("Maria", "Curie"), "Maria Curie"),
    "flags, skin tones": ("🇫🇷 Marie 👍🏽 Curie won", ("Marie", "Curie"), "Marie 👍🏽 Curie"),
}


@pytest.mark.parametrize("name", list(HARD_TEXTS))
def test_offsets_are_exact_for_hard_texts(view, qtbot, name) -> None:
    text, (first_surface, last_surface), surface = HARD_TEXTS[name]
    tokens = tokens_of(text)
    editor = _show(view, text, tokens=tokens)
    words = [text[a:b] for a, b in tokens]
    first, last = words.index(first_surface), words.index(last_surface)
    # Every token is drawn where Qt draws its characters: its box is as wide as the token's
    # own text (a UTF-16 slip after an emoji would cut a character off or take one more).
    metrics = QFontMetricsF(editor.font())
    for t, (a, b) in enumerate(tokens):
        if "\t" not in text[a:b]:
            assert editor.token_rect(t).width() == pytest.approx(
                metrics.horizontalAdvance(text[a:b]), abs=2.5), (name, text[a:b])
        assert editor.token_at(QPointF(_point(editor, t))) == t
    _drag(editor, _point(editor, first, 0.8), _point(editor, last, 0.2))
    _key(editor, Qt.Key.Key_3)
    (span,) = editor.spans()
    assert text[span.start:span.end] == surface
    assert (span.start, span.end) == (tokens[first][0], tokens[last][1])
    with qtbot.waitSignal(view.label_chosen, timeout=1000) as signal:
        _key(editor, Qt.Key.Key_Return)
    assert signal.args == [encode_spans([Span(span.start, span.end, "ORG")])]


def test_suggestions_off_the_tokens_are_left_out_with_a_word(view) -> None:
    editor = _show(view, TEXT, [Span(1, 6, "PER"), span_of(TEXT, "Berlin", "LOC")])
    assert editor.value() == '[[34,40,"LOC"]]'
    assert "1 suggestion(s) left out" in view.notice.text()


def test_no_tokens_and_no_item_show_text_that_cannot_be_edited(view) -> None:
    view.show_entry(entry(TEXT, tokens=[]))
    assert not view.editor.editable
    view.show_entry(None, "Training and choosing the next batch…")
    assert view.editor.placeholder.startswith("Training")
    assert not view.accept_button.isEnabled()
    QTest.keyClick(view.editor, Qt.Key.Key_1)
    assert view.editor.entities == []


@pytest.mark.parametrize("language", ["en", "ru", "zh"])
def test_screenshot_at_1366(qtbot, language) -> None:
    from alapp.ui.resources import install_fonts

    install_fonts(qtbot_app())
    widget = SpanView(TYPES)
    qtbot.addWidget(widget)
    widget.show_keys(DEFAULT_KEYS | {"accept": "Return", "undo_alt": "Ctrl+Z", "skip": "S",
                                     "back": "Left", "forward": "Right"})
    widget.resize(1366, 768)
    widget.show()
    qtbot.waitExposed(widget)
    item, typed = sample_entry(language)
    widget.show_entry(item)
    editor = widget.editor
    for span in typed:
        words = [a for a, _ in editor.tokens]
        editor.select(words.index(span.start), [b for _, b in editor.tokens].index(span.end))
        editor.assign(TYPES.index(span.label))
    editor.setFocus()
    editor.select(len(editor.tokens) - 3, len(editor.tokens) - 2)  # a selection, not typed yet
    qtbot.wait(10)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(SCREENSHOTS / f"span-view-1366-{language}.png"))
    assert len(editor.entities) == 6 and sum(e.suggested for e in editor.entities) == 4


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


def _span_window(qtbot, tmp_path, monkeypatch):
    """The real window on a span project of two sentences (raw text, tokenized on import),
    queued as a test set: no model is needed to label them."""
    from alapp.store.importer import ImportSpec, import_file
    from alapp.store.project import Project
    from alapp.ui.main_window import MainWindow

    path = tmp_path / "spans.alapp"
    project = Project.create(path, TYPES, task="spans", featurizer="tfidf")
    data = tmp_path / "t.txt"
    data.write_text(f"{TEXT}\nJohn lives in Paris.\n", "utf-8")
    import_file(project, data, ImportSpec(format="txt"))
    project.close()
    monkeypatch.setattr(MainWindow, "request_round", lambda self: None)  # no model here
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.session.start_test_set(2)
    window.refresh()
    window.resize(1366, 768)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    return window


@pytest.mark.usefixtures("settings_home")
def test_the_window_keys_reach_the_span_editor(qtbot, tmp_path, monkeypatch) -> None:
    window = _span_window(qtbot, tmp_path, monkeypatch)
    view = window.view
    assert isinstance(view, SpanView) and window.entry is not None
    first = window.entry.item_id
    editor = view.editor
    assert editor.editable and editor.text == TEXT
    QTest.keyClick(editor, Qt.Key.Key_1)  # the window's label key types the cursor's token
    assert editor.value() == '[[0,6,"PER"]]'
    QTest.keyClick(editor, Qt.Key.Key_Right)  # the window's "forward" moves the cursor
    QTest.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(editor, Qt.Key.Key_2)
    assert editor.value() == '[[0,6,"PER"],[7,16,"LOC"]]'
    QTest.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo an edit
    assert editor.value() == '[[0,6,"PER"]]'
    editor.set_cursor(0)
    QTest.keyClick(editor, Qt.Key.Key_Backspace)  # an entity under the cursor: deleted
    assert editor.value() == "[]" and window.history_index is None
    QTest.keyClick(editor, Qt.Key.Key_Backspace)  # the window's undo: undoes the deletion
    assert editor.value() == '[[0,6,"PER"]]'
    editor.set_cursor(6)
    QTest.keyClick(editor, Qt.Key.Key_2)
    view.buttons["ORG"].click()  # a type button types too: Berlin, LOC -> ORG
    assert window.session.history(5) == []  # no key or button decided the sentence
    QTest.keyClick(editor, Qt.Key.Key_Return)  # decided, stored, and the next sentence shown
    (decision,) = window.session.history(5)
    assert (decision.item_id, decision.label) == (first, '[[0,6,"PER"],[34,40,"ORG"]]')
    assert editor.text == "John lives in Paris." and editor.value() == "[]"
    assert not editor.can_undo()
    QTest.keyClick(editor, Qt.Key.Key_Backspace)  # no edit here: the last decision's undo
    assert window.entry.item_id == first and window.session.history(5) == []
    QTest.keyClick(editor, Qt.Key.Key_Return)  # accepted with no entities: "[]"
    assert window.session.history(5)[0].label == "[]"
    QTest.keyClick(editor, Qt.Key.Key_1)  # "John", on the second sentence
    QTest.keyClick(editor, Qt.Key.Key_Return)
    assert [d.label for d in window.session.history(5)] == ['[[0,4,"PER"]]', "[]"]
    QTest.keyClick(editor, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)  # history
    QTest.keyClick(editor, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.history_index == 1 and "Earlier sentence (2 back): 0 entities" in (
        view.history_banner.text())
    assert editor.editable and editor.text == TEXT and editor.value() == "[]"
    editor.set_cursor(6)
    QTest.keyClick(editor, Qt.Key.Key_2)
    QTest.keyClick(editor, Qt.Key.Key_Return)  # the earlier sentence changed, in place
    assert window.history_index == 1 and "1 entity" in view.history_banner.text()
    assert {d.item_id: d.label for d in window.session.history(5)}[first] == '[[34,40,"LOC"]]'
    QTest.keyClick(editor, Qt.Key.Key_Escape)
    assert window.history_index is None


def test_tokens_that_do_not_fit_the_text_are_not_edited(view) -> None:
    for tokens in ([(0, 6), (3, 9)], [(0, 0)], [(40, 99)], [(7, 12), (0, 6)]):
        view.show_entry(entry(TEXT, tokens=tokens))
        assert not view.editor.editable and "do not fit" in view.notice.text()
