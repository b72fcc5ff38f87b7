"""A file of every earlier schema version opens, migrates forward and keeps its data."""

from __future__ import annotations

import sqlite3
import time

import pytest

from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, migrate, schema_version


def _file_at_version(path, version: int) -> None:
    """Build a file as that version of alapp left it, with an item and its label."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=version)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"')")
    conn.execute("INSERT INTO labels VALUES ('spam', 0), ('ham', 1)")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) "
                 "VALUES (1, 'a', 'cheap pills', 'h1', 'pool'), (2, 'b', 'hi mum', 'h2', 'test')")
    conn.execute("INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
                 "active_ms) VALUES (1, 'label', 'spam', 'ann', ?, 1500)", (time.time(),))
    conn.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_every_earlier_version_migrates(tmp_path, version: int) -> None:
    path = tmp_path / f"v{version}.alapp"
    _file_at_version(path, version)
    with Project.open(path) as project:
        assert schema_version(project.conn) == SCHEMA_VERSION
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
