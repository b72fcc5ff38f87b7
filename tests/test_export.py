from __future__ import annotations

import csv
import json

import pytest

from alapp.core.errors import AlappError
from alapp.core.types import Selection, Source
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from tests.conftest import write


@pytest.fixture
def labeled(project, tmp_path):
    import_file(project, write(tmp_path / "in.jsonl",
                               '{"id": "a", "text": "Купите таблетки", "src": "sms"}\n'
                               '{"id": "b", "text": "你好妈妈"}\n{"id": "c", "text": "later"}\n'))
    a, b, _ = project.item_ids()
    project.label_item(a, "spam", "ann", started_at=1_700_000_000.0, active_ms=2500,
                       selection=Selection(Source.AL, "margin", 0.8))
    project.label_item(b, "spam", "bob")
    project.label_item(b, "ham", "bob")  # bob's second thought stands
    return project


def test_jsonl_has_label_annotator_times_and_meta(labeled, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    assert export_labels(labeled, out) == 2
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(r["id"], r["text"], r["label"], r["annotator"]) for r in rows] == [
        ("a", "Купите таблетки", "spam", "ann"), ("b", "你好妈妈", "ham", "bob")]
    assert rows[0]["active_seconds"] == 2.5
    assert rows[0]["started_at"] == "2023-11-14T22:13:20+00:00"
    assert rows[0]["meta"] == {"src": "sms"}
    assert rows[0]["strategy"] == "margin"


def test_csv_round_trips_through_import(labeled, tmp_path) -> None:
    out = tmp_path / "out.csv"
    export_labels(labeled, out)
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == ["spam", "ham"]
    with Project.create(tmp_path / "again.alapp", ["spam", "ham"]) as again:
        import_file(again, out, ImportSpec(meta=[]))
        assert sorted(again.current_labels().values()) == ["ham", "spam"]
        assert again.texts(again.item_ids()) == ["Купите таблетки", "你好妈妈"]


def test_prodigy_layout(labeled, tmp_path) -> None:
    out = tmp_path / "p.jsonl"
    export_labels(labeled, out, fmt="prodigy")
    task = json.loads(out.read_text("utf-8").splitlines()[0])
    assert task["text"] == "Купите таблетки"
    assert (task["label"], task["accept"], task["answer"]) == ("spam", ["spam"], "accept")
    assert task["meta"] == {"id": "a", "src": "sms"}
    assert isinstance(task["_timestamp"], int)


def test_never_overwrites_without_being_asked(labeled, tmp_path) -> None:
    out = write(tmp_path / "keep.jsonl", "precious\n")
    with pytest.raises(AlappError, match="already exists"):
        export_labels(labeled, out)
    assert out.read_text() == "precious\n"
    export_labels(labeled, out, overwrite=True)
    assert out.read_text("utf-8").count("\n") == 2


def test_failed_export_leaves_no_partial_file(labeled, tmp_path, monkeypatch) -> None:
    from alapp.store import export

    def boom(rows, stream):
        stream.write("half")
        raise OSError("disk full")

    monkeypatch.setitem(export._WRITERS, "jsonl", boom)
    with pytest.raises(OSError):
        export_labels(labeled, tmp_path / "x.jsonl")
    assert list(tmp_path.glob("*x.jsonl*")) == []


def test_unknown_format_is_refused(labeled, tmp_path) -> None:
    with pytest.raises(AlappError, match="choose the export format"):
        export_labels(labeled, tmp_path / "out.xlsx")
