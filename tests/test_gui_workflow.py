"""The whole workflow through the real window, offscreen, checking the project file after each
step: create -> import -> test set -> label with keys -> retrain -> undo -> history edit ->
browse -> settings -> export. Screenshots of each main screen go to test-artifacts/."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from alapp.store.demo import demo_data_path
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
LABELS = ["billing", "delivery", "technical", "account", "praise"]


@pytest.fixture
def settings_home(tmp_path, monkeypatch):
    """QSettings in a temporary folder: tests never touch the user's recent list or keys."""
    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from alapp.ui import preferences

    preferences.store().clear()
    yield tmp_path
    preferences.store().clear()


def _shot(widget, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    widget.grab().save(str(ARTIFACTS / f"{name}.png"))


def _file_state(path: Path) -> dict:
    with Project.open(path, read_only=True, take_lock=False) as p:
        events = p.events()
        return {"items": p.count_items(), "labels": p.current_labels(),
                "events": events, "models": p._conn.execute(
                    "SELECT COUNT(*) FROM models").fetchone()[0]}


def test_create_import_label_retrain_undo_export(qtbot, tmp_path, settings_home) -> None:
    from alapp.ui.app import Application
    from alapp.ui.resources import install_fonts
    from alapp.ui.start_screen import NewProjectDialog, StartScreen

    install_fonts(qtbot_app())
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    gold = {r["id"]: r["gold"] for r in rows}
    data = tmp_path / "tickets.csv"
    with data.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["uid", "message"])
        writer.writerows([r["id"], r["text"]] for r in rows[:150])

    # -- create ----------------------------------------------------------------------------
    app = Application()
    app.open(None)
    start = app.start
    assert isinstance(start, StartScreen)
    qtbot.addWidget(start)
    _shot(start, "start-screen")
    dialog = NewProjectDialog(start)
    dialog.name.setText("Tickets")
    dialog.labels.setPlainText("\n".join(LABELS))
    dialog.folder.setText(str(tmp_path))
    dialog.create_project()
    path = tmp_path / "Tickets.alapp"
    assert dialog.created == path
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.labels() == LABELS and p.settings().name == "Tickets"
    start.open_project.emit(path)
    window = app.window
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: getattr(window, "wizard", None) is not None
                    and window.wizard.isVisible(), timeout=5_000)

    # -- import: preview, check (nothing written), import -------------------------------------
    wizard = window.wizard
    wizard.set_file(data)
    assert wizard.preview.columns == ["uid", "message"]
    assert wizard.text_column.currentText() == "message"  # guessed from the name
    assert wizard.id_column.currentText() == "uid"
    assert not wizard.run.isEnabled()  # only after a clean check
    wizard.check.click()
    qtbot.waitUntil(wizard.run.isEnabled, timeout=30_000)
    assert "No problems: 150 items" in wizard.message.text()
    assert _file_state(path)["items"]["pool"] == 0  # the check wrote nothing
    _shot(wizard, "import-wizard")
    wizard.run.click()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=30_000)
    assert _file_state(path)["items"]["pool"] == 150
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)

    # -- a held-out test set first ------------------------------------------------------------
    assert window.view.test_banner.isVisible()
    window.start_test_set(size=5)
    assert not window.view.test_banner.isVisible()
    for _ in range(5):
        entry = window.entry
        assert entry is not None and entry.source == "test-set"
        key = LABELS.index(gold[window.session.reader.item(entry.item_id).ext_id]) + 1
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{key}"))
    state = _file_state(path)
    assert state["items"]["test"] == 5 and len(state["labels"]) == 5

    # -- label with keys, retrain in the background ---------------------------------------------
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    labeled = []
    for _ in range(12):
        entry = window.entry
        assert entry is not None and entry.strategy != "test-set"
        label = gold[window.session.reader.item(entry.item_id).ext_id]
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{LABELS.index(label) + 1}"))
        labeled.append((entry.item_id, label))
        qtbot.waitUntil(lambda: window.entry is not None, timeout=60_000)
    state = _file_state(path)
    assert [state["labels"].get(i) for i, _ in labeled] == [lab for _, lab in labeled], \
        [(e["item_id"], e["label"], e["strategy"]) for e in state["events"]]
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    assert _file_state(path)["models"] >= 1
    _shot(window, "labeling")
    window.panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.panel.curve is not None, timeout=5_000)
    qtbot.wait(300)  # let the new charts lay out and paint
    assert len(window.panel.curve.model_line.getData()[0]) >= 1
    _shot(window, "model-panel")
    window.panel.tabs.setCurrentIndex(0)

    # -- undo: the last label is undone in the file, and the item is back first ----------------
    last_item, _ = labeled[-1]
    qtbot.keyClick(window, Qt.Key.Key_Backspace)
    assert last_item not in _file_state(path)["labels"]
    assert window.entry is not None and window.entry.item_id == last_item

    # -- history: Left goes to the latest decision; a label key changes it -----------------------
    previous_item, previous_label = labeled[-2]
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.history_index == 0 and window.view.history_banner.isVisible()
    other = next(lab for lab in LABELS if lab != previous_label)
    qtbot.keyClick(window, getattr(Qt.Key, f"Key_{LABELS.index(other) + 1}"))
    assert _file_state(path)["labels"][previous_item] == other
    _shot(window, "history-edit")
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.history_index is None and window.entry.item_id == last_item

    # -- browse and relabel from there ---------------------------------------------------------
    window.browse()
    browser = window.browser
    browser.annotator.setCurrentText(window.session.annotator)
    assert {r.item_id for r in browser.rows} >= {i for i, _ in labeled[:-1]}
    _shot(browser, "browse")
    browser.table.selectRow(0)
    target = browser.rows[0].item_id
    browser.relabel("praise")
    assert _file_state(path)["labels"][target] == "praise"
    browser.close()

    # -- settings: strategy and a remapped key -----------------------------------------------------
    window.settings_dialog()
    settings = window.settings_window
    settings.strategy.setCurrentText("margin")
    settings.batch_size.setValue(7)
    settings.keys["skip"].setKeySequence("K")
    _shot(settings, "settings")
    settings.apply()
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.settings().strategy == "margin" and p.settings().batch_size == 7
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    skipped = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_K)  # the remapped skip
    assert any(e["item_id"] == skipped and e["action"] == "skip"
               for e in _file_state(path)["events"])

    # -- export ----------------------------------------------------------------------------------
    out = tmp_path / "labels.jsonl"
    count = window.export_to(out)
    exported = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert count == len(exported) == len(_file_state(path)["labels"])
    assert {r["label"] for r in exported} <= set(LABELS)
    window.close()


