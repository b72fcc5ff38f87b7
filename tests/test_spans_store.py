"""Span projects in the file (issue 18): creation, the schema migration, label writes checked
against the item's tokens, span rows, the queue's tokens and what the span round reads."""

from __future__ import annotations

import sqlite3
import time

import pytest

from alapp.core.errors import AlappError
from alapp.core.spans import Span, encode_spans, tokenize
from alapp.core.types import ItemId, Source, Split
from alapp.store import queue
from alapp.store.events import relabel_many
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, migrate, schema_version
from alapp.store.spans import event_spans, save_tokens, span_items, tokenize_missing, tokens_of

TEXTS = ["Anna lives in Paris 😀.", "  Путин в Москве\r\n", "我爱北京天安门"]


def _span_project(tmp_path, texts=TEXTS, language=""):
    project = Project.create(tmp_path / "s.alapp", ["PER", "LOC"], task="spans",
                             span_language=language)
    with project.transaction() as conn:
        conn.executemany("INSERT INTO items (id, ext_id, text, hash, split) VALUES (?,?,?,?,?)",
                         [(k + 1, f"t{k}", t, b"h%d" % k, "pool") for k, t in enumerate(texts)])
        assert tokenize_missing(project) == len(texts)
    return project


def test_a_span_project_is_created_with_entity_types(tmp_path) -> None:
    with Project.create(tmp_path / "a.alapp", ["PER", "ORG"], task="spans") as project:
        assert project.spans and project.settings().task == "spans"
        with pytest.raises(AlappError, match="white space"):
            project.add_labels(["NEW TYPE"])
    with pytest.raises(AlappError, match="cannot be multi-label"):
        Project.create(tmp_path / "b.alapp", ["PER"], task="spans", multi_label=True)
    with pytest.raises(AlappError, match="white space"):
        Project.create(tmp_path / "c.alapp", ["A B"], task="spans")
    with Project.create(tmp_path / "d.alapp", ["x"]) as plain:
        assert not plain.spans


def test_label_writes_are_checked_against_the_items_tokens(tmp_path) -> None:
    with _span_project(tmp_path) as project:
        text = project.item(ItemId(1)).text
        assert text[0:4] == "Anna" and text[14:19] == "Paris"
        event = project.label_item(ItemId(1), '[[14,19,"LOC"],[0,4,"PER"]]', "ann")
        assert project.current_label(ItemId(1)) == '[[0,4,"PER"],[14,19,"LOC"]]'  # canonical
        assert event_spans(project, event) == [Span(0, 4, "PER"), Span(14, 19, "LOC")]
        for bad, why in (('[[0,3,"PER"]]', "does not end at a token boundary"),
                         ('[[1,4,"PER"]]', "does not start at a token boundary"),
                         ('[[0,99,"PER"]]', "out of range"),
                         ('[[0,4,"ORG"]]', "unknown label 'ORG'"),
                         ('[[0,4,"PER"],[0,13,"LOC"]]', "overlap"),
                         ("PER", "not a span list")):
            with pytest.raises(AlappError, match=why):
                project.label_item(ItemId(1), bad, "ann")
        project.label_item(ItemId(3), "[]", "ann")  # accepted, no entities
        assert project.current_label(ItemId(3)) == "[]"
        # the Chinese text: one token per character, so 北京 is a span
        project.label_item(ItemId(3), '[[2,4,"LOC"]]', "ann")
        assert project.stats()["per_label"] == {"PER": 1, "LOC": 2}
        with pytest.raises(AlappError, match="on their own"):
            relabel_many(project, [ItemId(1)], '[[0,4,"PER"]]', "ann")
        undone = project.undo_last("ann")
        assert undone is not None and project.current_label(ItemId(3)) == "[]"
        rows = project._conn.execute("SELECT COUNT(*) FROM event_spans").fetchone()[0]
        assert rows == 3  # 2 + 1; the undo restores "[]" (no rows)


