"""Issue 19 in the window: the Team view (annotators side by side, agreement, the rule) and
the Review dialog (the queue, a decision by number key, withdrawing it), on the scripted team
project with Russian and Chinese texts. Screenshots at 1366x768 go to test-artifacts/ (with
ALAPP_SCREENSHOTS_TO=docs/screenshots, to the documentation)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from alapp.store.project import Project
from tests.team_samples import make_team_project

SHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
             or Path(__file__).resolve().parent.parent / "test-artifacts")


@pytest.fixture
def window(qtbot, tmp_path):
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    path = make_team_project(tmp_path, more=True)
    with Project.open(path) as project:
        project.update_settings(featurizer="tfidf")  # no model to load: the test stays quick
    w = MainWindow(path, annotator="rita")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy, timeout=60_000)
    yield w
    w.close()


def _shot(widget, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.resize(1366, 768)
    QApplication.processEvents()
    out = SHOTS / name
    assert widget.grab().save(str(out))
    return out


def test_team_view_shows_the_team_and_changes_the_rule(window, qtbot) -> None:
    assert window.annotator_label.text() == "Labeling as rita"
    window.menu_actions["&Team and agreement…"].trigger()
    dialog = window.team_window
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=30_000)
    people = {dialog.people.item(r, 0).text(): [dialog.people.item(r, c).text()
                                                for c in range(8)]
              for r in range(dialog.people.rowCount())}
    assert set(people) == {"anna", "boris", "chen"}
    # anna: the 9 scripted items (4 s each) and 36 more (5 s each)
    assert people["anna"][1:5] == ["45", "8", str(round(45 * 3600 / (9 * 4 + 36 * 5))), "5.0"]
    pairs = {dialog.pairs.item(r, 0).text(): dialog.pairs.item(r, 2).text()
             for r in range(dialog.pairs.rowCount())}
    assert pairs["anna / boris"].startswith("0.77 (")
    assert "Krippendorff's alpha (nominal): 0.55" in dialog.overall.text()
    assert dialog.per_label.rowCount() == 3
    _shot(dialog, "team-view-1366.png")
    dialog.rule.setCurrentIndex(dialog.rule.findData("reliable"))
    assert window.session.settings().training_label_rule == "reliable"
    with Project.open(window.session.path, read_only=True) as reader:
        assert reader.settings().training_label_rule == "reliable"
    qtbot.waitUntil(lambda: not dialog.busy, timeout=30_000)
    dialog.close()


def test_review_dialog_decides_by_key_and_withdraws(window, qtbot) -> None:
    window.menu_actions["&Review and adjudicate…"].trigger()
    dialog = window.review_window
    qtbot.waitUntil(lambda: dialog.scan is not None, timeout=60_000)
    assert dialog.scan.ready, dialog.check_state.text()
    ids = [e.ext_id for e in dialog.entries]
    assert ids[:5] == ["t5", "t8", "t3", "t2", "t9"]
    suspects = [e.ext_id for e in dialog.entries if "suspect" in e.reasons]
    assert suspects, dialog.check_state.text()
    assert dialog.selected().ext_id == "t5"
    assert dialog.votes.rowCount() == 3
    assert dialog.final.text() == "Training label: none (tie)"
    assert dialog.text.toPlainText() == "还行吧，不好也不坏，但是等了很久。"
    dialog.queue.selectRow(3)  # t2, flagged by chen
    assert "Flag by chen: check: sarcasm?" in dialog.comments.text()
    dialog.queue.selectRow(4)  # t9, flagged by anna, in Russian
    assert dialog.comments.text() == "Flag by anna: не уверена — ирония"
    _shot(dialog, "review-1366.png")
    dialog.queue.selectRow(0)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    dialog.note.setText("ирония")
    qtbot.keyClick(dialog.queue, Qt.Key.Key_2)  # "2  neg"
    assert [e.ext_id for e in dialog.entries][:2] == ["t8", "t3"]
    assert dialog.message.text() == "t5: decided neg"
    with Project.open(window.session.path, read_only=True) as reader:
        [event] = [e for e in reader.events() if e["action"] == "adjudication"]
        assert (event["annotator"], event["label"], event["note"]) == ("rita", "neg", "ирония")
        t5 = next(i for i in reader.item_ids() if reader.item(i).ext_id == "t5")
        assert reader.current_label(t5) == "neg"
    dialog.filter.setCurrentIndex(4)  # decided by a reviewer
    assert [e.ext_id for e in dialog.entries] == ["t5"]
    assert "adjudicated by rita: ирония" in dialog.final.text()
    assert dialog.withdraw.isEnabled()
    qtbot.mouseClick(dialog.withdraw, Qt.MouseButton.LeftButton)
    assert dialog.entries == []
    dialog.filter.setCurrentIndex(1)  # disagreements
    assert [e.ext_id for e in dialog.entries][:2] == ["t5", "t8"]
    dialog.close()


def test_browse_shows_disputed_items_and_what_someone_labeled(window, qtbot) -> None:
    window.menu_actions["&Browse and search items…"].trigger()
    browser = window.browser
    browser.status.setCurrentIndex(browser.status.findText("disputed"))
    cells = [[browser.model.data(browser.model.index(r, c)) for c in range(3)]
             for r in range(browser.model.rowCount())]
    assert [row[1] for row in cells] == ["(disputed)", "(disputed)"]
    browser.status.setCurrentIndex(0)
    browser.annotator.setCurrentIndex(browser.annotator.findText("chen"))
    assert browser.model.rowCount() == 8  # chen's own labels, t3 and the ties included
    browser.close()


def test_closing_the_window_ends_the_label_check(window, qtbot) -> None:
    window.menu_actions["&Review and adjudicate…"].trigger()
    dialog = window.review_window
    window.close()  # while the check may still run: its thread ends with the window
    assert not dialog.work.runner.busy
