"""Issue 19's store groundwork: event identity across machines, the annotators, adjudication,
and each item's training label as the team rule resolves it (store/resolution.py)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from alapp.core.errors import AlappError
from alapp.core.types import ItemId
from alapp.core.workstation import check_id, workstation_id
from alapp.store import resolution, team
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, migrate


def _project(tmp_path: Path, name: str = "p.alapp", labels: tuple[str, ...] = ("a", "b", "c"),
             rows: int = 6, workstation: str = "ws-main", **settings: object) -> Project:
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(f'{{"id": "t{i}", "text": "text number {i}"}}\n'
                           for i in range(rows)), "utf-8")
    project = Project.create(tmp_path / name, list(labels), workstation=workstation, **settings)
    import_file(project, src)
    return project


def _how(project: Project, item: int) -> tuple[str | None, str] | None:
    row = project._conn.execute("SELECT label, how FROM item_labels WHERE item_id = ?",
                                (item,)).fetchone()
    return None if row is None else (row[0], row[1])


def test_the_workstation_id_is_made_once_and_kept(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ALAPP_WORKSTATION_ID", raising=False)
    monkeypatch.setenv("ALAPP_WORKSTATION_FILE", str(tmp_path / "cfg" / "workstation-id"))
    first = workstation_id()
    assert first == workstation_id() == (tmp_path / "cfg" / "workstation-id").read_text().strip()
    monkeypatch.setenv("ALAPP_WORKSTATION_ID", "Lab-PC_7")
    assert workstation_id() == "lab-pc_7"
    with pytest.raises(ValueError, match="workstation id"):
        check_id("a b")


def test_events_carry_identity_and_a_per_workstation_sequence(tmp_path) -> None:
    with _project(tmp_path) as project:
        project.label_item(ItemId(1), "a", "ann")
        project.skip_item(ItemId(2), "ann")
        project.flag_item(ItemId(1), "ann", "look")
        rows = project._conn.execute(
            "SELECT uid, workstation, seq FROM label_events ORDER BY id").fetchall()
    assert [r[1:] for r in rows] == [("ws-main", 1), ("ws-main", 2), ("ws-main", 3)]
    assert len({r[0] for r in rows}) == 3 and all(len(r[0]) == 32 for r in rows)
    with Project.open(tmp_path / "p.alapp", workstation="ws-other") as project:
        project.label_item(ItemId(3), "b", "ann")
        assert project._conn.execute("SELECT workstation, seq FROM label_events "
                                     "ORDER BY id DESC LIMIT 1").fetchone() == ("ws-other", 1)


def test_one_annotator_keeps_the_latest_label_and_undo_restores_their_own(tmp_path) -> None:
    with _project(tmp_path) as project:
        project.label_item(ItemId(1), "a", "ann")
        project.label_item(ItemId(1), "b", "ann")
        assert project.current_label(ItemId(1)) == "b" and _how(project, 1) == ("b", "single")
        project.undo_last("ann")
        assert project.current_label(ItemId(1)) == "a"
        project.undo_last("ann")
        assert project.current_label(ItemId(1)) is None and _how(project, 1) is None


def test_majority_tie_adjudication_and_withdrawal(tmp_path) -> None:
    with _project(tmp_path) as project:
        project.label_item(ItemId(1), "a", "ann1")
        project.label_item(ItemId(1), "b", "ann2")
        assert _how(project, 1) == (None, "tie") and project.disputed() == {1}
        assert 1 not in project.current_labels()
        project.label_item(ItemId(1), "a", "ann3")
        assert _how(project, 1) == ("a", "majority") and not project.disputed()
        team.adjudicate(project, ItemId(1), "c", "reviewer", "per the guideline on c")
        assert _how(project, 1) == ("c", "adjudicated")
        # an annotator's later change does not override the reviewer
        project.label_item(ItemId(1), "b", "ann3")
        assert project.current_label(ItemId(1)) == "c"
        team.adjudicate(project, ItemId(1), None, "reviewer")
        assert _how(project, 1) == ("b", "majority")  # back to the votes: a, b, b
        votes = {v.annotator: v.label for v in team.item_votes(project)[ItemId(1)]}
        assert votes == {"ann1": "a", "ann2": "b", "ann3": "b"}


def test_withdrawal_returns_to_the_votes(tmp_path) -> None:
    with _project(tmp_path) as project:
        for name, label in (("x", "a"), ("y", "a"), ("z", "b")):
            project.label_item(ItemId(2), label, name)
        team.adjudicate(project, ItemId(2), "b", "rev")
        assert project.current_label(ItemId(2)) == "b"
        team.adjudicate(project, ItemId(2), None, "rev")
        assert _how(project, 2) == ("a", "majority")


def test_an_imported_label_counts_until_a_person_decides(tmp_path) -> None:
    src = tmp_path / "labeled.jsonl"
    src.write_text('{"id": "1", "text": "one", "label": "a"}\n'
                   '{"id": "2", "text": "two", "label": "b"}\n', "utf-8")
    with Project.create(tmp_path / "p.alapp", ["a", "b"], workstation="ws-main") as project:
        import_file(project, src)
        assert project.current_labels() == {1: "a", 2: "b"}
        assert "import" in team.annotators(project)
        project.label_item(ItemId(1), "b", "ann")  # a correction, not a tie with the file
        assert _how(project, 1) == ("b", "single")
        project.undo_last("ann")
        assert project.current_label(ItemId(1)) == "a"


def test_the_reliable_rule_follows_the_annotator_most_often_right(tmp_path) -> None:
    with _project(tmp_path, rows=8) as project:
        # good1 and good2 agree everywhere; noisy differs from them on items 1-6
        for item in range(1, 7):
            project.label_item(ItemId(item), "a", "good1")
            project.label_item(ItemId(item), "a", "good2")
            project.label_item(ItemId(item), "b", "noisy")
        # item 7: only good1 and noisy, who disagree: a tie by majority
        project.label_item(ItemId(7), "a", "good1")
        project.label_item(ItemId(7), "c", "noisy")
        assert _how(project, 7) == (None, "tie")
        project.update_settings(training_label_rule="reliable")
        assert _how(project, 7) == ("a", "reliable")
        scores = resolution.stored_reliability(project._conn)
        assert scores["good1"].score > scores["noisy"].score
        project.update_settings(training_label_rule="majority")
        assert _how(project, 7) == (None, "tie")


def test_a_disputed_item_is_not_asked_again(tmp_path) -> None:
    from alapp.store.rounds import read_for_round

    with _project(tmp_path) as project:
        project.label_item(ItemId(1), "a", "ann1")
        project.label_item(ItemId(1), "b", "ann2")
        rows = read_for_round(project)
    assert 1 not in rows.current and 1 in rows.excluded


def test_adjudication_refuses_what_a_label_would(tmp_path) -> None:
    with _project(tmp_path) as project:
        with pytest.raises(AlappError, match="nope"):
            team.adjudicate(project, ItemId(1), "nope", "rev")
        with pytest.raises(AlappError, match="no item"):
            team.adjudicate(project, ItemId(99), "a", "rev")
        assert project._conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == 0


def test_annotators_are_registered_and_names_checked(tmp_path) -> None:
    with _project(tmp_path) as project:
        project.label_item(ItemId(1), "a", "Анна")
        assert team.add_annotator(project, "  王 伟  ") == "王 伟"
        assert team.annotators(project) == ["Анна", "王 伟"]
        assert team.is_annotator(project, "Анна") and not team.is_annotator(project, "x")
        with pytest.raises(AlappError, match="empty"):
            team.add_annotator(project, "   ")


def _v12_file(path: Path) -> None:
    """A version-12 project as an older alapp wrote it: two annotators disagree on item 1
    (the later label won then), a multi-label-free classification project with an import."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    migrate(conn, target=12)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"')")
    conn.execute("INSERT INTO labels (name, position) VALUES ('a', 0), ('b', 1)")
    conn.execute("INSERT INTO imports VALUES (1, 'x.jsonl', 'jsonl', 'utf-8', 2, 0, 1700000000.5)")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split, import_id) VALUES "
                 "(1, 'x', 'one', x'01', 'pool', 1), (2, 'y', 'two', x'02', 'pool', 1)")
    now = time.time()
    conn.executemany("INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
                     "source) VALUES (?, 'label', ?, ?, ?, 'al')",
                     [(1, "a", "ann1", now), (1, "b", "ann2", now + 1), (2, "a", "ann1", now)])
    conn.close()


