"""The real window (offscreen): labeling stops at the budget with a clear message and an
"Extend budget…" action, earlier decisions stay editable, extending resumes; the Model tab
shows the test score with its interval and the test-set size the precision needs.

Screenshots at 1366x768 go to test-artifacts/1366/; with ALAPP_SCREENSHOTS_TO=docs/screenshots
they go there instead."""

from __future__ import annotations

import os
from pathlib import Path

from alapp.al import stopping
from alapp.store.demo import create_demo_project
from alapp.store.project import Project

ROOT = Path(__file__).resolve().parents[1]


def _app():
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    app = QApplication.instance()
    install_fonts(app)
    return app


def _shot(widget, name: str) -> None:
    out = Path(os.environ.get("ALAPP_SCREENSHOTS_TO") or ROOT / "test-artifacts" / "1366")
    out.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(out / f"{name}.png"))


def _open(qtbot, path: Path):
    from alapp.ui.main_window import MainWindow

    _app()
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    return window


def _decisions(path: Path) -> int:
    with Project.open(path, read_only=True, take_lock=False) as p:
        return sum(e["action"] == "label" and e["source"] != "import" for e in p.events())


def test_labeling_stops_at_the_budget_and_extending_resumes(qtbot, tmp_path) -> None:
    from PySide6.QtCore import Qt

    path = tmp_path / "demo.alapp"
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf", budget_unit="items", budget_amount=3.0)
    project.close()
    window = _open(qtbot, path)
    assert not window.budget_banner.isVisible()
    for _ in range(3):
        assert window.entry is not None
        qtbot.keyClick(window, Qt.Key.Key_1)
    assert _decisions(path) == 3

    # Stopped: a banner with the reason and the action; no item; the keys do nothing.
    banner = window.budget_banner
    assert banner.isVisible() and banner.extend.isVisible()
    assert banner.text.text().startswith("The budget is spent: 3 of 3 labels. Labeling has "
                                         "stopped.")
    assert window.entry is None
    assert window.view.text.toPlainText().startswith("The budget is spent: 3 of 3 labels.")
    assert not any(b.isEnabled() for b in window.view.buttons.values())
    assert window.panel.budget.format() == "100% · labeling stopped"
    assert window.panel.budget_text.text() == "Spent 3 of 3 labels (100%); 0 left"
    qtbot.keyClick(window, Qt.Key.Key_2)
    qtbot.keyClick(window, Qt.Key.Key_Return)
    assert _decisions(path) == 3
    _shot(window, "budget-stop-1366")

    # An earlier decision can still be changed (and is counted: 4 of 3).
    labels = window.session.labels()
    qtbot.keyClick(window, Qt.Key.Key_Left)
    changed = window.decisions[0].item_id
    qtbot.keyClick(window, Qt.Key.Key_5)
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.current_labels()[changed] == labels[4]
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert banner.isVisible() and window.entry is None
    assert "4 of 3 labels" in banner.text.text()

    # Extend budget…: asks for the amount (window-modal), saves it, labeling goes on.
    qtbot.mouseClick(banner.extend, Qt.MouseButton.LeftButton)
    dialog = window.budget_window
    assert dialog.isVisible() and "Spent so far: 4 labels of 3 labels" in dialog.labelText()
    assert dialog.doubleMinimum() == 5.0  # more than what is spent
    dialog.setDoubleValue(6.0)
    dialog.accept()
    assert window.session.settings().budget_amount == 6.0
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p.settings().budget_amount == 6.0
    assert not banner.isVisible() and window.entry is not None
    assert any(b.isEnabled() for b in window.view.buttons.values())
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert _decisions(path) == 6  # 3 labels, 1 change, 2 labels
    assert banner.isVisible() and window.entry is None  # spent again at 6 of 6
    assert "6 of 6 labels" in banner.text.text()
    window.close()


def test_the_model_tab_shows_the_interval_and_the_test_set_advice(qtbot) -> None:
    from alapp.app.session import RoundResult
    from alapp.ui.side_panel import SidePanel

    _app()
    panel = SidePanel()
    qtbot.addWidget(panel)
    metrics = {"accuracy": 0.84, "test_items": 250.0, "macro_f1": 0.83,
               "confusion": {"labels": ["a", "b"], "matrix": [[100, 20], [20, 110]]}}
    metrics.update(stopping.interval_metrics(metrics, 0.03))
    signal = stopping.target_metric(0.84, 0.85, n=250)
    panel.show_model(RoundResult([], {}, 40, metrics, round_index=3, strategy="margin",
                                 signals=[signal]))
    text = panel.model_state.text()
    assert "Test set: accuracy 0.84 [0.79, 0.88] on 250 test items (95% interval)" in text
    assert text.endswith("for ±3 points you need about 574 test items; you have 250")
    assert panel.signals.text() == ("○ target: test accuracy 0.84 [0.79, 0.88] vs target "
                                    "0.85: within noise")
    panel.resize(560, 700)
    panel.tabs.setCurrentWidget(panel.model_scroll)
    _shot(panel, "budget-test-interval-panel")
