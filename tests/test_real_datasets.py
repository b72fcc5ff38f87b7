"""Every classification dataset in ../shared/data imports with the right mapping and survives
an export/import round trip. Skipped where the shared data is absent."""

from __future__ import annotations

import json

import pytest

from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project


def _names(path) -> list[str]:
    return [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]


CASES = {
    "ag_news": lambda d: (d / "ag_news/test.csv", ImportSpec(
        header=False, text=["2", "3"], label="1", label_names=_names(d / "ag_news/classes.txt"),
        label_base=1, add_labels=True), 7600, 4),
    "trec": lambda d: (d / "trec/TREC.train.all", ImportSpec(
        format="labeled-txt", encoding="latin-1", add_labels=True), 5452, 6),
    "sms_spam": lambda d: (d / "sms_spam/SMSSpamCollection", ImportSpec(
        format="tsv", text=["SMS"], label="Label", add_labels=True), 5574, 2),
    "thucnews": lambda d: (d / "thucnews_titles/dev.txt", ImportSpec(
        format="tsv", header=False, text=["1"], label="2",
        label_names=_names(d / "thucnews_titles/class.txt"), add_labels=True), 10000, 10),
    "rusentitweet": lambda d: (d / "rusentitweet/rusentitweet_train.csv", ImportSpec(
        add_labels=True), 10713, 5),
}


@pytest.mark.parametrize("name", CASES)
def test_dataset_imports_and_round_trips(shared_data, tmp_path, name) -> None:
    path, spec, rows, n_labels = CASES[name](shared_data)
    with Project.create(tmp_path / "p.alapp", ["placeholder"]) as project:
        report = import_file(project, path, spec)
        assert report.rows == rows
        assert report.labeled == rows
        assert len(report.new_labels) == n_labels
        out = tmp_path / "out.jsonl"
        assert export_labels(project, out) == rows
        original = {project.item(i).ext_id: (project.item(i).text, label)
                    for i, label in project.current_labels().items()}
    with Project.create(tmp_path / "again.alapp", ["placeholder"]) as again:
        import_file(again, out, ImportSpec(add_labels=True, meta=[]))
        copied = {again.item(i).ext_id: (again.item(i).text, label)
                  for i, label in again.current_labels().items()}
    assert copied == original


def test_russian_and_chinese_text_arrive_intact(shared_data, tmp_path) -> None:
    with Project.create(tmp_path / "p.alapp", ["x"]) as project:
        path, spec, *_ = CASES["thucnews"](shared_data)
        import_file(project, path, spec)
        first = project.item(project.item_ids()[0])
        assert first.text == "体验2D巅峰 倚天屠龙记十大创新概览"
        assert project.current_label(first.id) == "game"
        path, spec, *_ = CASES["rusentitweet"](shared_data)
        import_file(project, path, spec)
        tweets = project.item_ids()[10000:]
        assert project.item(tweets[0]).text.startswith("Помойму я вкрашилась")
        assert json.loads(project.item(tweets[0]).meta or "{}") == {}
