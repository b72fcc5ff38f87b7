from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from alapp.core.errors import AlappError, ProjectFormatError, ProjectLockedError
from alapp.core.types import Action, ItemId, Selection, Source
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION
from tests.conftest import write


def _with_items(project: Project, tmp_path: Path, n: int = 3) -> list[ItemId]:
    lines = "text\n" + "".join(f"message number {i}\n" for i in range(n))
    import_file(project, write(tmp_path / "in.csv", lines))
    return project.item_ids()


def test_create_sets_wal_labels_and_settings(project: Project) -> None:
    assert project._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert project._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert project.labels() == ["spam", "ham"]
    assert project.settings().name == "p"
    assert project.update_settings(batch_size=7).batch_size == 7
    assert project.settings().batch_size == 7


def test_current_label_is_latest_event_and_undo_is_an_event(project, tmp_path) -> None:
    a, b, _ = _with_items(project, tmp_path)
    project.label_item(a, "spam", "ann", active_ms=1200,
                       selection=Selection(Source.AL, "margin", score=0.9, predicted_cost=3.5))
    project.label_item(a, "ham", "ann", active_ms=800)
    project.label_item(b, "spam", "ann")
    assert project.current_labels() == {a: "ham", b: "spam"}

    assert project.undo_last("ann") == (b, project.events()[-1]["id"])
    assert project.current_labels() == {a: "ham"}
    project.undo_last("ann")  # undoes a's relabel: back to the first label
    assert project.current_labels() == {a: "spam"}
    project.undo_last("ann")
    assert project.current_labels() == {}
    assert project.undo_last("ann") is None

    actions = [e["action"] for e in project.events()]
    assert actions == ["label", "label", "label", "undo", "undo", "undo"]
    first = project.events(a)[0]
    assert (first["source"], first["strategy"], first["score"], first["predicted_cost"],
            first["active_ms"]) == ("al", "margin", 0.9, 3.5, 1200)


def test_undo_is_per_annotator(project, tmp_path) -> None:
    a, b, _ = _with_items(project, tmp_path)
    project.label_item(a, "spam", "alice")
    project.label_item(b, "ham", "bob")
    project.undo_last("alice")
    assert project.current_labels() == {b: "ham"}


def test_skip_forever_is_lifted_by_a_later_label(project, tmp_path) -> None:
    a, *_ = _with_items(project, tmp_path)
    project.skip_item(a, "ann", forever=True)
    assert project.skipped_forever() == {a}
    project.label_item(a, "spam", "ann")
    assert project.skipped_forever() == set()
    project.flag_item(a, "ann", "check spelling")
    assert project.current_labels() == {a: "spam"}
    assert project.events(a)[-1]["action"] == Action.FLAG


def test_unknown_label_and_unknown_item_are_refused(project, tmp_path) -> None:
    a, *_ = _with_items(project, tmp_path)
    with pytest.raises(AlappError, match="unknown label"):
        project.label_item(a, "eggs", "ann")
    with pytest.raises(sqlite3.IntegrityError):
        project.label_item(ItemId(9999), "spam", "ann")
    assert project.events() == []


def test_second_writer_is_refused_but_may_read(project, tmp_path) -> None:
    code = (f"from alapp.store.project import Project\n"
            f"Project.open({str(project.path)!r})\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "open in another alapp process" in result.stderr
    with Project.open(project.path, read_only=True) as reader:
        assert reader.labels() == ["spam", "ham"]
        with pytest.raises(AlappError, match="read-only"):
            reader.add_labels(["x"])


def test_lock_is_released_on_close(tmp_path) -> None:
    path = tmp_path / "x.alapp"
    Project.create(path, ["a"]).close()
    with Project.open(path), pytest.raises(ProjectLockedError):
        Project.open(path)
    Project.open(path).close()


def test_refuses_files_that_are_not_projects(tmp_path) -> None:
    junk = write(tmp_path / "junk.alapp", "hello, I am a CSV file\n" * 50)
    with pytest.raises(ProjectFormatError, match="not an alapp project"):
        Project.open(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ProjectFormatError, match="not an alapp project"):
        Project.open(other)
    with pytest.raises(AlappError, match="no such project"):
        Project.open(tmp_path / "missing.alapp")


def test_refuses_a_newer_schema(tmp_path) -> None:
    path = tmp_path / "new.alapp"
    Project.create(path, ["a"]).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(ProjectFormatError, match="newer alapp"):
        Project.open(path)


def test_create_refuses_existing_file_and_bad_label_names(tmp_path) -> None:
    path = tmp_path / "x.alapp"
    Project.create(path, ["a"]).close()
    with pytest.raises(AlappError, match="already exists"):
        Project.create(path, ["a"])
    with pytest.raises(AlappError, match="label name"):
        Project.create(tmp_path / "y.alapp", [" padded"])


def test_stats_counts(project, tmp_path) -> None:
    a, *_ = _with_items(project, tmp_path)
    project.label_item(a, "spam", "ann", active_ms=3_600_000)
    stats = project.stats()
    assert stats["items"] == {"pool": 3, "test": 0, "seed": 0}
    assert stats["labeled_total"] == 1
    assert stats["per_label"] == {"spam": 1, "ham": 0}
    assert stats["active_hours"] == 1.0
    assert project.integrity_ok()


def test_import_spec_defaults_are_independent() -> None:
    assert ImportSpec().text is not ImportSpec().text


def test_imported_vector_names_lists_each_set_once_and_not_computed_embeddings(
        project, tmp_path) -> None:
    """The names come from a skip scan of the embeddings' key, one probe per set: every
    imported set once, in order, and never an embedder's own vectors."""
    import numpy as np

    from alapp.store.vectors import imported_vector_names, save_vectors

    ids = _with_items(project, tmp_path, 5)
    assert imported_vector_names(project) == []
    for name in ("vectors:zeta", "minilm", "vectors:alpha", "vectors:a:b", "z-embedder"):
        save_vectors(project, name, ids, np.ones((5, 3)))
    assert imported_vector_names(project) == ["a:b", "alpha", "zeta"]
