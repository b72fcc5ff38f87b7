"""Multi-label labeling in the window (issue 21): toggles show the model's per-label
probability, keys toggle, Enter confirms, 0 is "none of these", undo and relabel in history
work on sets, and the Model tab shows a per-label table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from tests.test_gui_workflow import _file_state, settings_home  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("settings_home")  # QSettings in a temporary folder
# test-artifacts/ by default; ALAPP_SCREENSHOTS_TO=docs/screenshots refreshes the documented ones
SCREENSHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
                   or Path(__file__).resolve().parents[1] / "test-artifacts" / "1366")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
LABELS = ["billing", "delivery", "refund"]
TEXTS = {"billing": "charged twice on my card invoice", "delivery": "the parcel courier is late",
         "refund": "I want my money back refund"}


def _project(tmp_path: Path) -> Path:
    path = tmp_path / "multi.alapp"
    project = Project.create(path, LABELS, multi_label=True, featurizer="tfidf",
                             batch_size=5, retrain_every=0)
    data = tmp_path / "t.txt"
    combos = [["billing"], ["delivery"], ["refund"], ["billing", "delivery"], []]
    lines = [" ".join([TEXTS[c] for c in combos[i % 5]] + [f"ticket {i} hello"])
             for i in range(40)]
    data.write_text("\n".join(lines), "utf-8")
    import_file(project, data, ImportSpec(format="txt"))
    for i in range(1, 16):  # labeled before the window opens: the first round trains
        project.label_item(i, "|".join(combos[(i - 1) % 5]), "seed")
    project.close()
    return path


def _window(qtbot, path: Path):
    from alapp.ui.main_window import MainWindow

    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=90_000)
    return window


def test_toggles_show_probabilities_keys_toggle_and_enter_confirms(qtbot, tmp_path) -> None:
    path = _project(tmp_path)
    window = _window(qtbot, path)
    probs = window.session.last_result.label_probs_of(window.entry.item_id)
    assert probs is not None and set(probs) == set(LABELS)
    for name in LABELS:  # each toggle carries the model's probability for its label
        assert f"{probs[name]:.0%}" in window.view.buttons[name].text()
    assert "none of these" in window.view.hint.text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(SCREENSHOTS / "multilabel_toggles.png"))
    first = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_3)
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.keyClick(window, Qt.Key.Key_3)  # toggled off again
    assert window.toggled == {"billing"}
    assert first not in _file_state(path)["labels"]
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert _file_state(path)["labels"][first] == "billing"
    window.close()


def test_none_of_these_then_undo_then_relabel_in_history(qtbot, tmp_path) -> None:
    path = _project(tmp_path)
    window = _window(qtbot, path)
    first = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_2)  # a toggle, then "none of these" overrides it
    qtbot.keyClick(window, Qt.Key.Key_0)
    state = _file_state(path)
    assert state["labels"][first] == ""  # the explicit empty set
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.label_set(state["events"][-1]["id"]) == []
    qtbot.keyClick(window, Qt.Key.Key_Backspace)  # undo: the item is back, unlabeled
    assert window.entry.item_id == first and first not in _file_state(path)["labels"]
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.keyClick(window, Qt.Key.Key_2)
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert _file_state(path)["labels"][first] == "billing|delivery"
    qtbot.keyClick(window, Qt.Key.Key_Left)  # history: the decision just made
    assert window.history_index == 0
    assert window.view.buttons["billing"].isChecked()
    assert window.view.buttons["delivery"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_3)  # relabel: refund joins the set
    assert _file_state(path)["labels"][first] == "billing|delivery|refund"
    qtbot.keyClick(window, Qt.Key.Key_1)  # and billing leaves it
    assert _file_state(path)["labels"][first] == "delivery|refund"
    qtbot.keyClick(window, Qt.Key.Key_0)  # none of these, from history
    assert _file_state(path)["labels"][first] == ""
    assert "none of these" in window.view.history_banner.text()
    window.close()


def test_the_model_tab_shows_a_per_label_table(qtbot, tmp_path) -> None:
    path = _project(tmp_path)
    with Project.open(path) as project:  # a labeled test split: metrics per label
        for item in range(30, 41):
            project._conn.execute("UPDATE items SET split = 'test' WHERE id = ?", (item,))
            project.label_item(item, ["billing", "delivery", "refund", "billing|delivery",
                                      ""][(item - 1) % 5], "seed")
    window = _window(qtbot, path)
    window.panel.tabs.setCurrentWidget(window.panel.model_scroll)
    qtbot.waitUntil(lambda: window.panel.confusion is not None, timeout=10_000)
    window.panel.show_history_chart(window.session.model_history())
    table = window.panel.confusion
    assert table.rowCount() == 3 and table.columnCount() == 4  # TP/FP/FN on hover
    assert table.horizontalHeaderItem(0).text() == "items"
    assert table.item(0, 0).toolTip().startswith("billing: ")
    assert window.panel.confusion_box.title().startswith("Per label")
    assert "micro-F1" in window.panel.model_state.text()
    window.panel.grab().save(str(SCREENSHOTS / "multilabel_model_tab.png"))
    window.close()


def test_settings_offer_the_multilabel_model_and_strategies(qtbot) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(multi_label=True, strategy="ml-mmc"), [])
    qtbot.addWidget(dialog)
    names = [dialog.strategy.itemText(i) for i in range(dialog.strategy.count())]
    assert {"ml-mmc", "ml-margin-mean", "ml-cardinality"} <= set(names)
    dialog.multilabel_model.setCurrentText("chains")
    dialog.apply()
    assert dialog.changes == {"multilabel_model": "chains"}
    single = SettingsDialog(ProjectSettings(), [])
    qtbot.addWidget(single)
    assert not single.multilabel_model.isVisibleTo(single)  # not offered to single-label
