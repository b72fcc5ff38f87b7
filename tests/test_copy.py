"""``alapp copy`` (issue 20): a project moved between a file and a real PostgreSQL server (and
file to file) loses nothing, refuses to overwrite, and leaves nothing half-written.

Equality is judged by a full dump of every table of the schema, read here with the drivers
themselves (not with the copy's own reader), ordered by each table's key and compared as Python
values."""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alapp.app.rounds import save_result, snapshot_of
from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.core.spans import Span, encode_spans
from alapp.core.types import ItemId, Selection, Source
from alapp.loop.round import RoundRunner
from alapp.store import claims, presence
from alapp.store import copy as store_copy
from alapp.store.importer import ImportSpec, import_file
from alapp.store.packages import record_assignments
from alapp.store.project import Project
from alapp.store.rounds import save_round
from alapp.store.schema import SCHEMA_VERSION, migrate, server_tables, sqlite_schema
from alapp.store.team import add_annotator, adjudicate
from alapp.store.trainer import RoundOrigin, last_event
from alapp.store.vectors import save_vectors

# the tables only a multi-label or a span project fills
TASK_TABLES = {"event_labels", "item_tokens", "event_spans"}


def schema_tables() -> list[str]:
    return [name for name, sql in sqlite_schema() if sql.upper().startswith("CREATE TABLE")]


# -- a full dump, independent of the copy's code ------------------------------------------------


def _connect(where: Path | str) -> Any:
    if isinstance(where, Path):
        return sqlite3.connect(f"{where.as_uri()}?mode=ro", uri=True)
    import psycopg

    return psycopg.connect(where, autocommit=True)


def dump(where: Path | str) -> dict[str, Any]:
    """Every table's rows as dicts of column -> value, sorted by the table's key, and the
    project's marks (schema version, application id)."""
    keys = server_tables().keys
    out: dict[str, Any] = {}
    conn = _connect(where)
    try:
        for table in schema_tables():
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            rows = [dict(zip(columns, (bytes(v) if isinstance(v, memoryview) else v
                                       for v in row), strict=True)) for row in cursor.fetchall()]
            rows.sort(key=lambda r, t=table: tuple(r[k] for k in keys[t]))
            out[table] = rows
        if isinstance(where, Path):
            marks = (conn.execute("PRAGMA user_version").fetchone()[0],
                     conn.execute("PRAGMA application_id").fetchone()[0])
        else:
            meta = dict(conn.execute("SELECT key, value FROM alapp_meta").fetchall())
            marks = (int(meta["schema_version"]), int(meta["application_id"]))
    finally:
        conn.close()
    assert marks[0] == SCHEMA_VERSION
    return out


def server_objects(address: str) -> list[tuple[str, str]]:
    """What a database holds besides the system's own: tables and functions."""
    import psycopg

    with psycopg.connect(address, autocommit=True) as conn:
        return conn.execute(
            "SELECT 'table', table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') UNION ALL "
            "SELECT 'function', routine_name FROM information_schema.routines "
            "WHERE routine_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2").fetchall()


# -- projects with something in every table -----------------------------------------------------


