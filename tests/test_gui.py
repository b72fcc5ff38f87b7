"""The real window, offscreen: label with keys, undo, retrain in the background, close."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt

from alapp.store.demo import create_demo_project
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def window(qtbot, tmp_path):
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(qtbot_app())
    path = tmp_path / "demo.alapp"
    create_demo_project(path).close()
    w = MainWindow(path, annotator="tester")
    qtbot.addWidget(w)
    w.show()
    w.activateWindow()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy, timeout=60_000)
    yield w
    w.close()


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def _labels_in_file(path: Path) -> dict[int, str]:
    with Project.open(path, read_only=True) as p:
        return {i: lab for i, lab in p.current_labels().items()
                if p.item(i).split.value == "pool"}


def test_label_with_keys_undo_and_retrain(window, qtbot) -> None:
    path = window.session.reader.path
    ARTIFACTS.mkdir(exist_ok=True)
    window.grab().save(str(ARTIFACTS / "labeling-cold-start.png"))
    first = window.entry
    assert first is not None and first.strategy == "cold-start"

    qtbot.keyClick(window, Qt.Key.Key_2)  # "delivery", and on to the next item
    assert _labels_in_file(path) == {first.item_id: "delivery"}
    assert window.entry is not None and window.entry.item_id != first.item_id

    qtbot.keyClick(window, Qt.Key.Key_Backspace)
    assert _labels_in_file(path) == {}
    assert window.entry is not None and window.entry.item_id == first.item_id

    labels = window.session.reader.labels()
    for i in range(10):  # the tenth label triggers a retrain in the background
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{i % 5 + 1}"))
    assert len(_labels_in_file(path)) == 10
    qtbot.waitUntil(lambda: window.session.last_result is not None
                    and window.session.last_result.n_labeled == 10, timeout=60_000)
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)
    assert window.entry is not None and window.entry.predicted is not None
    assert window.entry.predicted[0] in labels
    window.grab().save(str(ARTIFACTS / "labeling-after-retrain.png"))

    predicted = window.entry.predicted[0]
    item = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_Return)  # accept the prediction
    assert _labels_in_file(path)[item] == predicted
    with Project.open(path, read_only=True) as p:
        event = p.events(item)[-1]
        assert event["annotator"] == "tester"
        assert event["active_ms"] is not None and event["active_ms"] >= 0
        assert event["round_id"] is not None
        assert p.integrity_ok()


def test_skip_and_flag(window, qtbot, monkeypatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("", True))  # no comment
    first = window.entry
    assert first is not None
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.keyClick(window, Qt.Key.Key_S)
    assert window.entry is not None and window.entry.item_id != first.item_id
    actions = [e["action"] for e in window.session.reader.events(first.item_id)]
    assert actions == ["flag", "skip"]


def test_closing_leaves_no_thread(window, qtbot) -> None:
    window.request_round()
    window.close()
    assert not [t for t in threading.enumerate() if t.name == "alapp-round"]


@pytest.mark.slow
def test_compare_strategies_dialog_shows_curves_and_applies_the_choice(window, qtbot) -> None:
    import json

    from alapp.store.demo import demo_data_path

    gold = {json.loads(line)["id"]: json.loads(line)["gold"]
            for line in demo_data_path().read_text("utf-8").splitlines()}
    reader = window.session.reader
    for item in reader.item_ids("pool")[:50]:
        label = gold[reader.item(item).ext_id]
        window.session.writer.call(lambda p, item=item, label=label: p.label_item(item, label,
                                                                                  "tester"))
    window.compare_strategies()
    dialog = window.simulation
    qtbot.waitUntil(lambda: dialog.use.isEnabled(), timeout=120_000)
    assert "Recommended" in dialog.status.text()
    assert window.simulation.recommended in dialog.status.text()
    dialog.grab().save(str(ARTIFACTS / "compare-strategies.png"))
    dialog.use.click()
    assert window.session.reader.settings().strategy == dialog.recommended
    dialog.close()
    qtbot.waitUntil(lambda: not window.work.busy, timeout=60_000)


def test_active_time_excludes_idle_and_window_inactive_periods(window, qtbot) -> None:
    """Real key and focus events through the window's event filter, with a hand-driven clock."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from alapp.core.timing import ActiveTimer

    now = [1000.0]
    window.timer = ActiveTimer(60.0, clock=lambda: now[0])
    window.refresh()  # shows the item: the clock starts
    first = window.entry
    now[0] += 5
    QApplication.sendEvent(QApplication.instance(), QEvent(QEvent.Type.ApplicationDeactivate))
    now[0] += 100  # in another window: not counted
    QApplication.sendEvent(QApplication.instance(), QEvent(QEvent.Type.ApplicationActivate))
    now[0] += 3
    qtbot.keyClick(window, Qt.Key.Key_1)
    second = window.entry
    now[0] += 200  # no input at all: counts only up to the 60 s cutoff
    qtbot.keyClick(window, Qt.Key.Key_1)
    timed = {e["item_id"]: e["active_ms"] for e in window.session.reader.events()
             if e["action"] == "label" and e["annotator"] == "tester"}
    assert timed == {first.item_id: 8_000, second.item_id: 60_000}


@pytest.mark.parametrize("outcome", ["done", "failed", "cancelled", "cancelled-after-last-report"])
def test_every_round_outcome_leaves_the_window_idle(window, qtbot, monkeypatch, outcome) -> None:
    """Whatever way a round ends, the progress bar and the Cancel button go away and the panel
    says when the next retrain happens."""
    import alapp.ui.main_window as main_window

    warnings: list[str] = []
    monkeypatch.setattr(main_window.QMessageBox, "warning",
                        lambda parent, title, text: warnings.append(text))
    real = window.round_job
    reported, release = threading.Event(), threading.Event()

    def work(progress):
        if outcome == "failed":
            raise RuntimeError("the model exploded")
        if outcome == "cancelled":
            while True:
                progress.report("training", 0.5)
                reported.set()
                release.wait(0.01)
        result = real(progress)
        progress.report("done", 1.0)
        reported.set()
        release.wait(5)  # a cancel lands here, after the last report
        return result

    monkeypatch.setattr(window, "round_job", work)
    window.request_round()
    assert not window.panel.progress.isHidden() and not window.panel.cancel.isHidden()
    if outcome.startswith("cancelled"):
        assert reported.wait(60)
        qtbot.mouseClick(window.panel.cancel, Qt.MouseButton.LeftButton)
    release.set()
    qtbot.waitUntil(lambda: not window.work.busy and window.panel.progress.isHidden(),
                    timeout=60_000)
    assert window.panel.cancel.isHidden()
    assert "Retrains" in window.panel.next_retrain.text()
    assert warnings == (["RuntimeError: the model exploded"] if outcome == "failed" else [])
