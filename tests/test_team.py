"""Issue 19: the team report, the review queue, noisy-label suspects, adjudication and the
annotator-aware export, on a scripted team project (tests/team_samples.py)."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from alapp.al import agreement as agr
from alapp.app import team
from alapp.cli import main
from alapp.core.types import ItemId, Selection, Source
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from tests.team_samples import VOTES, make_team_project


@pytest.fixture
def team_project(tmp_path: Path) -> Path:
    return make_team_project(tmp_path)


def _ratings() -> agr.Ratings:
    return agr.ratings_from_triples(
        [(item, a, label) for item, given in VOTES.items() for a, label in given.items()],
        ["pos", "neg", "neu"])


def test_report_matches_the_statistics_and_a_hand_calculation(team_project: Path) -> None:
    report = team.team_report_of(team_project)
    assert (report.items_labeled, report.items_overlap, report.items_single) == (10, 9, 1)
    assert report.disputed == 2 and report.adjudicated == 0
    pairs = {(p.first, p.second): p for p in report.pairs}
    # anna and boris share items 1-6 and 10 and agree on all but item 5: p_o = 6/7; anna
    # gave pos 4, neg 2, neu 1, boris pos 3, neg 3, neu 1: p_e = (12 + 6 + 1) / 49, so
    # kappa = (6/7 - 19/49) / (30/49) = 23/30
    assert pairs["anna", "boris"].shared == 7
    assert pairs["anna", "boris"].value.value == pytest.approx(23 / 30)
    ratings = _ratings()
    for (a, b), pair in pairs.items():
        expected = agr.cohen_kappa(ratings, ratings.annotators.index(a),
                                   ratings.annotators.index(b)).overall
        assert pair.value.value == pytest.approx(expected.value)
        assert pair.value.low == pytest.approx(expected.low)
    alpha = agr.krippendorff_alpha(ratings)
    assert report.alpha is not None and report.alpha.overall.n_items == 9
    assert report.alpha.overall.value == pytest.approx(alpha.overall.value)
    assert report.alpha.overall.high == pytest.approx(alpha.overall.high)
    assert report.alpha.per_label["neu"].value == pytest.approx(alpha.per_label["neu"].value)
    # Fleiss' kappa on the six items all three labeled (1-5, 10); 6-9 are left out and said so
    fleiss = agr.fleiss_kappa(ratings, ratings_per_item=3)
    assert report.fleiss is not None and report.fleiss.overall.n_items == 6
    assert report.fleiss.overall.value == pytest.approx(fleiss.overall.value)
    assert "3 item(s) with another number" in report.fleiss.note
    people = {a.name: a for a in report.annotators}
    assert set(people) == {"anna", "boris", "chen"}  # no import pseudo-annotator
    anna = people["anna"]
    assert (anna.items, anna.shared, anna.timed_labels) == (9, 8, 9)
    assert anna.labels_per_hour == pytest.approx(900.0)  # 4 s a label
    assert anna.median_seconds == pytest.approx(4.0)
    kappas = [pairs["anna", "boris"].value.value, pairs["anna", "chen"].value.value]
    assert anna.with_others == pytest.approx(sum(kappas) / 2)  # type: ignore[arg-type]
    assert anna.with_others_items == 14 and anna.with_others_pairs == 2
    assert anna.adjudicated_share is None  # nothing adjudicated yet
    assert people["chen"].median_seconds == pytest.approx(10.0)
    assert anna.reliability is not None and anna.reliability > people["chen"].reliability


def test_agreement_with_the_reviewer(team_project: Path) -> None:
    reviewer_says = {1: "pos", 2: "neg", 3: "neg", 4: "neu", 5: "pos", 6: "neg"}
    with Project.open(team_project) as project:
        ids = _ids(project)
        for item, label in reviewer_says.items():
            team_store_adjudicate(project, ids[item], label)
    report = team.team_report_of(team_project)
    anna = next(a for a in report.annotators if a.name == "anna")
    # anna labeled all six and agreed on all but item 3 (pos; the reviewer said neg)
    assert anna.adjudicated_items == 6
    assert anna.adjudicated_share == pytest.approx(5 / 6)
    table = np.zeros((3, 3))
    labels = ["pos", "neg", "neu"]
    for item, label in reviewer_says.items():
        table[labels.index(VOTES[item]["anna"]), labels.index(label)] += 1
    expected = agr.cohen_kappa_table(table, labels, boot=0).overall.value
    assert anna.adjudicated_agreement == pytest.approx(expected)
    chen = next(a for a in report.annotators if a.name == "chen")
    assert chen.adjudicated_items == 5 and chen.adjudicated_agreement is not None
    assert report.adjudicated == 6


def team_store_adjudicate(project: Project, item: ItemId, label: str | None) -> None:
    from alapp.store.team import adjudicate

    adjudicate(project, item, label, "rita", "")


def _ids(project: Project) -> dict[int, ItemId]:
    return {int(project.item(i).ext_id[1:]): i for i in project.item_ids()}


def test_not_enough_overlap(tmp_path: Path) -> None:
    Project.create(tmp_path / "solo.alapp", ["pos", "neg", "neu"]).close()
    with Project.open(tmp_path / "solo.alapp") as project:
        data = tmp_path / "solo.jsonl"
        data.write_text('{"id": "a", "text": "один"}\n{"id": "b", "text": "два"}\n', "utf-8")
        import_file(project, data, ImportSpec(format="jsonl"))
        a, b = project.item_ids()
        project.label_item(a, "pos", "anna", time.time(), 3000)
        project.label_item(b, "neg", "boris", time.time(), 3000)
    report = team.team_report_of(tmp_path / "solo.alapp")
    assert report.items_single == 2 and report.items_overlap == 0
    assert report.alpha is not None and report.alpha.overall.value is None
    assert report.fleiss is not None and report.fleiss.overall.value is None
    assert "not enough overlap yet" in report.alpha.note
    assert any("not enough overlap yet" in n for n in report.notes)
    assert all(a.with_others is None for a in report.annotators)


def test_review_queue_order_and_contents(team_project: Path) -> None:
    with Project.open(team_project, read_only=True) as reader:
        queue = team.review_queue(reader)
        assert [(e.ext_id, e.reasons) for e in queue] == [
            ("t5", ("tie",)), ("t8", ("tie",)), ("t3", ("disagreement",)),
            ("t2", ("flagged",)), ("t9", ("flagged",))]
        t5 = queue[0]
        assert {v.annotator: v.label for v in t5.votes} == VOTES[5]
        assert t5.training_label is None and t5.how == "tie"
        t3 = queue[2]
        assert (t3.training_label, t3.how) == ("pos", "majority")
        t9 = queue[4]
        assert [(f.annotator, f.note) for f in t9.flags] == [("anna", "не уверена — ирония")]
        assert [e.ext_id for e in team.review_queue(reader, show=["flagged"])] == ["t2", "t9"]
        assert len(team.review_queue(reader, limit=2)) == 2
        with pytest.raises(Exception, match="unknown review filter"):
            team.review_queue(reader, show=["bogus"])


def test_adjudication_from_the_command_line(team_project: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    p = str(team_project)
    assert main(["adjudicate", p, "t5", "neg", "--as", "rita", "--note", "irony"]) == 0
    assert "t5: final label neg (adjudicated)" in capsys.readouterr().out
    with Project.open(team_project, read_only=True) as reader:
        assert [e.ext_id for e in team.review_queue(reader)] == ["t8", "t3", "t2", "t9"]
        events = [e for e in reader.events() if e["action"] == "adjudication"]
        assert [(e["annotator"], e["label"], e["note"], e["source"]) for e in events] == [
            ("rita", "neg", "irony", "review")]
    assert main(["adjudicate", p, "t5", "--withdraw", "--as", "rita"]) == 0
    assert "t5: no training label (tie)" in capsys.readouterr().out
    assert main(["adjudicate", p, "t5", "happy"]) == 2
    assert capsys.readouterr().err.strip() == \
        "alapp: error: unknown label 'happy'; labels are pos, neg, neu"
    assert main(["adjudicate", p, "t99", "neg"]) == 2
    assert "no item 't99'" in capsys.readouterr().err
    assert main(["adjudicate", p, "t5"]) == 2
    assert "give a LABEL or --withdraw" in capsys.readouterr().err
    assert main(["review", p, "--json", "--no-label-check", "--limit", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [i["ext_id"] for i in out["items"]] == ["t5"] and out["label_check"] is None


def test_annotators_and_agreement_commands(team_project: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    p = str(team_project)
    assert main(["annotators", p, "--add", "dmitri", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["anna"]["items"] == 9 and rows["dmitri"]["items"] == 0
    assert rows["dmitri"]["how"] == "added"
    assert main(["annotators", p, "--add", "  "]) == 2
    assert "name is empty" in capsys.readouterr().err
    assert main(["agreement", p, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"][0]["value"]["value"] == pytest.approx(23 / 30)
    assert main(["agreement", p]) == 0
    text = capsys.readouterr().out
    assert "Cohen's kappa anna / boris (7 shared): 0.77" in text
    assert "Krippendorff's alpha (nominal): 0.55" in text
    assert main(["config", p, "training_label_rule=reliable"]) == 0
    capsys.readouterr()
    with Project.open(team_project, read_only=True) as reader:
        assert reader.settings().training_label_rule == "reliable"
    assert main(["config", p, "training_label_rule=loudest"]) == 2


def test_export_with_every_annotator(team_project: Path) -> None:
    out = team_project.parent / "all.jsonl"
    assert main(["export", str(team_project), str(out), "--annotators"]) == 0
    rows = {r["id"]: r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    assert len(rows) == 10  # the two tied items too
    assert rows["t5"]["label"] is None and rows["t5"]["how"] == "tie"
    assert rows["t5"]["annotators"] == VOTES[5]
    assert (rows["t3"]["label"], rows["t3"]["how"]) == ("pos", "majority")
    assert rows["t9"]["annotators"] == {"anna": "neg"}
    plain = team_project.parent / "plain.jsonl"
    assert main(["export", str(team_project), str(plain)]) == 0
    assert len(plain.read_text("utf-8").splitlines()) == 8  # ties have no training label
    table = team_project.parent / "all.csv"
    assert main(["export", str(team_project), str(table), "--annotators"]) == 0
    with table.open(encoding="utf-8-sig", newline="") as f:
        read = list(csv.DictReader(f))
    assert list(read[0])[:7] == ["id", "text", "label", "how", "annotator:anna",
                                 "annotator:boris", "annotator:chen"]
    t8 = next(r for r in read if r["id"] == "t8")
    assert (t8["label"], t8["how"], t8["annotator:anna"], t8["annotator:boris"],
            t8["annotator:chen"]) == ("", "tie", "", "neu", "pos")
    assert main(["export", str(team_project), str(team_project.parent / "p.jsonl"),
                 "--format", "prodigy", "--annotators"]) == 2


def test_label_check_finds_flipped_labels(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """200 items with separable vectors, 10 labels flipped: the suspects are mostly them."""
    rng = np.random.default_rng(7)
    n = 200
    truth = np.array(["a", "b"] * (n // 2))
    centres = {"a": np.array([2.0, 0.0, 0.0, 0.0]), "b": np.array([-2.0, 0.0, 0.0, 0.0])}
    vectors = np.stack([centres[t] + rng.normal(0, 0.6, 4) for t in truth]).astype(np.float32)
    data = tmp_path / "items.jsonl"
    data.write_text("".join(json.dumps({"id": f"i{k}", "text": f"item {k}"}) + "\n"
                            for k in range(n)), "utf-8")
    np.save(tmp_path / "v.npy", vectors)
    path = tmp_path / "noisy.alapp"
    assert main(["init", str(path), "--labels", "a,b"]) == 0
    assert main(["import", str(path), str(data)]) == 0
    assert main(["import-vectors", str(path), "v", str(tmp_path / "v.npy")]) == 0
    assert main(["config", str(path), "featurizer=vectors:v"]) == 0
    flipped = set(rng.choice(n, 10, replace=False).tolist())
    with Project.open(path) as project:
        for k, item in enumerate(project.item_ids()):
            label = truth[k] if k not in flipped else ("b" if truth[k] == "a" else "a")
            project.label_item(item, str(label), "anna", time.time(), 2000,
                               Selection(Source.AL))
    capsys.readouterr()
    assert main(["review", str(path), "--json", "--only", "suspect"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "5-fold" in out["label_check"]["note"]
    found = {int(e["ext_id"][1:]) for e in out["items"]}
    assert all(e["reasons"] == ["suspect"] for e in out["items"])
    assert len(found & flipped) >= 8, (sorted(found), sorted(flipped))
    assert len(found - flipped) <= 5
    first = out["items"][0]
    assert first["suggested"] != first["training_label"]
    assert first["guess"]["label"] == first["suggested"]
    assert first["quality"] <= out["items"][-1]["quality"]
    assert math.isclose(first["guess"]["given_probability"], first["quality"])


def test_browse_finds_what_an_annotator_labeled_and_the_disputed(team_project: Path) -> None:
    from alapp.store.browse import BrowseQuery, find_items

    with Project.open(team_project, read_only=True) as reader:
        def found(**query: str) -> list[str]:
            return [reader.item(r.item_id).ext_id
                    for r in find_items(reader, BrowseQuery(**query), {})]

        # chen's own labels, also where the majority went against chen (t3) and the ties
        assert found(annotator="chen") == ["t1", "t2", "t3", "t4", "t5", "t7", "t8", "t10"]
        assert found(annotator="boris") == ["t1", "t2", "t3", "t4", "t5", "t6", "t8", "t10"]
        rows = find_items(reader, BrowseQuery(status="disputed"), {})
        assert [reader.item(r.item_id).ext_id for r in rows] == ["t5", "t8"]
        assert all(r.label is None and r.how == "tie" for r in rows)
        assert found(annotator="chen", status="disputed") == ["t5", "t8"]


def test_span_project_agreement_is_entity_f1(tmp_path: Path) -> None:
    from alapp.core.spans import Span, encode_spans
    from alapp.store.spans import tokenize_missing

    texts = ["Anna lives in Paris", "Boris visited Moscow", "Chen flew to Beijing",
             "Dana saw Rome", "Eve left Oslo", "Finn met Gina"]
    ann = [[Span(0, 4, "PER"), Span(14, 19, "LOC")], [Span(0, 5, "PER"), Span(14, 20, "LOC")],
           [Span(0, 4, "PER"), Span(13, 20, "LOC")], [Span(0, 4, "PER"), Span(9, 13, "LOC")],
           [Span(0, 3, "PER"), Span(9, 13, "LOC")], [Span(0, 4, "PER"), Span(9, 13, "PER")]]
    bob = [list(s) for s in ann]
    bob[1] = [Span(0, 5, "PER"), Span(14, 20, "PER")]  # Moscow as a person
    bob[5] = [Span(0, 4, "PER")]  # Gina missed
    path = tmp_path / "s.alapp"
    with Project.create(path, ["PER", "LOC"], task="spans") as project:
        with project.transaction() as conn:
            conn.executemany("INSERT INTO items (id, ext_id, text, hash, split) "
                             "VALUES (?,?,?,?,?)",
                             [(k + 1, f"s{k + 1}", t, b"h%d" % k, "pool")
                              for k, t in enumerate(texts)])
            tokenize_missing(project)
        for k in range(len(texts)):
            project.label_item(ItemId(k + 1), encode_spans(ann[k]), "ann", time.time(), 8000)
            project.label_item(ItemId(k + 1), encode_spans(bob[k]), "bob", time.time(), 9000)
    report = team.team_report_of(path)
    assert report.kind == "spans" and report.fleiss is None and report.alpha is None
    # 12 spans against 11, 10 of them identical: F1 = 2 * 10 / 23
    assert report.span_f1 is not None
    assert report.span_f1.overall.value == pytest.approx(20 / 23)
    [pair] = report.pairs
    assert (pair.first, pair.second, pair.shared) == ("ann", "bob", 6)
    assert pair.value.value == pytest.approx(20 / 23)
    # LOC: ann 5, bob 4, agreed 4 -> 8/9; PER: ann 7, bob 7, agreed 6 -> 12/14
    assert report.span_f1.per_label["LOC"].value == pytest.approx(8 / 9)
    assert report.span_f1.per_label["PER"].value == pytest.approx(12 / 14)
    with Project.open(path, read_only=True) as reader:
        scan = team.scan_labels(reader, lambda fn: None)
        assert not scan.ready and "span project" in scan.note
        queue = team.review_queue(reader, scan)
        assert [(e.ext_id, e.reason) for e in queue] == [("s2", "tie"), ("s6", "tie")]
        choices = team.decision_choices(reader, queue[0])
        assert [c for c, _ in choices] == ["as ann", "as bob"]
        assert team.decision_text("spans", queue[0].text, choices[1][1]) == \
            "Boris (PER); Moscow (PER)"
    assert main(["adjudicate", str(path), "s2", encode_spans(ann[1]), "--as", "rita"]) == 0
    assert team.team_report_of(path).annotators[0].adjudicated_items == 1


def test_multi_label_agreement_compares_whole_sets(tmp_path: Path) -> None:
    path = tmp_path / "m.alapp"
    data = tmp_path / "m.jsonl"
    data.write_text("".join(json.dumps({"id": f"m{k}", "text": f"текст {k}"}) + "\n"
                            for k in range(6)), "utf-8")
    with Project.create(path, ["billing", "delivery", "praise"], multi_label=True) as project:
        import_file(project, data, ImportSpec(format="jsonl"))
        ids = project.item_ids()
        sets = [("billing", "billing"), ("billing|delivery", "delivery|billing"),
                ("praise", "praise"), ("", ""), ("delivery", "billing|delivery"),
                ("praise", "praise")]
        for item, (a, b) in zip(ids, sets, strict=True):
            project.label_item(item, a, "ann", time.time(), 2000)
            project.label_item(item, b, "bob", time.time(), 2000)
    report = team.team_report_of(path)
    assert report.kind == "multi-label"
    [pair] = report.pairs
    # five of six sets agree; the categories are the sets billing, billing|delivery,
    # delivery, praise and "" (none of these)
    triples = [(k, who, value) for k, (a, b) in enumerate(sets)
               for who, value in (("ann", a), ("bob", b))]
    triples = [(k, w, "billing|delivery" if v == "delivery|billing" else v)
               for k, w, v in triples]
    expected = agr.cohen_kappa(agr.ratings_from_triples(triples), 0, 1).overall.value
    assert pair.value.value == pytest.approx(expected)
    assert any("same set" in n for n in report.notes)
    with Project.open(path, read_only=True) as reader:
        [entry] = team.review_queue(reader)
        assert entry.ext_id == "m4" and entry.reason == "tie"
        assert team.decision_choices(reader, entry) == [("as ann", "delivery"),
                                                        ("as bob", "billing|delivery")]
        assert team.decision_text("multi-label", entry.text, "billing|delivery") == \
            "billing, delivery"