def png(width: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


WORDS = {"spam": ["выигрыш", "бесплатно", "приз", "免费", "lottery"],
         "ham": ["обед", "встреча", "отчёт", "会议", "lunch"]}


def make_mixed_project(folder: Path) -> Path:
    """A classification project with imports, images, labels from two workstations, undo,
    skips, a flag, an adjudication, a real round with its model weights, queue and origin,
    claims on the queue, a heartbeat, stream rows, vectors, annotators and package
    assignments."""
    path = folder / "mixed.alapp"
    rows = []
    for i in range(36):
        label = "spam" if i % 2 else "ham"
        words = WORDS[label]
        rows.append({"id": f"m{i}", "text": f"{words[i % 5]} {words[(i + 2) % 5]} — №{i} "
                     "'quoted' 100% \"x\"",
                     "label": label if i < 12 else "", "topic": f"t{i % 3}",
                     "image": f"img{i}.png" if i % 4 == 0 else ""})
        if i % 4 == 0:
            (folder / f"img{i}.png").write_bytes(png(2 + i % 3, (i * 7 % 256, 90, 200)))
    with (folder / "mixed.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "text", "label", "topic", "image"])
        writer.writeheader()
        writer.writerows(rows)
    with Project.create(path, ["spam", "ham"], featurizer="tfidf", batch_size=4,
                        workstation="ws-one") as project:
        import_file(project, folder / "mixed.csv")
        project.add_labels(["eggs"])
        project.describe_label("eggs", "anything else")
        ids = project.item_ids()
        save_vectors(project, "vectors:extra", ids[:10],
                     np.arange(30, dtype=np.float32).reshape(10, 3) / 7)
        save_round(project, [], "stream", 12, None,
                   stream_seen=[(ids[12], 1, 0.25, 0.5), (ids[13], 0, None, 0.5)])
        for k in range(12, 20):
            project.label_item(ids[k], "spam" if k % 2 else "ham", "anna", time.time(), 900 + k,
                               Selection(Source.AL, strategy="margin", score=0.1 * k))
        project.undo_last("anna")
        project.skip_item(ids[20], "anna")
        project.skip_item(ids[21], "anna", forever=True)
        project.flag_item(ids[14], "anna", "не уверена — 讽刺?")
        result = RoundRunner().run(snapshot_of(project))
        save_result(project, result, origin=RoundOrigin("session-1", "lab-pc", last_event(project)))
        claims.refill(project, claims.ClaimRequest(claims.Holder("session-1", "ws-one", "anna"),
                                                   window=2, lease_s=600))
        presence.beat(project, "session-1", "anna", "lab-pc", "labeling", "labeling")
        add_annotator(project, "carol")
        record_assignments(project, "carol", "pkg01", [ids[30], ids[31]], [ids[14]])
    with Project.open(path, workstation="ws-two") as second:  # another machine's events
        for k in (14, 15, 22):
            second.label_item(ids[k], "ham", "boris", time.time(), 1500)
        adjudicate(second, ids[14], "spam", "lead", note="decided")
    return path


def make_multi_label_project(folder: Path) -> Path:
    path = folder / "multi.alapp"
    (folder / "multi.txt").write_text("".join(f"line {k} о спорте и деньгах\n"
                                              for k in range(8)), "utf-8")
    with Project.create(path, ["sport", "money", "politics"], multi_label=True,
                        featurizer="tfidf") as project:
        import_file(project, folder / "multi.txt")
        ids = project.item_ids()
        project.label_item(ids[0], "sport|money", "anna")
        project.label_item(ids[1], "politics", "anna")
        project.label_item(ids[2], "", "anna")  # none of them
        project.label_item(ids[3], "money|politics|sport", "anna")
        project.undo_last("anna")
    return path


def make_span_project(folder: Path) -> Path:
    path = folder / "spans.alapp"
    (folder / "spans.txt").write_text("".join(f"Anna went to Paris on day {k}\n"
                                              for k in range(6)), "utf-8")
    with Project.create(path, ["PER", "LOC"], task="spans", span_language="en") as project:
        import_file(project, folder / "spans.txt", ImportSpec(format="txt", meta=[]))
        ids = project.item_ids()
        project.label_item(ids[0], encode_spans([Span(0, 4, "PER"), Span(13, 18, "LOC")]), "a")
        project.label_item(ids[1], encode_spans([Span(13, 18, "LOC")]), "a")
        project.label_item(ids[2], "[]", "a")
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mixed_project(tmp_path_factory.mktemp("mixed"))


# -- the copies ---------------------------------------------------------------------------------


def test_the_copy_covers_every_table_of_the_schema_in_reference_order() -> None:
    copied = [t.name for t in store_copy.tables()]
    assert sorted(copied) == sorted(schema_tables())
    position = {name: k for k, name in enumerate(copied)}
    for name, sql in sqlite_schema():
        for target in re.findall(r'REFERENCES\s+"?(\w+)"?', sql):
            if target != name:
                assert position[target] < position[name], (name, target)


def test_file_to_server_to_file_loses_nothing(mixed: Path, pg_address: str,
                                              tmp_path: Path) -> None:
    original = dump(mixed)
    empty = [t for t, rows in original.items() if not rows]
    assert sorted(empty) == sorted(TASK_TABLES)  # the mix fills every other table
    assert len({e["workstation"] for e in original["label_events"]}) == 2
    assert {e["action"] for e in original["label_events"]} == {
        "label", "undo", "skip", "skip_forever", "flag", "adjudication"}
    assert any(m["weights"] for m in original["models"])
    seen: list[tuple[str, int, int]] = []
    report = store_copy.copy_project(mixed, pg_address, chunk=5,  # pages cross every key
                                     progress=lambda t, d, n: seen.append((t, d, n)))
    assert report.rows == {t: len(r) for t, r in original.items()}
    assert ("items", 36, 36) in seen and ("items", 5, 36) in seen
    on_server = dump(pg_address)
    assert on_server == original
    back = tmp_path / "back.alapp"
    store_copy.copy_project(pg_address, back, chunk=7)
    assert dump(back) == original
    # no temporary left (the -wal and -shm beside it are the dump's read-only connection's)
    assert {p.name for p in tmp_path.iterdir()} <= {"back.alapp", "back.alapp-wal",
                                                     "back.alapp-shm"}

    # the copies are the same project, and go on: the next event's key follows the copied
    for where in (pg_address, back):
        with Project.open(where, workstation="ws-one") as project:
            item = ItemId(original["items"][30]["id"])
            event = project.label_item(item, "spam", "anna")
            assert event == max(e["id"] for e in original["label_events"]) + 1
            assert project.events(item)[-1]["seq"] == max(
                e["seq"] for e in original["label_events"] if e["workstation"] == "ws-one") + 1
            assert project.stats()["schema_version"] == SCHEMA_VERSION
    with Project.open(back, read_only=True) as project:
        assert project.current_label(ItemId(original["items"][14]["id"])) == "spam"


@pytest.mark.parametrize("make", [make_multi_label_project, make_span_project])
def test_multi_label_and_span_projects_round_trip(make: Any, pg_address: str,
                                                  tmp_path: Path) -> None:
    path = make(tmp_path)
    original = dump(path)
    filled = {"event_labels"} if make is make_multi_label_project else {
        "item_tokens", "event_spans"}
    assert all(original[t] for t in filled)
    store_copy.copy_project(path, pg_address, chunk=2)
    assert dump(pg_address) == original
    back = tmp_path / "back.alapp"
    store_copy.copy_project(pg_address, back, chunk=3)
    assert dump(back) == original


def test_file_to_file(mixed: Path, tmp_path: Path) -> None:
    copy = tmp_path / "sub" / "copy.alapp"
    copy.parent.mkdir()
    report = store_copy.copy_project(mixed, copy)
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.alapp"]  # whole in itself
    assert dump(copy) == dump(mixed)
    assert report.total == sum(len(r) for r in dump(mixed).values())
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- refusals write nothing ---------------------------------------------------------------------


def test_refusals_leave_everything_as_it_was(mixed: Path, pg_server: str, pg_address: str,
                                            tmp_path: Path) -> None:
    before = dump(mixed)
    taken = tmp_path / "taken.alapp"
    taken.write_bytes(b"someone's file")
    with pytest.raises(AlappError, match=r"already exists.*never replaces"):
        store_copy.copy_project(mixed, taken)
    assert taken.read_bytes() == b"someone's file"

    # a database that holds a project, or anything else, is never written
    Project.create(pg_address, ["a", "b"]).close()
    held = dump(pg_address)
    with pytest.raises(AlappError, match="already holds a project"):
        store_copy.copy_project(mixed, pg_address)
    assert dump(pg_address) == held
    import psycopg

    other = pg_server.replace("/postgres?", f"/foreign_{id(tmp_path) % 10_000}?")
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE foreign_{id(tmp_path) % 10_000}")
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE their_table (x INTEGER)")
    with pytest.raises(AlappError, match=r"not empty \(table public.their_table\)"):
        store_copy.copy_project(mixed, other)
    assert server_objects(other) == [("table", "their_table")]

    # a missing source, or one on an older schema: no destination appears
    with pytest.raises(AlappError, match="no such project file"):
        store_copy.copy_project(tmp_path / "missing.alapp", tmp_path / "out.alapp")
    old = tmp_path / "old.alapp"
    conn = sqlite3.connect(old, isolation_level=None)
    migrate(conn, target=SCHEMA_VERSION - 1)
    conn.close()
    with pytest.raises(AlappError, match=r"needs an upgrade from schema .*open it for writing"):
        store_copy.copy_project(old, tmp_path / "out.alapp")
    with pytest.raises(AlappError, match=r"no such database.*createdb nodb_here"):
        store_copy.copy_project(mixed, pg_server.replace("/postgres?", "/nodb_here?"))
    with pytest.raises(AlappError, match="no such folder"):
        store_copy.copy_project(mixed, tmp_path / "nowhere" / "out.alapp")
    assert not (tmp_path / "out.alapp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.alapp", "taken.alapp"]
    assert dump(mixed) == before


def test_a_failure_mid_copy_leaves_no_destination(mixed: Path, pg_address: str,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = store_copy.read_rows
    error: BaseException = OSError(28, "No space left on device")

    def failing(conn: Any, table: store_copy.Table, chunk: int = 100) -> Any:
        if table.name == "label_events":  # after items, models, rounds... are written
            yield next(real(conn, table, chunk))
            raise error
        yield from real(conn, table, chunk)

    monkeypatch.setattr(store_copy, "read_rows", failing)
    with pytest.raises(OSError, match="No space"):
        store_copy.copy_project(mixed, tmp_path / "half.alapp", chunk=4)
    assert list(tmp_path.iterdir()) == []  # neither the copy nor its temporary
    error = KeyboardInterrupt()  # Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        store_copy.copy_project(mixed, pg_address, chunk=4)
    assert server_objects(pg_address) == []  # the schema rolled back with the rows
    monkeypatch.setattr(store_copy, "read_rows", real)
    store_copy.copy_project(mixed, pg_address)  # and the same database takes a whole copy
    assert dump(pg_address) == dump(mixed)


def test_a_dead_copys_old_temporary_is_removed_a_fresh_one_kept(mixed: Path,
                                                                  tmp_path: Path) -> None:
    old = tmp_path / ".copy.alapp.0123abcd.copy"
    fresh = tmp_path / ".copy.alapp.89abcdef.copy-journal"
    other = tmp_path / ".other.alapp.0123abcd.copy"
    for path in (old, fresh, other):
        path.write_bytes(b"half")
    hour_ago = time.time() - store_copy.STALE_S - 60
    os.utime(old, (hour_ago, hour_ago))
    os.utime(other, (hour_ago, hour_ago))
    store_copy.copy_project(mixed, tmp_path / "copy.alapp")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [fresh.name, other.name, "copy.alapp"])


def test_a_row_the_server_cannot_hold_is_one_line_and_nothing_is_kept(
        tmp_path: Path, pg_address: str) -> None:
    path = tmp_path / "nul.alapp"
    (tmp_path / "nul.txt").write_text("fine\n", "utf-8")
    with Project.create(path, ["a", "b"]) as project:
        import_file(project, tmp_path / "nul.txt")
        project.flag_item(project.item_ids()[0], "anna", "a\x00b")  # SQLite keeps a NUL
    with pytest.raises(AlappError, match=r"refused table label_events, from key \(1\).*NUL"):
        store_copy.copy_project(path, pg_address)
    assert server_objects(pg_address) == []


# -- the command --------------------------------------------------------------------------------


def test_cli_copies_both_ways_and_refuses_in_one_line(mixed: Path, pg_address: str,
                                                      tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["copy", str(mixed), pg_address]) == 0
    out = capsys.readouterr().out
    assert f"copied {mixed} to {pg_address}: 36 items, " in out
    assert "the same project" in out
    back = tmp_path / "back.alapp"
    assert main(["copy", pg_address, str(back)]) == 0
    assert dump(back) == dump(mixed)
    assert main(["copy", str(mixed), str(back)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"alapp: error: {back}: already exists; alapp copy never replaces a "
                       "file: choose a new name (or remove that file first)")
    assert main(["copy", str(back), pg_address]) == 2
    assert "already holds a project" in capsys.readouterr().err


def test_pages_follow_the_size_of_rows(mixed: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Large rows (images, model weights) are read a few at a time: pages hold about
    PAGE_BYTES. Here 4 KB: the items (about 100 bytes each) come some 40 a page, not the
    1,000 rows a page allows; the model (weights of kilobytes) alone in its page."""
    monkeypatch.setattr(store_copy, "PAGE_BYTES", 4096)
    seen: dict[str, list[int]] = {}
    store_copy.copy_project(mixed, tmp_path / "paged.alapp", chunk=1000,
                            progress=lambda t, d, n: seen.setdefault(t, []).append(d))
    assert dump(tmp_path / "paged.alapp") == dump(mixed)
    pages = {t: [b - a for a, b in zip([0, *done], done, strict=False)]
             for t, done in seen.items()}
    assert pages["items"][0] == store_copy.FIRST_PAGE and max(pages["items"]) < 100
    assert pages["models"] == [1]
    assert pages["identity"] == [1]  # one small row: one page


@pytest.mark.parametrize("on_server", [False, True])
def test_a_copy_is_the_project_at_one_instant_while_others_label(
        mixed: Path, tmp_path: Path, request: pytest.FixtureRequest, on_server: bool) -> None:
    """An annotator labels while the copy runs: the label is saved at once (the copy holds no
    writer lock) and the copy is the project as it was when the copy began."""
    source: Path | str = tmp_path / "live.alapp"
    store_copy.copy_project(mixed, source)
    if on_server:
        source = request.getfixturevalue("pg_address")
        store_copy.copy_project(mixed, source)
    before = dump(source) if on_server else dump(Path(source))
    item = ItemId(before["items"][33]["id"])
    written: list[float] = []

    def label_meanwhile(table: str, done: int, total: int) -> None:
        if table == "items" and not written:
            started = time.perf_counter()
            with Project.open(source, workstation="ws-live") as annotator:
                annotator.label_item(item, "ham", "dana")
            written.append(time.perf_counter() - started)

    copy = tmp_path / "instant.alapp"
    store_copy.copy_project(source, copy, chunk=5, progress=label_meanwhile)
    assert written and written[0] < 10  # not held up until the copy ended
    assert dump(copy) == before
    after = dump(source) if on_server else dump(Path(source))
    assert len(after["label_events"]) == len(before["label_events"]) + 1
