"""A file of every earlier schema version opens, migrates forward and keeps its data."""

from __future__ import annotations

import sqlite3
import time

import pytest

from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, TEAMS_VERSION, migrate, schema_version


def _file_at_version(path, version: int) -> None:
    """Build a file as that version of alapp left it, with an item and its label."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=version)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"')")
    conn.execute("INSERT INTO labels (name, position) VALUES ('spam', 0), ('ham', 1)")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) "
                 "VALUES (1, 'a', 'cheap pills', 'h1', 'pool'), (2, 'b', 'hi mum', 'h2', 'test')")
    if version >= TEAMS_VERSION:  # events carry their identity from version 13 on
        conn.execute("INSERT INTO label_events (item_id, action, label, annotator, "
                     "submitted_at, active_ms, uid, workstation, seq) "
                     "VALUES (1, 'label', 'spam', 'ann', ?, 1500, 'e1', 'ws-old', 1)",
                     (time.time(),))
        conn.execute("INSERT INTO item_labels (item_id, event_id, label, how, voters) "
                     "VALUES (1, 1, 'spam', 'single', 1)")
    else:
        conn.execute("INSERT INTO label_events (item_id, action, label, annotator, "
                     "submitted_at, active_ms) VALUES (1, 'label', 'spam', 'ann', ?, 1500)",
                     (time.time(),))
    conn.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_earlier_version_migrates(tmp_path, version: int) -> None:
    path = tmp_path / f"v{version}.alapp"
    _file_at_version(path, version)
    with Project.open(path) as project:
        assert schema_version(project._conn) == SCHEMA_VERSION
        assert project.current_labels() == {1: "spam"}
        assert project.settings().name == "old"
        assert project.count_items() == {"pool": 1, "test": 1, "seed": 0}
        assert project.events()[0]["active_ms"] == 1500
        assert project.integrity_ok()
        project.label_item(2, "ham", "ann")  # the new columns work on the old data
        assert project.current_labels() == {1: "spam", 2: "ham"}


def test_read_only_open_refuses_to_migrate(tmp_path) -> None:
    path = tmp_path / "v1.alapp"
    _file_at_version(path, 1)
    with pytest.raises(Exception, match="needs an upgrade"):
        Project.open(path, read_only=True)


def test_failed_migration_leaves_the_old_version(tmp_path, monkeypatch) -> None:
    from alapp.store import schema

    path = tmp_path / "v1.alapp"
    _file_at_version(path, 1)
    broken = [*schema.MIGRATIONS[:-1], schema.MIGRATIONS[-1] + "; CREATE TABLE items (x)"]
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("COMMIT")
    with pytest.raises(sqlite3.OperationalError):
        schema.migrate(conn)
    assert schema_version(conn) == SCHEMA_VERSION - 1
    conn.close()


def test_sources_leave_the_strategy_column(tmp_path) -> None:
    """Version 5 overloaded ``strategy`` with where an item came from; version 6 moves that to
    ``source``, keeps every label and leaves only strategy names in ``strategy``."""
    path = tmp_path / "v5.alapp"
    _file_at_version(path, 5)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) VALUES "
                 "(3, 'c', 'x', 'h3', 'pool'), (4, 'd', 'y', 'h4', 'pool'), "
                 "(5, 'e', 'z', 'h5', 'pool')")
    rows = [(2, "label", "ham", "ann", "test-set", 0), (3, "label", "spam", "ann", "margin", 0),
            (4, "label", "ham", "ann", "random share", 1), (3, "label", "ham", "ann", "relabel", 0),
            (5, "label", "spam", "import", "import", 0)]
    conn.executemany("INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
                     "strategy, is_random_share) VALUES (?, ?, ?, ?, 1.0, ?, ?)", rows)
    conn.execute("INSERT INTO queue (position, item_id, strategy) VALUES (-1, 5, 'undo'), "
                 "(0, 2, 'test-set')")
    conn.execute("INSERT INTO queue (position, item_id, strategy, score) "
                 "VALUES (1, 4, 'margin', .5)")
    conn.close()
    with Project.open(path) as project:
        events = project.events()
        assert [(e["source"], e["strategy"]) for e in events] == [
            ("unknown", None), ("test-set", None), ("al", "margin"),
            ("random", "random share"), ("relabel", None), ("import", None)]
        assert project.current_labels() == {1: "spam", 2: "ham", 3: "ham", 4: "ham", 5: "spam"}
        from alapp.store.queue import entries

        assert [(e.item_id, e.source, e.strategy) for e in entries(project)] == [
            (5, "undo", None), (2, "test-set", None), (4, "al", "margin")]
        assert project.integrity_ok()