def test_multi_label_toggles_and_confirm(qtbot, tmp_path, settings_home) -> None:
    from alapp.store.importer import ImportSpec, import_file
    from alapp.ui.main_window import MainWindow

    path = tmp_path / "multi.alapp"
    project = Project.create(path, ["sport", "politics", "money"], multi_label=True,
                             featurizer="tfidf")
    data = tmp_path / "t.txt"
    data.write_text("\n".join(f"text number {i} about things" for i in range(30)), "utf-8")
    import_file(project, data, ImportSpec(format="txt"))
    project.close()
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    first = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.keyClick(window, Qt.Key.Key_3)
    assert window.view.buttons["sport"].isChecked() and window.view.buttons["money"].isChecked()
    _shot(window, "multi-label")
    assert first not in _file_state(path)["labels"]  # toggles alone write nothing
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert _file_state(path)["labels"][first] == "sport|money"
    assert not window.view.buttons["sport"].isChecked()  # the next item starts clear
    qtbot.keyClick(window, Qt.Key.Key_2)  # a choice on the next item, then undo instead
    qtbot.keyClick(window, Qt.Key.Key_Backspace)
    assert window.entry.item_id == first and window.toggled == set()
    assert not window.view.buttons["politics"].isChecked()
    window.close()


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def test_settings_refuse_a_folder_that_is_not_a_model_and_take_one_that_is(
        qtbot, tmp_path, settings_home, tiny_bert) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    not_a_model = tmp_path / "copied"
    not_a_model.mkdir()
    (not_a_model / "pytorch_model.bin").write_bytes(b"pickle")
    dialog = SettingsDialog(ProjectSettings(), [])
    qtbot.addWidget(dialog)
    dialog.featurizer.setCurrentText(str(not_a_model))
    dialog.apply()
    assert "not a Hugging Face model folder" in dialog.error.text()
    assert dialog.result() == 0 and dialog.changes == {}  # nothing kept
    dialog.featurizer.setCurrentText(str(tiny_bert))
    dialog.retrain_every.setValue(0)
    dialog.apply()
    assert dialog.changes == {"featurizer": str(tiny_bert), "retrain_every": 0}
    assert dialog.retrain_every.text() == "manual (Ctrl+R)"


@pytest.mark.slow
def test_compare_strategies_on_a_labeled_file(qtbot, tmp_path, settings_home) -> None:
    from alapp.store.demo import create_demo_project
    from alapp.ui.simulation_dialog import SimulationDialog

    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    labeled = tmp_path / "labeled.csv"
    with labeled.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([r["text"], r["gold"]] for r in rows)
    path = tmp_path / "p.alapp"
    create_demo_project(path).close()
    from alapp.app.compare import SimulationConfig

    small = SimulationConfig(["random", "margin"], batch=10, budget=60, seeds=2)
    dialog = SimulationDialog(path, None, labeled, small)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(dialog.use.isEnabled, timeout=300_000)
    assert dialog.recommended in dialog.status.text()
    _shot(dialog, "compare-on-file")
    dialog.close()
