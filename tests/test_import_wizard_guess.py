"""The import wizard's guesses: the separator of CSV-like text, whether the first row is a
header, and the label column (with the labels it would add)."""

from __future__ import annotations

import pytest

from alapp.store.preview import detect_delimiter, guess_header, preview_file
from alapp.store.project import Project
from tests.conftest import write


@pytest.mark.parametrize(("sep", "name"), [(";", "semi.csv"), ("\t", "tab.csv"),
                                           ("|", "pipe.csv")])
def test_preview_detects_the_separator(tmp_path, sep: str, name: str) -> None:
    f = write(tmp_path / name, sep.join(["id", "text", "Category"]) + "\n"
              + "".join(sep.join([str(i), f"message number {i}, with a comma", "a"]) + "\n"
                        for i in range(5)))
    p = preview_file(f)
    assert (p.delimiter, p.detected_delimiter, p.header_guess) == (sep, sep, True)
    assert p.columns == ["id", "text", "Category"]
    assert p.rows[0] == ["0", "message number 0, with a comma", "a"]


def test_comma_with_quoted_commas_and_semicolons(tmp_path) -> None:
    f = write(tmp_path / "quoted.csv",
              'id,text,label\n1,"hello, world; again, and again",spam\n'
              '2,"one; two; three, four",ham\n3,"a, b, c, d, e",spam\n')
    p = preview_file(f)
    assert p.delimiter == ","
    assert p.columns == ["id", "text", "label"]
    assert p.rows[0][1] == "hello, world; again, and again"


def test_a_user_choice_overrides_the_detected_separator(tmp_path) -> None:
    from alapp.store.importer import ImportSpec

    f = write(tmp_path / "semi.csv", "a;b\n1;2\n")
    p = preview_file(f, ImportSpec(delimiter=","))
    assert (p.delimiter, p.detected_delimiter, p.columns) == (",", ";", ["a;b"])


def test_header_or_not() -> None:
    assert guess_header("id;text;label\n1;hello there;spam\n2;good bye;ham\n", ";")
    assert not guess_header("1;hello there;spam\n2;good bye;ham\n", ";")
    assert not guess_header("hello there;spam\ngood bye;ham\nso long;spam\n", ";")
    assert not guess_header("text;spam\nhello;spam\n", ";")  # a "header" value repeats below
    assert not guess_header("a;a\nx;y\n", ";")  # names must be distinct
    assert guess_header("text\tlabel\nhello there friend\tspam\nbye now\tham\n", "\t")


def test_detection_gives_up_on_single_column_text() -> None:
    assert detect_delimiter("just some words\nand more words\n") is None
    assert detect_delimiter("") is None


def test_wizard_reads_a_semicolon_file_with_a_category_column(qtbot, tmp_path) -> None:
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    from alapp.ui import preferences
    from alapp.ui.app import Application

    preferences.store().clear()
    path = tmp_path / "Reviews.alapp"
    with Project.create(path, name="Reviews", labels=["good"]):
        pass
    rows = [(f"r{i}", f"review number {i}, quite long text", ["good", "bad", "meh"][i % 3])
            for i in range(30)]
    data = tmp_path / "reviews.csv"
    data.write_text("id;Review;Category\n" + "".join(";".join(r) + "\n" for r in rows), "utf-8")

    app = Application()
    app.open(path)
    window = app.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: getattr(window, "wizard", None) is not None
                    and window.wizard.isVisible(), timeout=5_000)
    wizard = window.wizard
    wizard.header.setChecked(False)  # the guess must set it back
    wizard.set_file(data)
    assert wizard.preview.columns == ["id", "Review", "Category"]
    assert wizard.header.isChecked()
    assert wizard.delimiter.currentText() == "(detect): semicolon"
    assert wizard.text_column.currentText() == "Review"
    assert wizard.label_column.currentText() == "Category"
    assert wizard.id_column.currentText() == "id"
    assert wizard.add_labels.isChecked()
    assert "would add 2 labels" in wizard.message.text()
    assert wizard.spec().delimiter == ";"
    wizard.check.click()
    qtbot.waitUntil(wizard.run.isEnabled, timeout=30_000)
    assert "No problems: 30 items" in wizard.message.text()
    wizard.run.click()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=30_000)
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.count_items()["pool"] == 30
        texts = p.texts(p.item_ids())
        labels = p.current_labels()
        assert sorted(p.labels()) == ["bad", "good", "meh"]
    assert "Review" not in texts and texts[0] == rows[0][1]
    assert sorted(labels.values()) == sorted(r[2] for r in rows)
    preferences.store().clear()
    window.close()