def test_the_queue_carries_tokens_and_the_round_reads_labeled_items(tmp_path) -> None:
    with _span_project(tmp_path, language="ru") as project:
        with project.transaction() as conn:
            conn.executemany("INSERT INTO queue (position, item_id, source, strategy) "
                             "VALUES (?, ?, 'al', 'mnlp')", [(1, 2), (2, 3)])
            conn.execute("UPDATE items SET split = 'test' WHERE id = 3")
        entries = queue.entries(project)
        assert [e.item_id for e in entries] == [2, 3] and entries[0].source == Source.AL
        text = entries[0].text
        assert [text[a:b] for a, b in entries[0].tokens] == ["Путин", "в", "Москве"]
        project.label_item(ItemId(2), '[[2,7,"PER"],[10,16,"LOC"]]', "ann")
        project.label_item(ItemId(3), "[]", "ann")
        train = span_items(project, Split.POOL)
        assert [(s.item_id, s.spans) for s in train] == [
            (2, [Span(2, 7, "PER"), Span(10, 16, "LOC")])]
        assert train[0].text[2:7] == "Путин" and train[0].tokens == tokenize(text, "ru")
        assert [(s.item_id, s.spans) for s in span_items(project, Split.TEST)] == [(3, [])]
        assert [s.item_id for s in span_items(project, labeled=False)] == [1]
        assert tokens_of(project, [ItemId(3), ItemId(99)])[1] is None


def test_a_version_10_file_migrates_keeping_everything(tmp_path) -> None:
    path = tmp_path / "v10.alapp"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=10)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"'), ('multi_label', 'true')")
    conn.execute("INSERT INTO labels (name, position) VALUES ('a', 0), ('b', 1)")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) VALUES "
                 "(1, 'x', 'one', 'h1', 'pool'), (2, 'y', 'two', 'h2', 'test')")
    conn.execute("INSERT INTO label_events (id, item_id, action, label, annotator, "
                 "submitted_at, source) VALUES (1, 1, 'label', 'a|b', 'ann', ?, 'al')",
                 (time.time(),))
    conn.executemany("INSERT INTO event_labels VALUES (1, ?)", [("a",), ("b",)])
    before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
              for t in ("settings", "labels", "items", "label_events", "event_labels")}
    conn.close()
    with Project.open(path) as project:
        assert schema_version(project._conn) == SCHEMA_VERSION
        for table, rows in before.items():  # later versions may add columns after these
            width = len(rows[0])
            assert [row[:width] for row in project._conn.execute(
                f"SELECT * FROM {table} ORDER BY 1").fetchall()] == rows
        assert project.current_labels() == {1: "a|b"} and project.label_set(1) == ["a", "b"]
        assert not project.spans and project.integrity_ok()
        assert project._conn.execute("SELECT COUNT(*) FROM item_tokens").fetchone()[0] == 0
        project.label_item(ItemId(2), "b", "ann")
        assert project.current_labels()[2] == "b"


def test_span_rows_keep_their_foreign_keys(tmp_path) -> None:
    with _span_project(tmp_path) as project:
        event = project.label_item(ItemId(1), '[[0,4,"PER"]]', "ann")
        with pytest.raises(sqlite3.IntegrityError), project.transaction() as conn:
            conn.execute("INSERT INTO event_spans VALUES (?, 5, 9, 'NOPE')", (event,))
        with pytest.raises(sqlite3.IntegrityError), project.transaction() as conn:
            conn.execute("INSERT INTO event_spans VALUES (?, 9, 5, 'PER')", (event,))
        with project.transaction() as conn:  # an item without tokens cannot be labeled
            conn.execute("INSERT INTO items (id, ext_id, text, hash, split) "
                         "VALUES (9, 'n', 'no tokens', 'h9', 'pool')")
        with pytest.raises(AlappError, match="has no tokens"):
            project.label_item(ItemId(9), "[]", "ann")
        with project.transaction() as conn:
            save_tokens(conn, [(9, [(0, 2), (3, 9)], True)])
        project.label_item(ItemId(9), '[[3,9,"LOC"]]', "ann")
        assert encode_spans([Span(3, 9, "LOC")]) == project.current_label(ItemId(9))
