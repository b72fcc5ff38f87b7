"""Flags can be found again: F asks for an optional comment, Browse filters by flagged and
skipped items (showing the comment), and the export carries the flag and its comment."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from alapp.store.browse import BrowseQuery, find_items
from alapp.store.demo import create_demo_project
from alapp.store.export import CSV_COLUMNS, export_labels
from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write


@pytest.fixture
def window(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    path = tmp_path / "demo.alapp"
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf")  # no model to load: the test stays quick
    project.close()
    w = MainWindow(path, annotator="tester")
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy and w.entry is not None, timeout=60_000)
    yield w
    w.close()


def _answer(monkeypatch, text: str, ok: bool = True) -> list[str]:
    """Patch the comment dialog: it answers ``text``; returns the prompts it was shown."""
    from PySide6.QtWidgets import QInputDialog

    asked: list[str] = []

    def get_text(parent, title, prompt, *args, **kwargs):
        asked.append(title)
        return text, ok

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    return asked


def _browse(window, status: str) -> dict[int, str]:
    """Item id -> the Flag column, for the browse dialog filtered by ``status``."""
    from alapp.ui.browse_dialog import FLAG_COLUMN, BrowseDialog

    dialog = BrowseDialog(window.session, window)
    dialog.status.setCurrentText(status)  # refreshes
    shown = {}
    model = dialog.table.model()
    for r in range(model.rowCount()):
        item_id = model.index(r, 0).data(Qt.ItemDataRole.UserRole)
        shown[item_id] = model.index(r, FLAG_COLUMN).data()
    dialog.close()
    return shown


def test_flag_with_comment_is_found_in_browse_and_exported(
        window, qtbot, monkeypatch, tmp_path) -> None:
    path = window.session.reader.path
    flagged = window.entry
    asked = _answer(monkeypatch, "  unclear: two topics ")
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert asked == ["Flag for a second look"]
    assert window.entry is flagged  # flagging does not move on
    qtbot.keyClick(window, Qt.Key.Key_1)  # and labels it
    assert window.entry is not None and window.entry.item_id != flagged.item_id

    quiet = window.entry  # Enter on an empty comment: flagged without one
    _answer(monkeypatch, "")
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.keyClick(window, Qt.Key.Key_S)  # skipped
    assert window.entry is not None and window.entry.item_id != quiet.item_id
    _answer(monkeypatch, "never mind", ok=False)  # Cancel flags nothing
    qtbot.keyClick(window, Qt.Key.Key_F)
    assert [e["action"] for e in window.session.reader.events(window.entry.item_id)] == []

    assert _browse(window, "flagged") == {flagged.item_id: "unclear: two topics",
                                          quiet.item_id: "flagged"}
    assert _browse(window, "skipped") == {quiet.item_id: "flagged"}
    assert len(_browse(window, "(any)")) > 2

    with Project.open(path, read_only=True, take_lock=False) as p:
        export_labels(p, tmp_path / "out.jsonl")
        export_labels(p, tmp_path / "out.csv")
        export_labels(p, tmp_path / "p.jsonl", fmt="prodigy")
        ext_id = p.item(flagged.item_id).ext_id
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text("utf-8")
                                    .splitlines())}
    assert (rows[ext_id]["flagged"], rows[ext_id]["flag_note"]) == (True, "unclear: two topics")
    assert [r["id"] for r in rows.values() if r["flagged"]] == [ext_id]  # the skip: unlabeled
    with open(tmp_path / "out.csv", encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        assert CSV_COLUMNS[-2:] == ("flagged", "flag_note")
        csv_rows = {r["id"]: r for r in reader}
    assert (csv_rows[ext_id]["flagged"], csv_rows[ext_id]["flag_note"]) == (
        "true", "unclear: two topics")
    assert {r["flagged"] for i, r in csv_rows.items() if i != ext_id} <= {"false"}
    tasks = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text("utf-8").splitlines()]
    [task] = [t for t in tasks if t["meta"]["id"] == ext_id]
    assert (task["meta"]["flagged"], task["meta"]["flag_note"]) == (True, "unclear: two topics")


def test_browse_status_follows_the_latest_decision(project, tmp_path) -> None:
    p = project
    import_file(p, write(tmp_path / "in.jsonl", "".join(
        f'{{"id": "{i}", "text": "text number {i}"}}\n' for i in range(4))))
    a, b, c = p.item_ids()[:3]
    p.skip_item(a, "ann")
    p.label_item(a, "spam", "ann")  # labeled after the skip: no longer skipped
    p.skip_item(b, "ann", forever=True)
    p.flag_item(b, "ann", note="odd")  # a flag is no decision: still skipped
    p.flag_item(c, "ann", note="first")
    p.flag_item(c, "ann")  # the latest flag's comment is shown
    assert [(r.item_id, r.flag_note) for r in find_items(
        p, BrowseQuery(status="skipped"), {})] == [(b, "odd")]
    assert [(r.item_id, r.flag_note) for r in find_items(
        p, BrowseQuery(status="flagged"), {})] == [(b, "odd"), (c, "")]
    assert {r.item_id: r.flag_note for r in find_items(p, BrowseQuery(), {})}[a] is None
    with pytest.raises(ValueError):
        find_items(p, BrowseQuery(status="starred"), {})

