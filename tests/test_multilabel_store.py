"""Multi-label storage (issue 21): a decision is a set of labels, events, undo, history and
exports carry the set, and a label-powerset project made by the previous alapp migrates
forward with every decision intact."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from alapp.core.errors import AlappError
from alapp.store import events
from alapp.store.export import export_labels
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, schema_version
from tests.conftest import write

FIXTURE = Path(__file__).parent / "data" / "powerset_v6.alapp"
# What the fixture holds, as main's code (schema 6, label powerset) left it: item -> the
# current decision (see tests/data/README.md for how the file was made).
FIXTURE_CURRENT = {1: "billing|delivery", 2: "delivery", 3: "refund",
                   4: "billing|delivery|refund", 5: "billing", 6: "billing",
                   7: "billing|delivery", 9: "billing|delivery"}


@pytest.fixture
def old_project(tmp_path) -> Path:
    path = tmp_path / "old.alapp"
    shutil.copyfile(FIXTURE, path)
    return path


def test_the_fixture_is_a_version_6_powerset_file() -> None:
    conn = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    assert schema_version(conn) == 6
    combos = [r[0] for r in conn.execute("SELECT name FROM labels WHERE combination")]
    assert combos == ["billing|delivery", "billing|delivery|refund", "delivery|refund"]
    conn.close()


def test_a_powerset_project_migrates_with_every_decision_intact(old_project) -> None:
    conn = sqlite3.connect(old_project)
    before = conn.execute("SELECT id, item_id, action, label, annotator, submitted_at, "
                          "active_ms, undoes, note, source FROM label_events "
                          "ORDER BY id").fetchall()
    conn.close()
    with Project.open(old_project) as project:
        assert schema_version(project._conn) == SCHEMA_VERSION
        assert project.labels() == ["billing", "delivery", "refund"]
        assert project._conn.execute(
            "SELECT COUNT(*) FROM labels WHERE combination").fetchone()[0] == 0
        assert project.current_labels() == FIXTURE_CURRENT
        after = project._conn.execute(
            "SELECT id, item_id, action, label, annotator, submitted_at, active_ms, undoes, "
            "note, source FROM label_events ORDER BY id").fetchall()
        assert after == before  # every event, id and time kept
        sets = {e["id"]: project.label_set(e["id"]) for e in project.events()}
        assert sets[4] == ["billing", "delivery", "refund"]
        assert sets[6] == ["delivery", "refund"]  # the undone combination keeps its set
        assert sets[7] == ["billing"]  # the undo event restores a one-label set
        assert sets[11] == ["billing", "delivery"]  # the flag carries the set it saw
        assert sets[12] == [] and sets[15] == []  # a skip and an undo to "no label"
        assert project.settings().strategy == "ml-margin-mean"  # was uncertainty-cluster
        assert project.integrity_ok()
        assert project._conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # The undo chain still works on migrated events: undo bob's relabel of item 9's label
        project.label_item(10, "refund|billing", "bob")
        assert project.current_labels()[10] == "billing|refund"  # the label order
        assert project.undo_last("bob") is not None
        assert 10 not in project.current_labels()


def test_the_undo_reference_points_at_the_rebuilt_table(old_project) -> None:
    with Project.open(old_project) as project:
        sql = project._conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'label_events'").fetchone()[0]
        assert 'REFERENCES "label_events"(id)' in sql and "label_events_v7" not in sql


def test_a_single_label_file_migrates_without_sets(tmp_path) -> None:
    with Project.create(tmp_path / "s.alapp", ["spam", "ham"]) as project:
        import_file(project, write(tmp_path / "in.txt", "one\ntwo\n"))
        project.label_item(1, "spam", "ann")
        assert project._conn.execute("SELECT COUNT(*) FROM event_labels").fetchone()[0] == 0
        assert project.current_labels() == {1: "spam"}


@pytest.fixture
def multi(tmp_path) -> Project:
    project = Project.create(tmp_path / "m.alapp", ["billing", "delivery", "refund"],
                             multi_label=True)
    import_file(project, write(tmp_path / "in.jsonl", "".join(
        json.dumps({"id": f"t{i}", "text": t}, ensure_ascii=False) + "\n"
        for i, t in enumerate(["charged twice", "parcel late", "Посылка", "退款"]))))
    return project


def test_a_decision_is_a_set_and_none_of_these_is_the_empty_set(multi) -> None:
    assert multi.settings().strategy == "ml-margin-mean"  # a new multi-label project's default
    e1 = multi.label_item(1, "delivery|billing", "ann")
    e2 = multi.label_item(2, "", "ann")  # none of these
    assert multi.label_set(e1) == ["billing", "delivery"]
    assert multi.label_set(e2) == []
    assert multi.current_labels() == {1: "billing|delivery", 2: ""}
    assert multi.labels() == ["billing", "delivery", "refund"]  # no combination rows
    assert multi.stats()["per_label"] == {"billing": 1, "delivery": 1, "refund": 0}
    assert multi.stats()["labeled_total"] == 2


@pytest.mark.parametrize(("value", "problem"), [
    ("billing|nope", "unknown label 'nope'"),
    ("billing|billing", "label 'billing' twice"),
    ("billing||refund", "an empty label"),
])
def test_bad_sets_are_refused_and_nothing_is_written(multi, value, problem) -> None:
    with pytest.raises(AlappError, match=problem):
        multi.label_item(1, value, "ann")
    assert multi.events() == []


def test_undo_and_relabel_restore_the_previous_set(multi) -> None:
    multi.label_item(1, "billing", "ann")
    multi.label_item(1, "billing|refund", "ann")  # a relabel
    item, undo = multi.undo_last("ann")
    assert item == 1 and multi.label_set(undo) == ["billing"]
    assert multi.current_labels() == {1: "billing"}
    batch = events.relabel_many(multi, [1, 2], "refund", "ann")
    assert multi.current_labels() == {1: "refund", 2: "refund"}
    assert events.undo_relabel(multi, batch, "ann") == 2
    assert multi.current_labels() == {1: "billing"}


def test_history_carries_the_set(multi) -> None:
    multi.label_item(1, "billing|delivery", "ann")
    multi.label_item(2, "", "ann")
    rows = events.history(multi, "ann", 5)
    assert [(d.item_id, d.label) for d in rows] == [(2, ""), (1, "billing|delivery")]


def test_exports_carry_the_set(multi, tmp_path) -> None:
    multi.label_item(1, "refund|billing", "ann")
    multi.label_item(2, "", "ann")
    multi.label_item(3, "delivery", "ann")
    out = tmp_path / "o.jsonl"
    export_labels(multi, out)
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(r["label"], r["labels"]) for r in rows] == [
        ("billing|refund", ["billing", "refund"]), ("", []), ("delivery", ["delivery"])]
    out = tmp_path / "o.csv"
    export_labels(multi, out)
    table = list(csv.DictReader(out.read_text("utf-8-sig").splitlines()))
    assert [(r["label"], r["label:billing"], r["label:delivery"], r["label:refund"])
            for r in table] == [("billing|refund", "1", "0", "1"), ("", "0", "0", "0"),
                                ("delivery", "0", "1", "0")]
    out = tmp_path / "o.prodigy.jsonl"
    export_labels(multi, out, fmt="prodigy")
    tasks = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [t["accept"] for t in tasks] == [["billing", "refund"], [], ["delivery"]]
    assert [o["id"] for o in tasks[0]["options"]] == ["billing", "delivery", "refund"]
    assert "label" not in tasks[0]


def test_exports_of_a_migrated_project(old_project, tmp_path) -> None:
    with Project.open(old_project) as project:
        out = tmp_path / "o.jsonl"
        export_labels(project, out)
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
        assert {r["id"]: r["labels"] for r in rows}["t3"] == ["billing", "delivery", "refund"]
        assert len(rows) == len(FIXTURE_CURRENT)


def test_migration_moves_softmax_strategies_and_other_classifiers_to_multilabel_ones(
        old_project) -> None:
    conn = sqlite3.connect(old_project)
    conn.execute("UPDATE settings SET value = '\"margin\"' WHERE key = 'strategy'")
    conn.execute("INSERT OR REPLACE INTO settings VALUES ('classifier', '\"mlp\"')")
    conn.commit()
    conn.close()
    with Project.open(old_project) as project:
        s = project.settings()
        assert (s.strategy, s.classifier, s.multi_label) == ("ml-margin-mean", "logreg",
                                                             True)


def test_migration_leaves_single_label_settings_alone(tmp_path) -> None:
    path = tmp_path / "old.alapp"
    shutil.copyfile(FIXTURE, path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE settings SET value = 'false' WHERE key = 'multi_label'")
    conn.execute("UPDATE settings SET value = '\"margin\"' WHERE key = 'strategy'")
    conn.execute("INSERT OR REPLACE INTO settings VALUES ('classifier', '\"mlp\"')")
    conn.commit()
    conn.close()
    with Project.open(path) as project:
        s = project.settings()
        assert (s.strategy, s.classifier) == ("margin", "mlp")
        assert project._conn.execute("SELECT COUNT(*) FROM event_labels").fetchone()[0] == 0


def test_browse_finds_a_label_inside_sets_and_none_of_these(multi) -> None:
    from alapp.store.browse import NONE_OF_THESE, BrowseQuery, find_items

    multi.label_item(1, "billing|delivery", "ann")
    multi.label_item(2, "", "ann")
    multi.label_item(3, "delivery", "ann")

    def found(label: str) -> list[int]:
        return sorted(r.item_id for r in find_items(multi, BrowseQuery(label=label), {}))

    assert found("delivery") == [1, 3]
    assert found("billing") == [1]
    assert found(NONE_OF_THESE) == [2]


def test_multi_label_is_chosen_when_the_project_is_created(multi, tmp_path) -> None:
    with pytest.raises(AlappError, match="multi_label=False: whether decisions are sets"):
        multi.update_settings(multi_label=False)
    with Project.create(tmp_path / "s.alapp", ["a", "b"]) as single, \
            pytest.raises(AlappError, match="this one is single-label"):
        single.update_settings(multi_label=True)
    multi.update_settings(multilabel_model="chains")
    assert multi.settings().multilabel_model == "chains"
