"""Is the window responsive? The real MainWindow (offscreen) on a 100,000-item project.

- Longest stall: a 5 ms heartbeat timer on the GUI thread while full rounds (read the project,
  train, score the 100k pool, select, then save and redraw on the GUI thread) run; the stall is
  the longest gap between beats beyond the timer's own interval.
- Keypress to next item: a number key through Qt's key event path, the label written to disk
  (its own transaction, synchronous=FULL), the panels refreshed and the next item painted.
- Opening each side-panel tab and each dialog (browse, settings, compare strategies, import
  wizard): the longest heartbeat gap from the call on the GUI thread until its layout, paint
  and deferred work settle (``--settle-ms``), no round running meanwhile.

Prints JSON. Usage: QT_QPA_PLATFORM=offscreen python bench/bench_gui.py [--pool N] [--rounds N]
[--keys N] [--settle-ms N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_loop import build
from machine import machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--settle-ms", type=int, default=500)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from alapp.store.project import Project
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    app = QApplication.instance() or QApplication([])
    install_fonts(app)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        path = build(Path(tmp), args.pool, 10, "logreg", "margin")
        with Project.open(path) as project:
            gold = dict(project._conn.execute(
                "SELECT id, json_extract(meta, '$.gold') FROM items"))
            for item in project.item_ids()[: args.labels]:
                project.label_item(item, gold[item], "setup")
        build_s = time.perf_counter() - t

        window = MainWindow(path, annotator="bench")
        gui_thread_apply_ms: list[float] = []
        original_done = window._round_done

        def timed_done(result: object) -> None:  # the part of a round that is on the GUI thread
            t = time.perf_counter()
            original_done(result)  # type: ignore[arg-type]
            gui_thread_apply_ms.append((time.perf_counter() - t) * 1000)

        window.work.done.disconnect(original_done)
        window.work.done.connect(timed_done)
        window.show()
        window.activateWindow()

        def wait_idle(limit_s: float = 600) -> None:
            deadline = time.monotonic() + limit_s
            while window.work.busy and time.monotonic() < deadline:
                app.processEvents()
                time.sleep(0.001)
            app.processEvents()

        t = time.perf_counter()
        wait_idle()
        first_round_s = time.perf_counter() - t  # includes loading 100k vectors

        # -- heartbeat during full rounds --------------------------------------------------------
        beats: list[int] = []
        clock = QElapsedTimer()
        clock.start()
        heartbeat = QTimer()
        heartbeat.setInterval(5)
        heartbeat.timeout.connect(lambda: beats.append(clock.nsecsElapsed()))
        stalls = []
        round_seconds = []
        for _ in range(args.rounds):
            beats.clear()
            heartbeat.start()
            t = time.perf_counter()
            window.request_round()
            wait_idle()
            round_seconds.append(time.perf_counter() - t)
            end = time.monotonic() + 0.1
            while time.monotonic() < end:  # beats after the GUI-thread save and redraw
                app.processEvents()
                time.sleep(0.001)
            heartbeat.stop()
            gaps_ms = np.diff(beats) / 1e6
            stalls.append(float(gaps_ms.max() - 5.0))

        # -- keypress to next item -------------------------------------------------------------
        window.activateWindow()
        app.processEvents()
        latencies = []
        for _ in range(args.keys):
            if window.entry is None:
                window.request_round()
                wait_idle()
            before = window.entry.item_id if window.entry else None
            t = time.perf_counter()
            QTest.keyClick(window, Qt.Key.Key_1)
            window.view.text.viewport().repaint()  # paint now, not at the next idle
            latencies.append((time.perf_counter() - t) * 1000)
            assert window.entry is None or window.entry.item_id != before
            app.processEvents()
            wait_idle()  # a retrain may start every 10 labels; let it finish between keys

        # -- opening each side-panel tab and each dialog ---------------------------------------
        def pump(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                app.processEvents()
                time.sleep(0.001)

        def open_stall_ms(action: Callable[[], object]) -> float:
            """The longest gap between beats beyond the interval, from ``action`` on the GUI
            thread until its events (layout, paint, deferred loads) have settled."""
            wait_idle()
            pump(0.05)
            beats.clear()
            heartbeat.start()
            pump(0.05)  # beats before the action, so its whole duration is a gap
            action()
            pump(args.settle_ms / 1000)
            heartbeat.stop()
            return float(max(np.diff(beats).max() / 1e6 - 5.0, 0.0))

        open_stalls: dict[str, float] = {}
        window.side_panel_action.setChecked(True)
        tabs = window.panel.tabs
        tabs.setCurrentIndex(0)
        pump(0.2)
        for index in [*range(1, tabs.count()), 0]:  # each tab opened from another, first visits
            open_stalls[f"tab {tabs.tabText(index)}"] = open_stall_ms(
                lambda i=index: tabs.setCurrentIndex(i))
        dialogs: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
            ("browse", window.browse, lambda: window.browser.close()),
            ("settings", window.settings_dialog, lambda: window.settings_window.reject()),
            ("compare strategies", lambda: window.compare_strategies(),
             lambda: window.simulation.close()),
            ("import wizard", window.import_dialog, lambda: window.wizard.reject()),
        ]
        for name, open_it, close_it in dialogs:
            open_stalls[f"dialog {name}"] = open_stall_ms(open_it)
            close_it()
            pump(0.1)
        window.close()

    print(json.dumps({
        "benchmark": "gui_responsiveness", "pool": args.pool, "labels": args.labels,
        "classifier": "logreg", "strategy": "margin", "featurizer": "vectors (384-d)",
        "build_s": round(build_s, 1),
        "first_round_s_including_vector_load": round(first_round_s, 2),
        "round_s": [round(r, 2) for r in round_seconds],
        "longest_stall_ms_per_round": [round(s, 1) for s in stalls],
        "longest_stall_ms": round(max(stalls), 1), "stall_target_ms": 50,
        "gui_thread_save_and_redraw_ms": [round(x, 1) for x in gui_thread_apply_ms],
        "keypress_to_next_item_ms": {
            "median": round(float(np.median(latencies)), 2),
            "p95": round(float(np.percentile(latencies, 95)), 2),
            "max": round(float(np.max(latencies)), 2), "n": len(latencies)},
        "keypress_target_median_ms": 16,
        "open_stall_ms": {name: round(ms, 1) for name, ms in open_stalls.items()},
        "open_stall_max_ms": round(max(open_stalls.values()), 1),
        "open_settle_ms": args.settle_ms,
        "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
