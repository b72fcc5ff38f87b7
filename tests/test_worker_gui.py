"""Issue 20 in the window: on a server project the status bar says who else is labeling
("Also labeling: ..."), from the presence rows the other sessions write; a screenshot at
1366x768 goes to test-artifacts/ (with ALAPP_SCREENSHOTS_TO=docs/screenshots, to the docs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QApplication

from alapp.store import presence
from alapp.store.project import Project
from tests.test_worker import _labeled_project

SHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
             or Path(__file__).resolve().parent.parent / "test-artifacts")


@pytest.fixture
def window(qtbot, pg_address, tmp_path):
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    _labeled_project(pg_address, tmp_path)
    w = MainWindow(pg_address, annotator="Rita")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: not w.work.busy, timeout=60_000)
    yield w
    w.close()


def test_the_status_bar_shows_who_else_is_labeling(window, qtbot, pg_address) -> None:
    window.show_presence()
    assert window.presence_label.text() == "" and not window.presence_label.isVisible()
    with Project.open(pg_address) as other:  # two other machines on the same project
        presence.beat(other, "ana-laptop", "Ана", "laptop-2", "gui", "labeling")
        presence.beat(other, "gpu-worker", "worker", "gpu-box", "worker", "training")
        with other.transaction() as conn:  # Ana's last heartbeat was 100 s ago
            conn.execute("UPDATE presence SET last_seen = last_seen - 100 "
                         "WHERE session = 'ana-laptop'")
        window.presence_timer.timeout.emit()  # the 15-second tick
        assert window.presence_label.text() == \
            "Also labeling: worker on gpu-box (training), Ана (2 min ago)"
        assert window.presence_label.isVisible()
        window.resize(1366, 768)
        QApplication.processEvents()
        SHOTS.mkdir(parents=True, exist_ok=True)
        assert window.grab().save(str(SHOTS / "presence-status-bar.png"))
        with other.transaction() as conn:  # three minutes without a heartbeat: not shown
            conn.execute("UPDATE presence SET last_seen = last_seen - 80 "
                         "WHERE session = 'ana-laptop'")
        presence.leave(other, "gpu-worker")  # the worker stopped
    window.show_presence()
    assert window.presence_label.text() == "" and not window.presence_label.isVisible()
    # this window's own row is there for the others, and labeled as a window's
    with Project.open(pg_address, read_only=True) as other:
        mine = [(p.annotator, p.role) for p in presence.present(other)]
    assert mine == [("Rita", "gui")]


def test_the_window_takes_the_workers_round_instead_of_training(window, qtbot,
                                                                 pg_address) -> None:
    """Another machine holds the trainer lock: the window's round trains nothing, says who
    trains, and shows that machine's model version and queue once it is saved."""
    from alapp.app.rounds import save_result, snapshot_of
    from alapp.loop.round import RoundRunner
    from alapp.store import trainer
    from alapp.store.trainer import RoundOrigin, TrainerLock

    rounds_before = window.session.round_count()
    with Project.open(pg_address) as gpu_box, TrainerLock(gpu_box) as lock:
        assert lock.try_take()
        presence.beat(gpu_box, "gpu-worker", "worker", "gpu-box", "worker", "training")
        window.request_round()
        qtbot.waitUntil(lambda: "worker on gpu-box is training" in
                        window.panel.model_state.text(), timeout=20_000)
        assert window.work.busy
        window.show_presence()
        assert window.presence_label.text() == "Also labeling: worker on gpu-box (training)"
        window.panel.tabs.setCurrentWidget(window.panel.model_scroll)
        window.resize(1366, 768)
        QApplication.processEvents()
        assert window.grab().save(str(SHOTS / "presence-worker-training.png"))
        result = RoundRunner().run(snapshot_of(gpu_box))
        save_result(gpu_box, result, origin=RoundOrigin("worker", "gpu-box",
                                                        trainer.last_event(gpu_box)))
        lock.release()
        # the round's result reaches the window as a queued signal, and the job's thread may
        # go idle before the window has handled it: wait for what the window shows
        qtbot.waitUntil(lambda: not window.work.busy and "Note: trained by worker on gpu-box"
                        in window.panel.model_state.text(), timeout=30_000)
        presence.leave(gpu_box, "gpu-worker")
        queued = window.session.queue()
        newest = trainer.newest_round(gpu_box)
    assert newest is not None and newest.origin == RoundOrigin("worker", "gpu-box", 10)
    assert window.session.round_count() == rounds_before + 1  # the worker's, not a second
    assert "Note: trained by worker on gpu-box" in window.panel.model_state.text()
    assert f"trained on {result.n_labeled} labels" in window.panel.model_state.text()
    # the window labels from the worker's queue: its picks, behind the item on screen (and a
    # random pick still waiting, which a round keeps)
    assert window.entry is not None and window.entry.item_id == queued[0].item_id
    window.resize(1366, 768)
    QApplication.processEvents()
    assert window.grab().save(str(SHOTS / "presence-worker-model-taken.png"))
    from_worker = [e for e in queued if e.round_id == newest.round_id]
    assert len(from_worker) >= len(result.picks) - 2
    assert {e.item_id for e in from_worker} <= {p.item_id for p in result.picks}
