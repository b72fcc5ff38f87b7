"""Exchange packages (issue 19): pack, open-package, pack-results and merge, with every refusal
leaving the project as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from alapp.app import packages as ap
from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.core.types import Split
from alapp.store import packages as sp
from alapp.store import queue
from alapp.store.demo import demo_data_path
from alapp.store.importer import ImportSpec, import_file
from alapp.store.lock import ProjectLockedError
from alapp.store.project import Project
from alapp.store.team import add_annotator, annotators, project_id

LABELS = ["billing", "delivery", "technical", "account", "praise"]
ROOT = Path(__file__).resolve().parents[1]


def make_main(tmp_path: Path, name: str = "main.alapp", **settings: object) -> Path:
    path = tmp_path / name
    with Project.create(path, LABELS, featurizer="tfidf", workstation="ws-lead",
                        **settings) as project:
        import_file(project, demo_data_path(), ImportSpec(format="jsonl", meta=[]))
    return path


def dump(path: Path) -> list[str]:
    with Project.open(path, read_only=True) as project:
        return sp.table_dump(project)


def label_package(package: Path, out: Path, workstation: str, decisions: list[str | None],
                  annotator: str | None = None) -> Path:
    """Open an assignment package as a project, label its queue in order (None: skip), and
    write the results package; returns the results file."""
    opened = ap.open_package(package, out)
    with Project.open(opened.path, workstation=workstation) as project:
        who = annotator or opened.annotator
        for entry, label in zip(queue.entries(project), decisions, strict=False):
            if label is None:
                project.skip_item(entry.item_id, who)
            else:
                project.label_item(entry.item_id, label, who, active_ms=1200)
    return ap.pack_results(opened.path).path


@pytest.fixture
def main_project(tmp_path: Path) -> Path:
    return make_main(tmp_path)


def test_pack_chooses_unlabeled_pool_items_and_records_them(main_project: Path,
                                                            tmp_path: Path) -> None:
    with Project.open(main_project) as project:
        labeled = set(project.current_labels())
        queue.start_test_set(project, 20)
        test_items = set(project.item_ids(Split.TEST))
    report = ap.pack(main_project, "alice", 12, out=tmp_path / "alice.alapppack")
    assert report.items == report.fresh == 12 and report.overlap == 0
    manifest, data = ap.read_package(report.path)
    assert manifest["kind"] == "assignment" and manifest["annotator"] == "alice"
    assert manifest["format"] == ap.FORMAT and manifest["version"] == ap.FORMAT_VERSION
    assert manifest["counts"]["items"] == 12
    import hashlib

    assert manifest["members"]["project.alapp"]["sha256"] == hashlib.sha256(data).hexdigest()
    with Project.open(main_project, read_only=True) as project:
        assert manifest["project_id"] == project_id(project)
        packed = sp.assignments(project)
        assert len(packed) == 12 and all(who == {"alice"} for who in packed.values())
        assert not set(packed) & (labeled | test_items)
        assert "alice" in annotators(project)
        how = project._conn.execute("SELECT how FROM annotators WHERE name = 'alice'").fetchone()
        assert how[0] == "packed"
        ext = {project.item(i).ext_id for i in packed}
    # a second package for alice never repeats her items
    again = ap.pack(main_project, "alice", 12, out=tmp_path / "alice2.alapppack")
    with Project.open(main_project, read_only=True) as project:
        second = {i for i, who in sp.assignments(project).items() if "alice" in who}
        assert len(second) == 24
        assert {project.item(i).ext_id for i in second} - ext and again.items == 12
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files


def test_the_package_opens_as_a_project_with_settings_labels_and_identity(
        tmp_path: Path) -> None:
    main_path = make_main(tmp_path, retrain_every=7)
    with Project.open(main_path) as project:
        project.describe_label("billing", "invoices and charges")
        pid = project_id(project)
    report = ap.pack(main_path, "Мария", 8, out=tmp_path / "m.alapppack")
    opened = ap.open_package(report.path)
    assert opened.path == tmp_path / "m.alapp" and opened.annotator == "Мария"
    with Project.open(opened.path, workstation="ws-maria") as package:
        assert package.labels() == LABELS
        assert package.label_descriptions() == {"billing": "invoices and charges"}
        assert package.settings().retrain_every == 7
        identity = sp.package_identity(package)
        assert identity["project_id"] == pid and identity["package_for"] == "Мария"
        assert identity["package_id"] == report.package_id
        assert package.workstation == f"ws-maria-p{report.package_id[:12]}"
        assert len(queue.entries(package)) == 8 and not package.current_labels()
        assert package.count_items()["pool"] == 8
        # its labels merge as pool labels: no test set is drawn in a package
        with pytest.raises(AlappError, match="test set is drawn in the main project"):
            queue.start_test_set(package, 3)
        assert package.count_items()["test"] == 0
    from alapp.app.session import LabelingSession

    with LabelingSession(opened.path, "Мария") as session:
        assert not session.offers_test_set()
    with LabelingSession(main_path, "lead") as session:
        assert session.offers_test_set()
    with pytest.raises(AlappError, match="already exists"):
        ap.open_package(report.path)  # never over a file
    with pytest.raises(AlappError, match="already exists"):
        ap.pack(main_path, "Мария", 3, out=report.path)
    with pytest.raises(AlappError, match="never replaces a project"):
        ap.pack(main_path, "x", 3, out=main_path, force=True)


def test_overlap_draws_from_items_packed_for_others(main_project: Path, tmp_path: Path) -> None:
    alice = ap.pack(main_project, "alice", 20, out=tmp_path / "a.alapppack")
    bob = ap.pack(main_project, "bob", 20, overlap=ap.parse_overlap("25%"),
                  out=tmp_path / "b.alapppack")
    assert (bob.items, bob.overlap, bob.fresh, bob.overlap_asked) == (20, 5, 15, 5)
    with Project.open(main_project, read_only=True) as project:
        packed = sp.assignments(project)
        shared = [i for i, who in packed.items() if who == {"alice", "bob"}]
        assert len(shared) == 5
        assert sum(who == {"bob"} for who in packed.values()) == 15
        rows = project._conn.execute(
            "SELECT overlap, COUNT(*) FROM assignments WHERE annotator = 'bob' GROUP BY overlap")
        assert dict(rows.fetchall()) == {0: 15, 1: 5}
    # carol's overlap may come from alice's or bob's items, never twice from one item of hers
    carol = ap.pack(main_project, "carol", 10, overlap=50.0, out=tmp_path / "c.alapppack")
    assert carol.overlap == 5
    with Project.open(main_project, read_only=True) as project:
        packed = sp.assignments(project)
        assert sum("carol" in who and len(who) > 1 for who in packed.values()) == 5
    assert alice.overlap == 0
    with pytest.raises(AlappError, match="percentage"):
        ap.parse_overlap("150%")


def test_merge_is_idempotent_and_keeps_every_event(main_project: Path, tmp_path: Path) -> None:
    package = ap.pack(main_project, "alice", 6, out=tmp_path / "a.alapppack").path
    results = label_package(package, tmp_path / "a.alapp", "ws-a",
                            ["billing", "delivery", None, "praise", "billing", "account"])
    with Project.open(main_project, read_only=True) as project:
        before = len(project.events())
    report = ap.merge_package(main_project, results)
    assert (report.new_events, report.already_present, report.items) == (6, 0, 6)
    assert report.per_action == {"label": 5, "skip": 1} and report.annotators == ["alice"]
    first = dump(main_project)
    again = ap.merge_package(main_project, results)
    assert (again.new_events, again.already_present) == (0, 6)
    assert dump(main_project) == first  # nothing changed the second time
    with Project.open(main_project, read_only=True) as project:
        events = project.events()
        assert len(events) == before + 6
        merged = [e for e in events if e["annotator"] == "alice"]
        assert all(e["workstation"].startswith("ws-a-p") for e in merged)
        assert [e["seq"] for e in merged] == [1, 2, 3, 4, 5, 6]
        assert all(e["active_ms"] == 1200 for e in merged if e["action"] == "label")
        labeled = {project.item(e["item_id"]).ext_id: e["label"] for e in merged}
        current = project.current_labels()
        for e in merged:
            if e["action"] == "label":
                assert current[e["item_id"]] == e["label"]
    assert len(labeled) == 6
    # the annotator labels more in the same package and sends everything again
    with Project.open(tmp_path / "a.alapp", workstation="ws-a") as package_project:
        package_project.label_item(package_project.item_ids()[0], "technical", "alice")
        package_project.undo_last("alice")
    later = ap.pack_results(tmp_path / "a.alapp").path
    report = ap.merge_package(main_project, later)
    assert (report.new_events, report.already_present) == (2, 6)
    with Project.open(main_project, read_only=True) as project:
        undo = [e for e in project.events() if e["action"] == "undo"][-1]
        target = next(e for e in project.events() if e["id"] == undo["undoes"])
        assert target["label"] == "technical" and target["annotator"] == "alice"


def test_the_cli_runs_the_whole_flow(main_project: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bob.alapppack"
    assert main(["pack", str(main_project), "--for", "bob", "--items", "4", "--out",
                 str(out)]) == 0
    assert "packed 4 items for bob" in capsys.readouterr().out
    assert main(["open-package", str(out)]) == 0
    assert "pack-results" in capsys.readouterr().out
    with Project.open(tmp_path / "bob.alapp", workstation="ws-bob") as project:
        for entry in queue.entries(project)[:3]:
            project.label_item(entry.item_id, "praise", "bob")
    results = tmp_path / "bob-results.alapppack"
    assert main(["pack-results", str(tmp_path / "bob.alapp"), "--out", str(results)]) == 0
    assert main(["merge", str(main_project), str(results)]) == 0
    assert "merged 3 new events (3 label) on 3 items" in capsys.readouterr().out
    assert main(["merge", str(main_project), str(results)]) == 0
    assert "nothing new (3 events already in the project)" in capsys.readouterr().out
    assert main(["pack-results", str(main_project)]) == 2
    assert "not a project opened from a package" in capsys.readouterr().err


# -- refusals: one line, the project unchanged ------------------------------------------------


@pytest.fixture(scope="module")
def flow_made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Made once (a pack runs a round): a main project, alice's package, the project opened
    from it with five labels, and its results package."""
    folder = tmp_path_factory.mktemp("flow")
    main_project = make_main(folder)
    package = ap.pack(main_project, "alice", 5, out=folder / "a.alapppack").path
    results = label_package(package, folder / "a.alapp", "ws-a",
                            ["billing", "delivery", "praise", "billing", "account"])
    return {"main": main_project, "package": package, "results": results,
            "opened": folder / "a.alapp"}


