"""A simulated team (issue 19): three annotators on three workstations label overlapping
packages with scripted disagreements (an undo, a flag and a skip among them) and send them
back; the lead merges the three results packages into copies of the main project in all six
orders. Every copy ends with the same events, the same training labels and the same agreement
figures; merging everything again changes nothing."""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from alapp.al.agreement import (
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    ratings_from_triples,
)
from alapp.app import packages as ap
from alapp.store import packages as sp
from alapp.store import queue
from alapp.store.demo import demo_data_path
from alapp.store.project import Project
from alapp.store.team import item_votes
from tests.test_packages import make_main

TEAM = ("alice", "bob", "carol")


def gold() -> dict[str, str]:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    return {r["id"]: r["gold"] for r in rows}


def scripted(annotator: str, ext_id: str, truth: str, labels: list[str]) -> str:
    """The true label, except where this annotator is scripted to disagree (a stable share of
    items each, different per annotator)."""
    h = int(hashlib.sha256(f"{annotator}/{ext_id}".encode()).hexdigest(), 16)
    wrong = {"alice": h % 7 == 0, "bob": h % 4 == 0, "carol": h % 3 == 0}[annotator]
    return labels[(labels.index(truth) + 1) % len(labels)] if wrong else truth


def work(opened: Path, annotator: str, workstation: str, truth: dict[str, str]) -> None:
    with Project.open(opened, workstation=workstation) as project:
        labels = project.labels()
        entries = queue.entries(project)
        for k, entry in enumerate(entries):
            ext_id = project.item(entry.item_id).ext_id
            if annotator == "carol" and k == 1:
                project.skip_item(entry.item_id, annotator)  # carol skips one item
                continue
            if annotator == "alice" and k == 2:  # a slip, undone, then the considered label
                project.label_item(entry.item_id, "praise", annotator, active_ms=400)
                assert project.undo_last(annotator) is not None
            project.label_item(entry.item_id, scripted(annotator, ext_id, truth[ext_id], labels),
                               annotator, active_ms=1000 + 10 * k)
            if annotator == "bob" and k == 3:
                project.flag_item(entry.item_id, annotator, "ambiguous: two topics")


def event_set(project: Project) -> set[tuple[Any, ...]]:
    return {(*(e[f] for f in sp.EVENT_FIELDS), json.dumps(e.get("labels")),
             json.dumps(e.get("spans"))) for e in sp.package_events(project)}


def figures(project: Project) -> dict[str, Any]:
    """Training labels by item, how each was decided, and the agreement among the team."""
    ext = {i: project.item(i).ext_id for i in project.item_ids()}
    triples = [(ext[i], v.annotator, v.label) for i, votes in item_votes(project).items()
               for v in votes if v.annotator in TEAM]
    ratings = ratings_from_triples(triples, project.labels())
    cohen = {pair: (a.overall.value, a.overall.low, a.overall.high, a.overall.n_items)
             for pair, a in pairwise_cohen(ratings, boot=200).items()}
    fleiss = fleiss_kappa(ratings, boot=200).overall
    alpha = krippendorff_alpha(ratings, boot=200).overall
    resolved = project._conn.execute(
        "SELECT i.ext_id, l.label, l.how, l.voters FROM item_labels l "
        "JOIN items i ON i.id = l.item_id ORDER BY i.ext_id").fetchall()
    return {"labels": {ext[i]: label for i, label in project.current_labels().items()},
            "resolved": resolved, "cohen": cohen,
            "fleiss": (fleiss.value, fleiss.low, fleiss.high, fleiss.n_items),
            "alpha": (alpha.value, alpha.low, alpha.high, alpha.n_items),
            "disputed": sorted(ext[i] for i in project.disputed())}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("team")
    main_path = make_main(folder)
    truth = gold()
    packages = {
        "alice": ap.pack(main_path, "alice", 12, out=folder / "alice.alapppack"),
        "bob": ap.pack(main_path, "bob", 12, overlap=50, out=folder / "bob.alapppack"),
        "carol": ap.pack(main_path, "carol", 12, overlap=50, out=folder / "carol.alapppack"),
    }
    results = {}
    for name, report in packages.items():
        opened = ap.open_package(report.path, folder / f"{name}.alapp").path
        work(opened, name, f"ws-{name}", truth)
        results[name] = ap.pack_results(opened, folder / f"{name}-results.alapppack").path
    return {"folder": folder, "main": main_path, "packages": packages, "results": results}


