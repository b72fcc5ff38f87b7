"""Defects from daily use, each through the real window or dialog (offscreen, pytest-qt):
Enter in Browse's search, the random share that never got labeled, absurd forecasts, budget
wording, "Why: score 1.000", the charts (all labels, the legend, the first-open stall), what the
strategy comparison replays, and its menu action. Screenshots at 1366x768 in English, Russian
and Chinese go to test-artifacts/."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from alapp.store.demo import DEMO_LABELS, demo_data_path
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SIZE = (1366, 768)
LABELS = {
    "en": [*DEMO_LABELS, "other"],
    "ru": ["оплата", "доставка", "техника", "аккаунт", "похвала", "другое"],
    "zh": ["账单", "配送", "技术", "账户", "表扬", "其他"],
}
ROWS = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
GOLD = {r["id"]: DEMO_LABELS.index(r["gold"]) for r in ROWS}  # ext id -> label index


def _project(tmp_path: Path, lang: str = "en", **settings) -> Path:
    """The demo's 300 messages with six labels in ``lang`` (the sixth, "other", has no
    item): 60 labeled test items, 240 to label. TF-IDF keeps rounds short."""
    labels = LABELS[lang]
    data = tmp_path / f"demo-{lang}.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for r in ROWS:
            row = {k: v for k, v in r.items() if k not in ("label", "gold")}
            if r["split"] == "test":
                row["label"] = labels[GOLD[r["id"]]]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    path = tmp_path / f"support-{lang}.alapp"
    project = Project.create(path, labels, name=f"Support ({lang})",
                             **{"batch_size": 20, "featurizer": "tfidf", **settings})
    import_file(project, data, ImportSpec(format="jsonl", split_column="split", meta=["lang"]))
    project.close()
    return path


def _open(qtbot, path: Path):
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    install_fonts(QApplication.instance())
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(*SIZE)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=120_000)
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    w = _open(qtbot, _project(tmp_path))
    yield w
    w.close()


def _gold_label(window, item_id: int) -> int:
    return GOLD[window.session.reader.item(item_id).ext_id]


def _label(window, qtbot, n: int) -> list[int]:
    """Label ``n`` items with their gold label by key, the way a person does: a retrain
    starts in the background every 10 labels and the next label waits for it."""
    done = []

    def idle() -> bool:  # the round's result is shown, not only computed
        return not window.work.busy and window.panel.progress.isHidden() \
            and window.entry is not None

    for _ in range(n):
        qtbot.waitUntil(idle, timeout=120_000)
        entry = window.entry
        done.append(entry.item_id)
        key = _gold_label(window, entry.item_id) + 1
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{key}"))
    qtbot.waitUntil(idle, timeout=120_000)
    return done


def _file_labels(path: Path) -> dict[int, str]:
    with Project.open(path, read_only=True, take_lock=False) as p:
        return p.current_labels()


def _shot(widget, name: str) -> None:
    for _ in range(3):  # the layout follows the newest texts before the picture
        QApplication.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    widget.grab().save(str(ARTIFACTS / f"{name}.png"))


class StallMeter:
    """The longest the GUI thread went without running a 5 ms timer (wall clock), and the
    most CPU it spent between two ticks: other processes on a busy machine stretch the first,
    not the second."""

    def __init__(self) -> None:
        self.longest = self.busiest = 0.0
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(5)

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()  # on the GUI thread
        self.longest = max(self.longest, now - self.last)
        self.busiest = max(self.busiest, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def stop(self) -> tuple[float, float]:
        self._tick()
        self.timer.stop()
        return self.longest, self.busiest


# -- 6. the Model tab: no stall on first open, every label, the legend off the lines ----------


def test_model_tab_opens_without_a_stall_and_shows_every_label(window, qtbot) -> None:
    """First in the file: pyqtgraph is not imported by an earlier test here."""
    _label(window, qtbot, 10)
    panel = window.panel
    # the retrain the tenth label started is shown first: what is timed is the tab opening,
    # not a round's result arriving during it
    qtbot.waitUntil(lambda: not window.work.busy and panel.progress.isHidden(), timeout=120_000)
    import gc

    gc.collect()  # a full collection the labeling made due is not the tab's work
    meter = StallMeter()
    qtbot.wait(50)
    panel.tabs.setCurrentIndex(1)  # the first open builds the charts
    qtbot.waitUntil(lambda: panel.confusion is not None, timeout=10_000)
    qtbot.wait(300)  # laid out and painted
    stall, busy = meter.stop()
    print(f"\nopening the Model tab: longest GUI-thread stall {stall * 1000:.0f} ms, "
          f"of which CPU on the GUI thread {busy * 1000:.0f} ms")
    # A regression guard, not the target (that is a benchmark's): on an idle 2-core machine
    # this measured 28-54 ms of GUI-thread CPU over a dozen runs, so 50 ms failed by chance;
    # the regression it guards against took 365-440 ms.
    assert busy < 0.080, f"the window froze for {busy * 1000:.0f} ms of work"
    assert stall < 0.150, f"the window froze for {stall * 1000:.0f} ms"  # was 365-440 ms

    table = panel.confusion
    labels = LABELS["en"]
    assert table.rowCount() == table.columnCount() == 6  # "other" has no test item: still a row
    # the whole names (the headers show them, or numbers when they do not fit: issue 17)
    name = Qt.ItemDataRole.UserRole
    assert [table.verticalHeaderItem(r).data(name) for r in range(6)] == labels
    assert [table.horizontalHeaderItem(c).data(name) for c in range(6)] == labels
    assert [table.horizontalHeaderItem(c).text() for c in range(6)] == \
        ([str(c + 1) for c in range(6)] if table.numbered else labels)
    assert sum(int(table.item(r, c).text()) for r in range(6) for c in range(6)) == 60
    assert "60 test items" in panel.confusion_box.title()
    for r in range(6):  # every row in view, not scrolled away
        assert table.visualRect(table.model().index(r, 0)).bottom() <= table.viewport().height()

    curve = panel.curve  # its key is a line under the chart, not a box over the lines
    assert curve.key.isVisible() and "active learning" in curve.key.text()
    assert curve.key.parentWidget() is curve.parentWidget()
    assert curve.key.geometry().top() >= curve.geometry().bottom()
    assert curve.getPlotItem().legend is None
    assert (window.width(), window.height()) == SIZE  # nothing grew the window off the screen
    _shot(window, "daily-model-tab-en")


# -- 2. the random share gets labels; the baseline is drawn --------------------------------


def test_the_random_share_is_labeled_across_retrains_and_the_baseline_drawn(
        window, qtbot) -> None:
    path = window.session.path
    settings = window.session.settings()
    assert (settings.batch_size, settings.retrain_every, settings.random_share) == (20, 10, 0.1)
    _label(window, qtbot, 60)  # six retrains, each replacing the batch after 10 labels
    with Project.open(path, read_only=True, take_lock=False) as p:
        random_labels = p._conn.execute(
            "SELECT COUNT(*) FROM label_events WHERE action = 'label' AND source = 'random'"
        ).fetchone()[0]
    print(f"\nrandom-share labels after 60: {random_labels}; model versions at "
          f"{[n for n, _ in window.session.model_history()]} labels")
    assert 4 <= random_labels <= 9  # about 10% of 60
    window.panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.panel.confusion is not None, timeout=10_000)
    qtbot.wait(200)
    history = window.session.model_history()
    baseline = [m for _, m in history if "random_baseline_accuracy" in m]
    assert len(baseline) >= 2
    xs, _ = window.panel.curve.baseline_line.getData()
    assert xs is not None and len(xs) == len(baseline)
    assert window.panel.curve.baseline_name == "random share"
    _shot(window, "daily-random-baseline-en")


# -- 1. Enter in Browse's search searches; relabelling many asks and undoes ------------------


def _answer_next_box(qtbot, accept: bool, seen: list[str]) -> None:
    """Answer the next modal message box (the relabel confirmation) when it shows."""

    def respond() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(10, respond)
            return
        seen.append(box.text())
        role = QMessageBox.ButtonRole.AcceptRole if accept else QMessageBox.ButtonRole.RejectRole
        next(b for b in box.buttons() if box.buttonRole(b) == role).click()

    QTimer.singleShot(0, respond)


def _select(browser, rows: range) -> list[int]:
    model = browser.table.selectionModel()
    model.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for r in rows:
        model.select(browser.table.model().index(r, 0), flags)
    return browser.selected_ids()


def test_enter_in_browse_search_searches_and_bulk_relabel_asks_and_undoes(window, qtbot) -> None:
    path = window.session.path
    _label(window, qtbot, 3)
    window.browse()
    browser = window.browser
    qtbot.waitExposed(browser)
    browser.activateWindow()  # as after a click in it: its default button takes Enter
    qtbot.waitUntil(browser.isActiveWindow, timeout=5_000)
    chosen = _select(browser, range(3))
    before = _file_labels(path)
    browser.search.setFocus()
    qtbot.keyClicks(browser.search, "order")
    qtbot.keyClick(browser.search, Qt.Key.Key_Return)
    assert _file_labels(path) == before, "Enter in the search box relabeled items"
    assert browser.search.text() == "order"
    assert 0 < len(browser.rows) < 300
    assert all("order" in r.text.lower() for r in browser.rows)

    # Several rows: a confirmation naming how many; Cancel changes nothing.
    browser.search.clear()
    qtbot.keyClick(browser.search, Qt.Key.Key_Return)
    chosen = _select(browser, range(4))
    seen: list[str] = []
    _answer_next_box(qtbot, accept=False, seen=seen)
    browser.relabel_buttons[5].click()  # "other": no item has it yet
    assert seen == ["Relabel 4 items as other?"]
    assert _file_labels(path) == before
    _answer_next_box(qtbot, accept=True, seen=seen)
    browser.relabel_buttons[5].click()
    after = _file_labels(path)
    assert all(after[i] == "other" for i in chosen)
    assert browser.undo_button.isEnabled() and "4 items" in browser.undo_button.text()
    _shot(browser, "daily-browse-relabel-en")

    # Undo relabel (Ctrl+Z in the dialog): every item's previous label, as one step.
    browser.activateWindow()  # back from the message box
    qtbot.waitUntil(browser.isActiveWindow, timeout=5_000)
    qtbot.keyClick(browser, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    restored = _file_labels(path)
    assert {i: restored.get(i) for i in chosen} == {i: before.get(i) for i in chosen}
    assert restored == before
    assert not browser.undo_button.isEnabled()
    assert "4 items got their previous label back" in browser.message.text()
    browser.close()


# -- 3. forecasts: credible ranges with their basis, or "not enough data yet" ------------------


def _fake_history(window, curve: list[tuple[int, float, float | None]]) -> None:
    """Replace the model versions with (labels, test accuracy, stabilizing kappa) points,
    through the writer (the way rounds store them)."""

    def write(p: Project) -> None:
        with p.transaction() as conn:
            conn.execute("DELETE FROM models")
            for n, accuracy, kappa in curve:
                metrics = {"accuracy": accuracy, "macro_f1": accuracy, "test_items": 60.0}
                if kappa is not None:
                    metrics["signal_stabilizing"] = kappa
                conn.execute("INSERT INTO models (created_at, kind, params, n_labeled, metrics) "
                             "VALUES (0, 'LogisticClassifier', '{}', ?, ?)",
                             (n, json.dumps(metrics)))

    window.session.writer.call(write)


def _budget_box_text(window) -> str:
    """Every line the Budget box shows (its pace and forecasts included)."""
    box = window.panel.budget_text.parentWidget()
    return "\n".join(label.text() for label in box.findChildren(QLabel))


def test_forecasts_are_ranges_with_their_basis_or_not_enough_data(window, qtbot) -> None:
    window.session.update_settings(target_accuracy=0.95)
    # A flat curve and one lucky round of agreement: the old forecasts said "target at
    # ~20971520 labels" and "predictions stable at ~20 labels".
    _fake_history(window, [(10, 0.50, None), (20, 0.51, 1.0), (30, 0.50, 0.80),
                           (40, 0.52, 0.85), (50, 0.51, 0.90), (60, 0.52, 0.90)])
    window.refresh()
    text = _budget_box_text(window)
    assert "Target accuracy: not enough data yet" in text, text
    assert "Stable predictions: reached" not in text and "stable at ~20" not in text
    assert not [n for n in re.findall(r"\d[\d,]*", text) if int(n.replace(",", "")) > 10_000]

    _fake_history(window, [(10, 0.50, None), (20, 0.51, 0.9)])
    window.refresh()
    assert "Target accuracy: not enough data yet (2 of 4 model versions)" in \
        _budget_box_text(window)

    window.session.update_settings(target_accuracy=0.8)
    _fake_history(window, [(n, 0.30 + 0.10 * float(__import__("math").log(n)) + d, None)
                           for n, d in zip((10, 20, 30, 40, 50, 60),
                                           (0.01, -0.01, 0.005, 0.0, -0.005, 0.01),
                                           strict=True)])
    window.refresh()
    line = next(t for t in _budget_box_text(window).splitlines()
                if t.startswith("Target accuracy"))
    match = re.fullmatch(r"Target accuracy: expected at (\d+)–(\d+) labels "
                         r"\(from 6 test-set scores(, .* more at this pace)?\)", line)
    assert match, line
    low, high = int(match[1]), int(match[2])
    assert 60 <= low < 148 < high <= 180  # around exp(5) = 148, within 3x the 60 so far
    _shot(window.panel, "daily-forecast-en")


# -- 4. the budget in its currency and h:mm, with a meter that moves --------------------------


def test_budget_is_worded_in_its_currency_and_moves_with_each_label(qtbot, tmp_path) -> None:
    from alapp.core.timing import ActiveTimer

    window = _open(qtbot, _project(tmp_path, budget_unit="money", budget_amount=200.0,
                                   hourly_rate=30.0, currency="EUR"))
    now = [1000.0]
    window.timer = ActiveTimer(60.0, clock=lambda: now[0])
    window.refresh()
    panel = window.panel
    assert panel.budget_text.text() == "Spent €0 of €200 (0%); €200 left"
    meters = []
    for _ in range(2):
        now[0] += 36  # 36 s of active labeling each: €0.30 at €30/h
        qtbot.keyClick(window, Qt.Key.Key_1)
        meters.append(panel.budget.value())
    assert panel.budget_text.text() == "Spent €0.60 of €200 (0.3%); €199.40 left"
    assert 0 < meters[0] < meters[1]  # the meter moves with each label
    assert panel.budget.text() == "0.3%"
    _shot(panel, "daily-budget-money-en")

    window.session.update_settings(budget_unit="hours", budget_amount=2.0)
    window.refresh()
    assert panel.budget_text.text() == "Spent 0:01 of 2:00 h active time (1.0%); 1:59 h left"
    window.close()


# -- 5. "Why": what the strategy saw ---------------------------------------------------------


def test_why_says_what_the_strategy_saw(window, qtbot) -> None:
    entry = window.entry
    assert entry.strategy == "cold-start"
    why = window.view.reason.text()
    assert re.fullmatch(r"Why: cold-start: cluster \d+ of 18, nearest to its centre; "
                        r"~\d+ s to label", why), why
    random_entry = next(e for e in window.session.queue() if e.is_random)
    assert re.fullmatch(r"random share \(checks the sampler\); ~\d+ s to label",
                        random_entry.reason)

    # The first model after 10 labels; the item on screen then stays first: one more label.
    _label(window, qtbot, 11)
    entry = window.entry
    assert entry.strategy == "uncertainty-cluster"
    why = window.view.reason.text()
    labels = "|".join(LABELS["en"])
    assert re.fullmatch(rf"Why: uncertainty-cluster saw ({labels}) \d+% vs ({labels}) \d+%; "
                        rf"~\d+ s to label", why), why
    assert "score" not in why
    _shot(window, "daily-why-en")


# -- 7. the comparison says what it replays, and its menu action works -----------------------


def test_compare_menu_action_replays_my_labels_and_says_what_that_means(
        window, qtbot, monkeypatch, tmp_path) -> None:
    _label(window, qtbot, 20)  # chosen by cold start, uncertainty-cluster and the random share
    window.menu_actions["&Compare strategies on my labels…"].trigger()
    dialog = window.simulation
    qtbot.wait(1500)  # the old action passed checked=False as the file: failed at once
    assert "Could not simulate" not in dialog.status.text(), dialog.status.text()
    assert dialog.labeled_file is None
    explained = dialog.explain.text()
    assert "Replays the loop on the 20 items you have labeled, not on the full pool of 240" \
        in explained
    assert "were chosen by active learning (cold-start, uncertainty-cluster)" in explained
    assert "may favour" in explained and "labeled file" in explained
    _shot(dialog, "daily-compare-en")

    labeled = tmp_path / "labeled.csv"
    labeled.write_text("text,label\n" + "\n".join(f"\"{r['text']}\",{r['gold']}"
                                                   for r in ROWS[:40]), "utf-8")
    from alapp.ui import simulation_dialog

    monkeypatch.setattr(simulation_dialog.QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(labeled), ""))
    assert dialog.on_file.isVisible()
    dialog.on_file.click()
    on_file = dialog.file_comparison
    assert on_file is not None and on_file.labeled_file == labeled
    qtbot.waitUntil(lambda: "Replays the loop on labeled.csv" in on_file.explain.text())
    assert not on_file.on_file.isVisible()
    on_file.close()
    dialog.close()


def test_the_replayed_reference_line_is_not_called_the_full_pool() -> None:
    from alapp.app.compare import Replay, comparison_svg

    result = {"strategies": {"random": {"spent": [10, 20], "accuracy_mean": [0.5, 0.6],
                                        "accuracy_ci95": [0.05, 0.05], "aulc_accuracy": 0.55}},
              "full_pool": {"accuracy": 0.7}}
    svg = comparison_svg(result, "Your labels", Replay("", "", True, 20, "all 20 labeled items"))
    assert "full pool" not in svg and "all 20 labeled items 0.700" in svg


# -- screenshots of the changed screens in three languages ------------------------------------


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_changed_screens_in_three_languages(qtbot, tmp_path, lang) -> None:
    window = _open(qtbot, _project(tmp_path, lang, budget_unit="money", budget_amount=200.0,
                                   hourly_rate=30.0, currency="EUR", target_accuracy=0.9))
    _label(window, qtbot, 20)
    _shot(window, f"daily-labeling-{lang}")
    assert (window.width(), window.height()) == SIZE  # still fits a 1366x768 screen
    assert re.search(r"\d+% vs .+ \d+%|random share|cluster \d+ of", window.view.reason.text())
    window.panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: window.panel.confusion is not None, timeout=10_000)
    qtbot.wait(300)
    assert window.panel.confusion.rowCount() == 6
    assert (window.width(), window.height()) == SIZE
    _shot(window, f"daily-model-{lang}")
    window.browse()
    _select(window.browser, range(2))
    window.browser.resize(*SIZE)
    qtbot.wait(100)
    _shot(window.browser, f"daily-browse-{lang}")
    window.browser.close()
    window.close()
