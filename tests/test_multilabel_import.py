"""Importing label sets (issue 21): JSONL lists (``labels`` or a list as ``label``) and "a|b"
CSV cells in a multi-label project; unknown labels, duplicates and empty names are one-line
errors with file:line and nothing is written; a single-label project refuses label lists."""

from __future__ import annotations

import json

import pytest

from alapp.core.errors import AlappError
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from tests.conftest import write


@pytest.fixture
def multi(tmp_path) -> Project:
    return Project.create(tmp_path / "m.alapp", ["billing", "delivery", "refund"],
                          multi_label=True)


def test_jsonl_lists_and_csv_cells_become_sets(multi, tmp_path) -> None:
    import_file(multi, write(tmp_path / "a.jsonl",
                             '{"text": "Счёт дважды", "labels": ["refund", "billing"]}\n'
                             '{"text": "none", "labels": []}\n'
                             '{"text": "one", "label": "delivery"}\n'
                             '{"text": "list as label", "label": ["delivery", "refund"]}\n'))
    import_file(multi, write(tmp_path / "b.csv", "text,label\n退款,billing|refund\nbare,\n"))
    assert multi.current_labels() == {1: "billing|refund", 2: "", 3: "delivery",
                                      4: "delivery|refund", 5: "billing|refund"}
    sets = [multi.label_set(e["id"]) for e in multi.events()]
    assert sets == [["billing", "refund"], [], ["delivery"], ["delivery", "refund"],
                    ["billing", "refund"]]
    assert all(e["source"] == "import" for e in multi.events())
    assert multi.item(1).meta is None  # "labels" is the set, not metadata


def test_an_export_imports_back_with_the_same_sets(multi, tmp_path) -> None:
    import_file(multi, write(tmp_path / "a.jsonl", '{"text": "x", "labels": ["billing"]}\n'
                             '{"text": "y", "labels": []}\n'))
    out = tmp_path / "out.jsonl"
    export_labels(multi, out)
    other = Project.create(tmp_path / "o.alapp", ["billing", "delivery", "refund"],
                           multi_label=True)
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    back = write(tmp_path / "back.jsonl", "".join(
        json.dumps({"text": r["text"], "labels": r["labels"]}) + "\n" for r in lines))
    import_file(other, back)
    assert other.current_labels() == multi.current_labels()


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("u.jsonl", '{"text": "ok"}\n{"text": "y", "labels": ["billing", "nope"]}\n',
     r"u\.jsonl, line 2: unknown label 'nope' .*--add-labels"),
    ("d.jsonl", '{"text": "y", "labels": ["refund", "refund"]}\n',
     r"d\.jsonl, line 1: label 'refund' twice"),
    ("e.jsonl", '{"text": "ok"}\n{"text": "y", "labels": ["billing", " "]}\n',
     r"e\.jsonl, line 2: an empty label"),
    ("n.jsonl", '{"text": "y", "labels": ["billing", null]}\n',
     r"n\.jsonl, line 1: the label list holds null"),
    ("c.csv", "text,label\nok,billing\nbad,billing||refund\n",
     r"c\.csv, line 3: an empty label in 'billing\|\|refund'"),
    ("t.csv", "text,label\nbad,delivery|delivery\n", r"t\.csv, line 2: label 'delivery' twice"),
])
def test_bad_label_lists_are_one_line_errors_and_nothing_is_written(
        multi, tmp_path, name, content, problem) -> None:
    with pytest.raises(AlappError, match=problem) as e:
        import_file(multi, write(tmp_path / name, content))
    assert "\n" not in str(e.value)
    assert multi.count_items()["pool"] == 0 and multi.events() == []
    assert multi.labels() == ["billing", "delivery", "refund"]


def test_add_labels_adds_the_unknown_labels_of_a_set(multi, tmp_path) -> None:
    import_file(multi, write(tmp_path / "a.jsonl", '{"text": "y", "labels": ["spam", "refund"]}\n'),
                ImportSpec(add_labels=True))
    assert multi.labels() == ["billing", "delivery", "refund", "spam"]
    assert multi.current_labels() == {1: "refund|spam"}


@pytest.mark.parametrize(("name", "content"), [
    ("a.jsonl", '{"text": "y", "labels": ["spam"]}\n'),
    ("b.jsonl", '{"text": "y", "label": ["spam", "ham"]}\n'),
    ("c.csv", "text,label\nx,spam|ham\n"),
])
def test_a_single_label_project_refuses_label_lists(tmp_path, name, content) -> None:
    with Project.create(tmp_path / "s.alapp", ["spam", "ham"]) as project:
        with pytest.raises(AlappError, match=r"line .*: several labels .* this project takes "
                                             r"one label per item"):
            import_file(project, write(tmp_path / name, content))
        assert project.count_items()["pool"] == 0