def test_every_merge_order_gives_the_same_project(team: dict[str, Any]) -> None:
    folder: Path = team["folder"]
    seen_events, seen_figures = [], []
    for order in itertools.permutations(TEAM):
        copy = folder / f"lead-{'-'.join(order)}.alapp"
        shutil.copy2(team["main"], copy)
        for name in order:
            report = ap.merge_package(copy, team["results"][name])
            assert report.new_events > 0 and report.annotators == [name]
        with Project.open(copy, read_only=True) as project:
            seen_events.append(event_set(project))
            seen_figures.append(figures(project))
    assert all(events == seen_events[0] for events in seen_events[1:])
    assert all(f == seen_figures[0] for f in seen_figures[1:])

    result = seen_figures[0]
    # the overlap gives pairs to compare, and the scripted disagreements show in the figures
    assert ("alice", "bob") in result["cohen"] and ("alice", "carol") in result["cohen"]
    assert all(n >= 3 for *_, n in result["cohen"].values())
    assert any(value < 1 for value, *_ in result["cohen"].values())
    assert result["alpha"][3] >= 6 and result["alpha"][0] < 1
    assert result["fleiss"][3] >= 1
    labeled = {e[1] for e in seen_events[0] if e[3] == "label"}  # imported ones too
    assert len(labeled) > 60 and len(result["labels"]) == len(labeled) - len(result["disputed"])
    actions = {e[3] for e in seen_events[0]}
    assert {"label", "undo", "flag", "skip"} <= actions


def test_the_undo_and_the_per_workstation_order_survive_the_merge(team: dict[str, Any]) -> None:
    copy = team["folder"] / "lead-undo.alapp"
    shutil.copy2(team["main"], copy)
    for name in reversed(TEAM):
        ap.merge_package(copy, team["results"][name])
    with Project.open(copy, read_only=True) as project:
        events = project.events()
        undo = next(e for e in events if e["action"] == "undo")
        target = next(e for e in events if e["id"] == undo["undoes"])
        assert (target["label"], target["annotator"]) == ("praise", "alice")
        after = next(e for e in events if e["item_id"] == undo["item_id"]
                     and e["action"] == "label" and e["seq"] > undo["seq"]
                     and e["workstation"] == undo["workstation"])
        votes = {v.annotator: v.label for v in item_votes(project)[undo["item_id"]]}
        assert votes["alice"] == after["label"]  # her considered label, not the slip
        flag = next(e for e in events if e["action"] == "flag")
        assert flag["note"] == "ambiguous: two topics" and flag["annotator"] == "bob"
        stations = {e["workstation"] for e in events if e["annotator"] in TEAM}
        assert {s.split("-p")[0] for s in stations} == {"ws-alice", "ws-bob", "ws-carol"}


def test_merging_everything_again_changes_nothing(team: dict[str, Any]) -> None:
    copy = team["folder"] / "lead-again.alapp"
    shutil.copy2(team["main"], copy)
    for name in TEAM:
        ap.merge_package(copy, team["results"][name])
    with Project.open(copy, read_only=True) as project:
        before = sp.table_dump(project)
    for name in ("carol", "alice", "bob"):
        report = ap.merge_package(copy, team["results"][name])
        assert report.new_events == 0 and report.already_present > 0
    with Project.open(copy, read_only=True) as project:
        assert sp.table_dump(project) == before
