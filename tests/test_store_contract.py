"""The store's contract, run on both stores (issue 20): a project file and a project on a real
PostgreSQL server answer every question the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from alapp.core.errors import AlappError
from alapp.core.location import ServerAddress
from alapp.core.types import ItemId, Split
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION
from tests.conftest import new_database


def _source(tmp_path: Path, rows: int = 12, labeled: int = 4) -> Path:
    path = tmp_path / "in.csv"
    lines = ["text,label"] + [
        f"message number {i} about {'money' if i % 2 else 'lunch'},"
        f"{('spam' if i % 2 else 'ham') if i < labeled else ''}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_create_import_label_undo_and_reopen(new_location, tmp_path) -> None:
    where = new_location()
    with Project.create(where, ["spam", "ham"], name="contract") as project:
        assert project.labels() == ["spam", "ham"]
        assert project.settings().name == "contract"
        report = import_file(project, _source(tmp_path))
        assert (report.rows, report.labeled) == (12, 4)
        ids = project.item_ids()
        assert len(ids) == 12 and ids == sorted(ids)
        first = project.label_item(ids[6], "spam", "ann", active_ms=1200)
        second = project.label_item(ids[7], "ham", "ann", active_ms=800)
        assert second > first
        assert project.undo_last("ann") == (ids[7], second + 1)
        assert project.current_label(ids[7]) is None
        project.skip_item(ids[8], "ann", forever=True)
        project.flag_item(ids[6], "ann", "looks odd")
        stats = project.stats()
        assert stats["labeled_total"] == 5 and stats["per_label"] == {"spam": 3, "ham": 2}
        assert stats["timed_labels"] == 2 and isinstance(stats["active_hours"], float)
        assert stats["skipped_forever"] == 1 and stats["schema_version"] == SCHEMA_VERSION
        events = project.events(ids[7])
        assert [e["action"] for e in events] == ["label", "undo"]
        assert [e["seq"] for e in project.events()] == list(range(1, 10))
    with Project.open(where, read_only=True) as reader:
        assert reader.current_labels()[ids[6]] == "spam"
        assert reader.skipped_forever() == {ids[8]}
        with pytest.raises(AlappError, match="read-only"):
            reader.label_item(ids[9], "ham", "ann")


def test_refusals_write_nothing(new_location, tmp_path) -> None:
    where = new_location()
    with Project.create(where, ["spam", "ham"]) as project:
        import_file(project, _source(tmp_path))
        with pytest.raises(AlappError, match=r"unknown label|not a label|no label"):
            project.label_item(ItemId(1), "eggs", "ann")
        with pytest.raises(AlappError):
            project.update_settings(batch_size=-3)
        assert project.stats()["events"] == 4
    with pytest.raises(AlappError, match="already"):
        Project.create(where, ["a"])


def test_settings_labels_and_splits(new_location, tmp_path) -> None:
    with Project.create(new_location(), ["a", "b"], batch_size=7) as project:
        project.add_labels(["c", "a"])
        project.describe_label("c", "  the   third  ")
        assert project.labels() == ["a", "b", "c"]
        assert project.label_descriptions() == {"c": "the third"}
        assert project.update_settings(batch_size=9).batch_size == 9
        assert project.settings().batch_size == 9
        import_file(project, _source(tmp_path, labeled=0))
        assert project.count_items() == {"pool": 12, "test": 0, "seed": 0}
        assert project.item_ids(Split.POOL) == project.item_ids()
        assert project.texts(project.item_ids()[:2])[1].startswith("message number 1")


def test_a_server_project_migrates_like_a_file(pg_address, pg_server) -> None:
    """A server project made at the previous version takes the same migration, translated,
    and ends with the tables and columns of one made at the current version."""
    from alapp.store.postgres import connect
    from alapp.store.schema import migrate, schema_version, server_tables

    def columns(address: str) -> dict[str, list[tuple[str, str]]]:
        conn = connect(ServerAddress(address), server_tables())
        try:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall()
        finally:
            conn.close()
        out: dict[str, list[tuple[str, str]]] = {}
        for table, column, kind in rows:
            out.setdefault(table, []).append((column, kind))
        return out

    conn = connect(ServerAddress(pg_address), server_tables())
    assert migrate(conn, SCHEMA_VERSION - 1) == 0
    assert schema_version(conn) == SCHEMA_VERSION - 1
    conn.close()
    with Project.open(pg_address) as project:  # opening for writing upgrades it
        assert project.stats()["schema_version"] == SCHEMA_VERSION
    fresh = new_database(pg_server)
    Project.create(fresh, ["a"]).close()
    assert columns(pg_address) == columns(fresh)


def test_a_lost_connection_is_made_again_and_a_lost_transaction_saves_nothing(
        pg_address, pg_server, tmp_path) -> None:
    import psycopg

    def drop_connections() -> None:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid != pg_backend_pid()",
                          (ServerAddress(pg_address).database,))

    with Project.create(pg_address, ["spam", "ham"]) as project:
        import_file(project, _source(tmp_path))
        drop_connections()
        assert len(project.item_ids()) == 12  # between transactions: connected again
        drop_connections()
        project.label_item(ItemId(5), "spam", "ann")  # a write after the loss, too
        assert project.current_label(ItemId(5)) == "spam"
        with pytest.raises(AlappError, match="lost during a change"), project.transaction() as tx:
            tx.execute("INSERT INTO annotators (name, added_at) VALUES ('x', 0)")
            drop_connections()
            tx.execute("INSERT INTO annotators (name, added_at) VALUES ('y', 0)")
        names = [r[0] for r in project._conn.execute("SELECT name FROM annotators")]
        assert "x" not in names and "y" not in names and "ann" in names


def test_credentials_come_from_a_service_file_never_from_the_address(
        pg_address, tmp_path, monkeypatch) -> None:
    from urllib.parse import parse_qs, urlsplit

    from alapp.cli import main

    parts = urlsplit(pg_address)
    service = tmp_path / "pg_service.conf"
    service.write_text(f"[alapp-team]\nhost={parse_qs(parts.query)['host'][0]}\n"
                       f"dbname={ServerAddress(pg_address).database}\nuser=postgres\n", "utf-8")
    monkeypatch.setenv("PGSERVICEFILE", str(service))
    address = "postgresql:///?service=alapp-team"
    with Project.create(address, ["a", "b"]) as project:
        assert project.on_server and project.labels() == ["a", "b"]
    assert main(["stats", address]) == 0
    with pytest.raises(AlappError, match="holds a password"):
        Project.open("postgresql://ana:secret@db.lab/project")
    with pytest.raises(SystemExit):  # the command line refuses it before connecting
        main(["stats", "postgresql://ana:secret@db.lab/project"])
    with pytest.raises(AlappError, match="already holds a project"):
        Project.create(address, ["c"])


def test_a_server_project_is_created_whole_or_not_at_all(pg_address, monkeypatch) -> None:
    import psycopg

    def fail(self, rows):
        raise RuntimeError("the power went out")

    monkeypatch.setattr(Project, "_write_settings", fail)
    with pytest.raises(RuntimeError, match="power"):
        Project.create(pg_address, ["a", "b"])
    with psycopg.connect(pg_address) as conn:
        tables = conn.execute("SELECT COUNT(*) FROM information_schema.tables "
                              "WHERE table_schema = 'public'").fetchone()[0]
        functions = conn.execute("SELECT COUNT(*) FROM pg_proc p JOIN pg_namespace n "
                                 "ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
                                 ).fetchone()[0]
    assert (tables, functions) == (0, 0)
    monkeypatch.undo()
    with Project.create(pg_address, ["a", "b"]) as project:  # the database is still free
        assert project.labels() == ["a", "b"]