def test_an_older_file_migrates_with_identities_every_copy_agrees_on(tmp_path) -> None:
    _v12_file(tmp_path / "a.alapp")
    shutil.copy(tmp_path / "a.alapp", tmp_path / "b.alapp")
    dumps = []
    for name in ("a.alapp", "b.alapp"):
        with Project.open(tmp_path / name, backup=False) as project:
            assert project._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            dumps.append((team.project_id(project), project._conn.execute(
                "SELECT uid, workstation, seq FROM label_events ORDER BY id").fetchall()))
            # the old "latest wins" becomes the team rule: two annotators disagree on item 1
            assert project.current_labels() == {2: "a"} and project.disputed() == {1}
            assert team.annotators(project) == ["ann1", "ann2"]
            assert project.integrity_ok()
            assert project._conn.execute("PRAGMA foreign_key_check").fetchone() is None
    assert dumps[0] == dumps[1]
    assert [r[1:] for r in dumps[0][1]] == [("legacy", 1), ("legacy", 2), ("legacy", 3)]


def test_skipped_for_good_does_not_depend_on_the_order_events_arrived_in(tmp_path) -> None:
    """Two workstations: one says never ask item 1, the other labels it (then undoes):
    the item is skipped for good only while nobody's label stands, whichever event has the
    higher local id."""
    with _project(tmp_path) as project:
        project.skip_item(ItemId(1), "ann1", forever=True)
        assert project.skipped_forever() == {1}
    with Project.open(tmp_path / "p.alapp", workstation="ws-two") as project:
        project.label_item(ItemId(1), "a", "ann2")
        assert project.skipped_forever() == set()  # a label stands
        project.undo_last("ann2")
        assert project.skipped_forever() == {1}  # ann1's decision stands again


def test_the_reliable_rule_learns_reliability_at_every_round(tmp_path) -> None:
    """With the "reliable" rule, saving a round re-estimates who is most often right, so a
    project labeled in the app (no merge, no rule change since) does not rank on stale
    figures; a reviewer is registered as one."""
    from alapp.store.rounds import save_round

    with _project(tmp_path, rows=8, training_label_rule="reliable") as project:
        assert resolution.stored_reliability(project._conn) == {}
        for item in range(1, 7):
            project.label_item(ItemId(item), "a", "good1")
            project.label_item(ItemId(item), "a", "good2")
            project.label_item(ItemId(item), "b", "noisy")
        project.label_item(ItemId(7), "a", "good1")
        project.label_item(ItemId(7), "c", "noisy")
        save_round(project, [], "random", 7, None)
        scores = resolution.stored_reliability(project._conn)
        assert scores["good1"].score > scores["noisy"].score
        assert _how(project, 7) == ("a", "reliable")
        team.adjudicate(project, ItemId(8), "b", "rita")
        assert project._conn.execute("SELECT how FROM annotators WHERE name = 'rita'"
                                     ).fetchone()[0] == "reviewed here"
