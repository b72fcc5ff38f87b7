"""`alapp simulate --cost-column`: strategies see each item's labeling time (ROI, the price
cap) and the budget is in seconds, so the seeds' cost settings can be replayed (issue 16)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from alapp.cli import main

WORDS = {"sport": "match goal team", "money": "bank price market", "tech": "chip code robot"}


def _data(folder: Path) -> Path:
    """Odd rows take 100 s to label, even rows 5 s; the classes are easy."""
    path = folder / "costs.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "label", "seconds"])
        for i in range(180):
            label = list(WORDS)[i % 3]
            out.writerow([f"{WORDS[label]} number {i}", label, 100 if i % 2 else 5])
    return path


def _spent(path: Path, folder: Path, *options: str) -> dict[str, list[list[float]]]:
    out = folder / f"r{len(list(folder.iterdir()))}.json"
    assert main(["simulate", str(path), "--featurizer", "minilm", "--cost-column", "seconds",
                 "--budget", "300", "--batch", "10", "--seeds", "1", "--strategies",
                 "margin,uncertainty-cluster", "--json", str(out), *options]) == 0
    result = json.loads(out.read_text("utf-8"))
    return {name: [s["labels"], s["spent"]] for name, s in result["strategies"].items()}


@pytest.mark.slow
def test_the_price_cap_and_roi_act_on_the_cost_column(tmp_path, capsys) -> None:
    path = _data(tmp_path)
    capped = _spent(path, tmp_path, "--cost-aware", "--set", "price_cap_s=30")
    for labels, spent in capped.values():  # only the 5 s items were bought
        assert spent == [5.0 * n for n in labels]
    plain = _spent(path, tmp_path)
    for labels, spent in plain.values():  # the budget is in seconds: dear items count
        assert spent[-1] <= 300 and spent != [5.0 * n for n in labels]
        assert labels[-1] < 60


def test_cost_options_refuse_what_they_cannot_use(tmp_path, capsys) -> None:
    path = _data(tmp_path)
    assert main(["simulate", str(path), "--featurizer", "minilm", "--cost-aware"]) == 2
    assert "--cost-aware needs --cost-column" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label,seconds\nmatch goal,sport,5\nbank price,money,soon\n", "utf-8")
    assert main(["simulate", str(bad), "--featurizer", "minilm", "--cost-column",
                 "seconds", "--budget", "10", "--seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "the cost column 'seconds' is 'soon'" in err and "seconds above 0" in err
