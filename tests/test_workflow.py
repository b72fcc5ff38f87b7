"""What the window's workflow rests on, without a screen: the held-out test set first,
browsing, multi-label decisions, the import preview and dry run, confusion and baseline."""

from __future__ import annotations

import json

import pytest

from alapp.app.rounds import snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError, InputError
from alapp.core.types import Split, join_labels
from alapp.loop.round import RoundRunner
from alapp.store.browse import UNLABELED, BrowseQuery, find_items
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.importer import ImportSpec, import_file
from alapp.store.preview import preview_file
from alapp.store.project import Project


def _gold() -> dict[str, str]:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    return {r["id"]: r["gold"] for r in rows}


def test_test_set_first_survives_retrains_and_never_trains(tmp_path) -> None:
    project = Project.create(tmp_path / "p.alapp", ["billing", "delivery", "technical",
                                                    "account", "praise"], featurizer="tfidf")
    import_file(project, demo_data_path(), ImportSpec(format="jsonl", meta=[]))
    session = LabelingSession.inline(project, "ann")
    runner = RoundRunner()
    trained_on = len(project.current_labels())  # the file's labeled rows
    assert session.start_test_set(12) == 12
    assert len(project.item_ids(Split.TEST)) == 12
    session.finish_round(runner.run(snapshot_of(project)))  # a round keeps them first
    queue = session.queue()
    assert [e.source for e in queue[:12]] == ["test-set"] * 12
    assert "never used for training" in queue[0].reason
    gold = _gold()
    for entry in queue[:12]:
        session.label(entry, gold[project.item(entry.item_id).ext_id], 5_000, None)
    assert session.labels_since_round == 0  # test labels do not count towards a retrain
    assert session.test_set_status() == {"labeled": 12, "queued": 0}
    result = runner.run(snapshot_of(project))
    assert result.n_labeled == trained_on  # the 12 test labels are not trained on
    assert result.metrics["test_items"] == 12
    project.close()