@pytest.fixture
def flow(flow_made: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A fresh copy of ``flow_made`` for each test."""
    import shutil

    copies = {}
    for key, path in flow_made.items():
        copies[key] = tmp_path / path.name
        shutil.copy2(path, copies[key])
    return copies


def refused(main_project: Path, package: Path, match: str) -> str:
    before = dump(main_project)
    with pytest.raises(AlappError, match=match) as info:
        ap.merge_package(main_project, package)
    message = str(info.value)
    assert "\n" not in message
    assert dump(main_project) == before
    return message


def rewrite(results: Path, out: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    """A well-formed results package (checksums made anew) with its payload edited."""
    manifest, data = ap.read_package(results)
    payload = json.loads(data)
    edit(payload)
    manifest.pop("members")
    ap.write_package(out, manifest, {ap.RESULTS_MEMBER: json.dumps(payload).encode()}, [])
    return out


def test_a_package_from_another_project_is_refused(flow: dict[str, Path],
                                                   tmp_path: Path) -> None:
    other = make_main(tmp_path, "other.alapp")  # same items, another project
    message = refused(other, flow["results"], "made for another project")
    assert "nothing was merged" in message


def test_a_truncated_package_is_refused(flow: dict[str, Path], tmp_path: Path) -> None:
    data = flow["results"].read_bytes()
    cut = tmp_path / "cut.alapppack"
    cut.write_bytes(data[: len(data) * 2 // 3])
    refused(flow["main"], cut, "damaged or cut-short")
    empty = tmp_path / "empty.alapppack"
    empty.write_bytes(b"")
    refused(flow["main"], empty, "not an alapp package")


def test_an_edited_package_is_refused(flow: dict[str, Path], tmp_path: Path) -> None:
    # the results changed after the manifest was written: the checksum says so
    manifest, data = ap.read_package(flow["results"])
    edited = tmp_path / "edited.alapppack"
    with zipfile.ZipFile(edited, "w") as archive:
        archive.writestr(ap.MANIFEST, json.dumps(manifest))
        archive.writestr(ap.RESULTS_MEMBER, data.replace(b'"billing"', b'"praise!"'))
    refused(flow["main"], edited, "sha256|size")
    # a byte changed inside the zip: its CRC or the checksum catches it
    raw = bytearray(flow["results"].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    flipped = tmp_path / "flipped.alapppack"
    flipped.write_bytes(bytes(raw))
    refused(flow["main"], flipped, "changed|damaged|cut")


def test_a_label_the_project_does_not_have_is_refused(flow: dict[str, Path]) -> None:
    with Project.open(flow["opened"], workstation="ws-a") as project:
        project.add_labels(["refund"])  # added on the annotator's machine only
        entry = queue.entries(project)[0] if queue.entries(project) else None
        item = entry.item_id if entry else project.item_ids()[0]
        project.label_item(item, "refund", "alice")
        ext_id = project.item(item).ext_id
    results = ap.pack_results(flow["opened"]).path
    message = refused(flow["main"], results, "the label 'refund' is not one of the project")
    assert f"(item {ext_id!r})" in message and "event 6" in message


def test_an_unknown_annotator_is_refused_until_added(flow: dict[str, Path]) -> None:
    with Project.open(flow["opened"], workstation="ws-a") as project:
        project.label_item(project.item_ids()[0], "praise", "carol")  # a colleague's turn
    results = ap.pack_results(flow["opened"]).path
    message = refused(flow["main"], results, "'carol' is not one of the project's annotators")
    assert f"alapp annotators {flow['main']} --add carol" in message
    with Project.open(flow["main"]) as project:
        add_annotator(project, "carol")
    report = ap.merge_package(flow["main"], results)
    assert report.per_annotator == {"alice": 5, "carol": 1}


def test_an_item_the_project_lacks_or_changed_is_refused(flow: dict[str, Path],
                                                         tmp_path: Path) -> None:
    def rename(payload: dict) -> None:  # type: ignore[type-arg]
        payload["events"][2]["item"] = "no-such-item"

    missing = rewrite(flow["results"], tmp_path / "missing.alapppack", rename)
    refused(flow["main"], missing, "event 3 \\(item 'no-such-item'\\): the project has no")
    _, data = ap.read_package(flow["results"])
    ext_id = json.loads(data)["events"][0]["item"]
    with Project.open(flow["main"]) as project, project.transaction() as conn:
        conn.execute("UPDATE items SET text = text || '!' WHERE ext_id = ?", (ext_id,))
    refused(flow["main"], flow["results"], "the item's text differs")


def test_a_conflicting_event_is_refused(flow: dict[str, Path], tmp_path: Path) -> None:
    ap.merge_package(flow["main"], flow["results"])

    def relabel(payload: dict) -> None:  # type: ignore[type-arg]
        payload["events"][1]["label"] = "technical"

    changed = rewrite(flow["results"], tmp_path / "changed.alapppack", relabel)
    message = refused(flow["main"], changed, "conflict: the project holds event")
    assert "another label ('delivery', the package says 'technical')" in message

    def reseq(payload: dict) -> None:  # type: ignore[type-arg]
        payload["events"][1]["uid"] = "f" * 32  # a new event reusing a taken sequence

    taken = rewrite(flow["results"], tmp_path / "taken.alapppack", reseq)
    refused(flow["main"], taken, "sequence 2 is already event")


def test_an_assignment_package_is_not_merged(flow: dict[str, Path]) -> None:
    refused(flow["main"], flow["package"], "an assignment package .*not results")
    refused(flow["opened"], flow["results"], "a package opened for alice, not the main")
    with pytest.raises(AlappError, match="a results package"):
        ap.open_package(flow["results"], flow["main"].with_name("x.alapp"))


def test_merging_while_the_project_is_open_elsewhere_is_refused(flow: dict[str, Path]) -> None:
    before = dump(flow["main"])
    with Project.open(flow["main"]), pytest.raises(ProjectLockedError, match="open in another"):
        ap.merge_package(flow["main"], flow["results"])
    assert dump(flow["main"]) == before
    # the command line, from another process, while this one holds the project (the window)
    with Project.open(flow["main"]):
        done = subprocess.run(
            [sys.executable, "-m", "alapp", "merge", str(flow["main"]), str(flow["results"])],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "open in another alapp process" in done.stderr
    assert dump(flow["main"]) == before


# -- decisions of other kinds ----------------------------------------------------------------


def test_multi_label_sets_are_merged_with_their_rows(tmp_path: Path) -> None:
    main_path = tmp_path / "m.alapp"
    with Project.create(main_path, ["a", "b", "c"], multi_label=True, featurizer="tfidf",
                        workstation="ws-lead") as project:
        rows = tmp_path / "m.jsonl"
        rows.write_text("".join(json.dumps({"id": f"t{k}", "text": f"text number {k} " * 3})
                                + "\n" for k in range(30)), "utf-8")
        import_file(project, rows, ImportSpec(format="jsonl", meta=[]))
    package = ap.pack(main_path, "ann", 4, out=tmp_path / "m.alapppack").path
    results = label_package(package, tmp_path / "mp.alapp", "ws-x", ["b|a", "", "c", "a|c"])
    report = ap.merge_package(main_path, results)
    assert report.new_events == 4
    with Project.open(main_path, read_only=True) as project:
        merged = [e for e in project.events() if e["annotator"] == "ann"]
        assert [e["label"] for e in merged] == ["a|b", "", "c", "a|c"]
        assert [project.label_set(e["id"]) for e in merged] == [["a", "b"], [], ["c"],
                                                                ["a", "c"]]


def test_span_decisions_are_checked_and_merged_with_their_rows(tmp_path: Path) -> None:
    from alapp.core.spans import Span, encode_spans

    main_path = tmp_path / "s.alapp"
    with Project.create(main_path, ["PER", "LOC"], task="spans", span_language="en",
                        workstation="ws-lead") as project:
        rows = tmp_path / "s.txt"
        rows.write_text("".join(f"Anna went to Paris on day {k}\n" for k in range(12)),
                        "utf-8")
        import_file(project, rows, ImportSpec(format="txt", meta=[]))
    package = ap.pack(main_path, "ann", 3, out=tmp_path / "s.alapppack").path
    spans = encode_spans([Span(0, 4, "PER"), Span(13, 18, "LOC")])
    results = label_package(package, tmp_path / "sp.alapp", "ws-x", [spans, "[]", spans])
    report = ap.merge_package(main_path, results)
    assert report.new_events == 3
    from alapp.store.spans import event_spans

    with Project.open(main_path, read_only=True) as project:
        merged = [e for e in project.events() if e["annotator"] == "ann"]
        assert [len(event_spans(project, e["id"])) for e in merged] == [2, 0, 2]

    def shift(payload: dict) -> None:  # type: ignore[type-arg]
        event = payload["events"][0]
        event["uid"] = "e" * 32
        event["seq"] = 99
        event["label"] = encode_spans([Span(1, 4, "PER")])  # not on a token boundary
        event["spans"] = [[1, 4, "PER"]]

    bad = rewrite(results, tmp_path / "bad.alapppack", shift)
    refused(main_path, bad, "event 1")
