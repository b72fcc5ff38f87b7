"""The real window on a span project with a labeled test set and real rounds (the CRF): the
round's suggestions reach the span view and the Model tab reads entity-level metrics."""

from __future__ import annotations

import random

import pytest

from alapp.cli import main as cli
from alapp.ui.span_view import SpanView
from tests.test_gui_workflow import settings_home  # noqa: F401 (a fixture)

NAMES = ["John", "Mary", "Anna", "Peter", "Olga", "Ivan"]
PLACES = ["Paris", "Berlin", "Moscow", "Tokyo", "Rome", "Madrid"]


def _conll(rng: random.Random, n: int) -> str:
    """Sentences like "John lives in Paris ." tagged in BIO (two columns)."""
    lines = []
    for _ in range(n):
        name, place = rng.choice(NAMES), rng.choice(PLACES)
        verb = rng.choice(["lives", "works", "stays"])
        lines += [f"{name} B-PER", f"{verb} O", "in O", f"{place} B-LOC", ". O", ""]
    return "\n".join(lines) + "\n"


@pytest.mark.usefixtures("settings_home")
def test_a_span_round_fills_suggestions_and_the_model_tab(qtbot, tmp_path) -> None:
    from alapp.ui.main_window import MainWindow

    rng = random.Random(0)
    path = tmp_path / "ner.alapp"
    assert cli(["init", str(path), "--task", "spans", "--labels", "PER,LOC"]) == 0
    (tmp_path / "seed.conll").write_text(_conll(rng, 20), "utf-8")
    (tmp_path / "test.conll").write_text(_conll(rng, 20), "utf-8")
    (tmp_path / "pool.txt").write_text(
        "\n".join(f"{rng.choice(NAMES)} works in {rng.choice(PLACES)} today ." for _ in range(40))
        + "\n", "utf-8")
    assert cli(["import", str(path), str(tmp_path / "seed.conll")]) == 0
    assert cli(["import", str(path), str(tmp_path / "test.conll"), "--split", "test"]) == 0
    assert cli(["import", str(path), str(tmp_path / "pool.txt")]) == 0
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitUntil(lambda: window.entry is not None and window.entry.predicted is not None
                    and window.entry.token_uncertainty is not None, timeout=60_000)
    assert isinstance(window.view, SpanView)
    suggested, _ = window.entry.predicted
    assert '"PER"' in suggested and '"LOC"' in suggested  # the CRF learned the pattern
    model_text = window.panel.model_state.text()
    assert "entity micro-F1" in model_text and "precision" in model_text, model_text