def test_ending_the_test_set_returns_unlabeled_items_to_the_pool(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    session = LabelingSession.inline(project, "ann")
    test_before = len(project.item_ids(Split.TEST))
    session.start_test_set(5)
    entry = session.queue()[0]
    session.label(entry, "billing", 1000, None)
    assert session.end_test_set() == 4
    assert len(project.item_ids(Split.TEST)) == test_before + 1
    assert all(e.strategy != "test-set" for e in session.queue())
    project.close()


def test_browse_filters_by_text_label_annotator_and_prediction(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    pool = project.item_ids(Split.POOL)
    project.label_item(pool[0], "praise", "alice")
    project.label_item(pool[1], "billing", "bob")
    text = project.item(pool[0]).text
    rows = find_items(project, BrowseQuery(text=text[3:15]), {})
    assert pool[0] in [r.item_id for r in rows]
    assert [r.item_id for r in find_items(project, BrowseQuery(annotator="bob"), {})] \
        == [pool[1]]
    assert [r.label for r in find_items(project, BrowseQuery(label="praise"), {})
            if r.split == "pool"] == ["praise"]
    unlabeled = find_items(project, BrowseQuery(label=UNLABELED, split="pool"), {},
                           limit=10_000)
    assert pool[0] not in {r.item_id for r in unlabeled} and len(unlabeled) == len(pool) - 2
    predicted = {pool[2]: ("billing", 0.4), pool[3]: ("billing", 0.95), pool[4]: ("praise", 0.3)}
    unsure = find_items(project, BrowseQuery(predicted="billing", min_uncertainty=0.5),
                        predicted)
    assert [r.item_id for r in unsure] == [pool[2]]
    assert unsure[0].uncertainty == pytest.approx(0.6)
    # LIKE wildcards in the search are literal characters
    assert find_items(project, BrowseQuery(text="%_%"), {}) == []
    project.close()


def test_undo_shows_the_label_before_in_browse(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    item = project.item_ids(Split.POOL)[0]
    project.label_item(item, "praise", "ann")
    project.label_item(item, "billing", "ann")
    project.undo_last("ann")
    [row] = [r for r in find_items(project, BrowseQuery(annotator="ann"), {})]
    assert row.label == "praise"
    project.close()


def test_multi_label_decisions_train_a_per_label_model(tmp_path) -> None:
    labels = ["sport", "politics", "money"]
    project = Project.create(tmp_path / "m.alapp", labels, multi_label=True, featurizer="tfidf",
                             batch_size=5)
    rows = []
    for i in range(60):
        tags = [["sport"], ["politics", "money"], ["money"]][i % 3]
        words = {"sport": "match goal team", "politics": "vote election party",
                 "money": "bank price market"}
        rows.append({"id": f"r{i}", "text": " ".join(words[t] for t in tags) + f" note {i}",
                     "split": "test" if i % 4 == 0 else "pool"})
    data = tmp_path / "m.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows), "utf-8")
    import_file(project, data, ImportSpec(format="jsonl", split_column="split", meta=[]))
    for item in project.item_ids():
        ext = int(project.item(item).ext_id[1:])
        tags = [["sport"], ["politics", "money"], ["money"]][ext % 3]
        project.label_item(item, join_labels(set(tags), labels), "ann")
    assert "politics|money" in project.current_labels().values()
    with pytest.raises(AlappError, match="unknown label"):
        project.label_item(project.item_ids()[0], "sport|nope", "ann")
    with pytest.raises(AlappError, match="reserved"):
        project.add_labels(["a|b"])
    result = RoundRunner().run(snapshot_of(project))
    assert result.metrics["accuracy"] == pytest.approx(1.0)
    assert result.metrics["per_label"]["labels"] == labels  # one row per label (issue 21)
    assert result.metrics["per_label"]["f1"] == [1.0, 1.0, 1.0]
    project.close()


def test_single_label_projects_refuse_joined_labels(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    with pytest.raises(AlappError, match="unknown label"):
        project.label_item(project.item_ids(Split.POOL)[0], "billing|praise", "ann")
    project.close()


@pytest.mark.slow
def test_confusion_matrix_and_random_share_baseline(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", random_share=0.5)
    session = LabelingSession.inline(project, "ann")
    runner = RoundRunner()
    gold = _gold()
    session.finish_round(runner.run(snapshot_of(project)))
    for _ in range(4):
        for entry in session.queue():
            session.label(entry, gold[project.item(entry.item_id).ext_id], 3000, None)
        session.finish_round(runner.run(snapshot_of(project)))
    metrics = session.last_result.metrics
    confusion = metrics["confusion"]
    assert sum(map(sum, confusion["matrix"])) == metrics["test_items"] == 60
    diagonal = sum(confusion["matrix"][i][i] for i in range(len(confusion["labels"])))
    assert diagonal / 60 == pytest.approx(metrics["accuracy"])
    random_labels = project._conn.execute(
        "SELECT COUNT(*) FROM label_events WHERE is_random_share != 0 AND action = 'label'"
    ).fetchone()[0]
    assert metrics["random_baseline_labels"] == random_labels > 0
    assert 0 <= metrics["random_baseline_accuracy"] <= 1
    stored = session.model_history()[-1][1]
    assert stored["confusion"] == confusion  # kept with the model version
    project.close()


def test_preview_reads_first_rows_with_detected_encoding(tmp_path) -> None:
    path = tmp_path / "ru.csv"
    path.write_bytes("текст,метка\nПривет мир,a\nКак дела,b\n".encode("cp1251"))
    preview = preview_file(path)
    assert preview.encoding == "cp1251" and preview.format == "csv"
    assert preview.columns == ["текст", "метка"]
    assert preview.rows == [["Привет мир", "a"], ["Как дела", "b"]]
    assert preview.guess("label", "метка") == "метка"
    with pytest.raises(InputError, match="no such file"):
        preview_file(tmp_path / "missing.csv")


def test_dry_run_reports_errors_and_writes_nothing(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    before = project.stats()
    good = tmp_path / "good.csv"
    good.write_text("text,label\nhello,billing\nworld,\n", "utf-8")
    report = import_file(project, good, ImportSpec(), dry_run=True)
    assert report.rows == 2 and report.labeled == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,billing\nworld,nonsense\n", "utf-8")
    with pytest.raises(InputError, match=r"bad\.csv, line 3: unknown label 'nonsense'"):
        import_file(project, bad, ImportSpec(), dry_run=True)
    assert project.stats() == before
    assert project._conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0] == 1
    project.close()


def test_multi_label_export_lists_the_labels(tmp_path) -> None:
    from alapp.store.export import export_labels

    project = Project.create(tmp_path / "m.alapp", ["a", "b", "c"], multi_label=True)
    data = tmp_path / "m.txt"
    data.write_text("one\ntwo\n", "utf-8")
    import_file(project, data, ImportSpec(format="txt"))
    first, second = project.item_ids()
    project.label_item(first, join_labels({"c", "a"}, project.labels()), "ann")
    project.label_item(second, "b", "ann")
    assert project.labels() == ["a", "b", "c"]  # combinations are not offered as labels
    out = tmp_path / "out.jsonl"
    export_labels(project, out)
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(r["label"], r.get("labels")) for r in rows] == [("a|c", ["a", "c"]), ("b", ["b"])]
    project.close()


def test_manual_retrain_waits_for_the_annotator_until_the_batch_runs_out(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", retrain_every=0, batch_size=3)
    session = LabelingSession.inline(project, "ann")
    session.finish_round(RoundRunner().run(snapshot_of(project)))
    assert session.labels_until_retrain() is None
    for entry in session.queue()[:-1]:
        session.label(entry, "billing", 1000, None)
        assert not session.retrain_due()
    session.label(session.queue()[0], "billing", 1000, None)
    assert session.retrain_due()  # nothing left to label: a new batch is needed
    project.close()


@pytest.mark.gui  # alapp.ui.label_view imports Qt
def test_cost_accuracy_is_stated_with_the_estimate() -> None:
    import numpy as np

    from alapp.al.costmodel import CostEstimate
    from alapp.ui.label_view import cost_accuracy

    measured = CostEstimate(np.ones(3), "learned", "medium", 40, mae_s=4.2, relative_error=0.31)
    assert cost_accuracy(measured) == ("learned model, trust medium: held-out error ±4 s (31%) "
                                       "over 40 timed labels")
    prior = CostEstimate(np.ones(3), "length", "prior", 0)
    assert "too few timed labels" in cost_accuracy(prior)
    assert cost_accuracy(None) == "No cost model yet"
