from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from alapp.app.jobs import CoalescingRunner
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.errors import Cancelled
from alapp.core.progress import Progress
from alapp.core.types import ItemId
from alapp.loop.embedding import ensure_embeddings
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.project import Project
from alapp.store.vectors import cached_ids, import_npy, load_vectors


def _gold() -> dict[str, str]:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    return {r["id"]: r["gold"] for r in rows}


@pytest.fixture
def demo(tmp_path):
    project = create_demo_project(tmp_path / "demo.alapp")
    project.update_settings(featurizer="tfidf")  # fast; the embedders have their own tests
    yield project
    project.close()


def test_cold_start_round_then_trained_round(demo) -> None:
    first = RoundRunner().run(snapshot_of(demo))
    assert first.n_labeled == 0 and first.strategy == "cold-start" and not first.model_kind
    assert len(first.picks) == 10
    gold = _gold()
    pool = demo.item_ids("pool")
    for item in pool[:40]:
        demo.label_item(item, gold[demo.item(item).ext_id], "sim")
    demo.skip_item(pool[40], "sim", forever=True)
    result = RoundRunner().run(snapshot_of(demo))
    picked = {p.item_id for p in result.picks}
    test_ids = set(demo.item_ids("test"))
    assert not picked & (set(pool[:41]) | test_ids)  # no labeled, skipped or test item
    assert result.n_labeled == 40 and result.metrics["test_items"] == 60
    assert 0 <= result.metrics["accuracy"] <= 1
    assert sum(p.is_random for p in result.picks) == 1
    round_id = save_result(demo, result)
    queue = [r[0] for r in demo._conn.execute("SELECT item_id FROM queue ORDER BY position")]
    assert queue == [p.item_id for p in result.picks]
    version = demo._conn.execute("SELECT version, weights, metrics FROM models").fetchone()
    from safetensors.numpy import load

    # the default blends label spreading in: the classifier's arrays and the spreading's,
    # stored (and exported) whole, as measured (issue 17)
    assert set(load(version[1])) == {"base.coef", "base.intercept", "spread.node_embeddings",
                                     "spread.node_probs", "spread.k", "blend_weight",
                                     "base_columns"}
    assert json.loads(version[2])["accuracy"] == result.metrics["accuracy"]
    assert demo._conn.execute("SELECT model_version FROM rounds WHERE id = ?",
                             (round_id,)).fetchone()[0] == version[0]


def test_rounds_reproduce_for_the_same_seed(demo) -> None:
    gold = _gold()
    for item in demo.item_ids("pool")[:30]:
        demo.label_item(item, gold[demo.item(item).ext_id], "sim")
    a = RoundRunner().run(snapshot_of(demo))
    b = RoundRunner().run(snapshot_of(demo))
    assert [p.item_id for p in a.picks] == [p.item_id for p in b.picks]


@pytest.mark.parametrize("strategy", ["bald", "badge", "vote-entropy", "active-transfer",
                                      "model-outliers", "representative", "coreset"])
def test_round_provides_what_each_strategy_needs(demo, strategy) -> None:
    gold = _gold()
    for item in demo.item_ids("pool")[:40]:
        demo.label_item(item, gold[demo.item(item).ext_id], "sim")
    demo.update_settings(strategy=strategy, mc_samples=5)
    result = RoundRunner().run(snapshot_of(demo))
    assert result.strategy == strategy and len(result.picks) == 10


def test_embeddings_are_cached_and_resume_after_cancel(tmp_path) -> None:
    class Fake:
        name = "fake"
        calls = 0

        def embed(self, texts):
            Fake.calls += len(texts)
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    path = tmp_path / "p.alapp"
    create_demo_project(path).close()

    class StopAfterOne(Progress):
        def report(self, stage, fraction):
            if fraction > 0:
                self.cancel()
            super().report(stage, fraction)

    from alapp.app.rounds import ProjectVectors
    from alapp.app.writer import ProjectWriter

    def run(progress=None):  # as the window does: read here, write on the writer thread
        writer = ProjectWriter(path)
        try:
            with Project.open(path, read_only=True) as reader:
                return ensure_embeddings(ProjectVectors(reader, writer.call), Fake(), progress,
                                         batch=100)
        finally:
            writer.close()

    with pytest.raises(Cancelled):
        run(StopAfterOne())
    with Project.open(path) as p:
        assert len(cached_ids(p, "fake")) == 100  # the finished batch was kept
    assert run() == 200  # only what was missing
    assert run() == 0
    assert Fake.calls == 300
    with Project.open(path) as p:
        ids = p.item_ids()
        vectors = load_vectors(p, "fake", ids)
        assert vectors[0, 0] == len(p.item(ids[0]).text)


def test_precomputed_vectors_import(tmp_path, demo) -> None:
    ids = demo.item_ids()
    matrix = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", matrix)
    assert import_npy(demo, "mine", tmp_path / "v.npy", None) == len(ids)
    assert np.allclose(load_vectors(demo, "vectors:mine", ids), matrix, atol=1e-2)
    np.save(tmp_path / "bad.npy", matrix[:5])
    with pytest.raises(Exception, match="5 rows for 300 items"):
        import_npy(demo, "bad", tmp_path / "bad.npy", None)
    demo.update_settings(featurizer="vectors:mine", strategy="coreset")
    result = RoundRunner().run(snapshot_of(demo))
    assert len(result.picks) == 10


def test_runner_coalesces_to_the_latest_request() -> None:
    ran, done = [], []
    gate = threading.Event()
    runner = CoalescingRunner(done.append, lambda e: done.append(e))

    def job(name):
        def work(progress):
            if name == "first":
                gate.wait(5)
            ran.append(name)
            return name
        return work

    runner.submit(job("first"))
    time.sleep(0.05)
    for name in ("second", "third", "fourth"):
        runner.submit(job(name))
    gate.set()
    deadline = time.time() + 5
    while runner.busy and time.time() < deadline:
        time.sleep(0.01)
    assert ran == ["first", "fourth"] and done == ["first", "fourth"]
    runner.close()


def test_runner_cancel_and_close_leave_no_thread() -> None:
    started = threading.Event()
    results = []
    runner = CoalescingRunner(results.append, results.append, name="alapp-test-runner")

    def slow(progress):
        started.set()
        while True:
            progress.report("working", 0.5)
            time.sleep(0.01)

    runner.submit(slow)
    started.wait(5)
    runner.cancel()
    runner.close()
    assert results == []
    assert not [t for t in threading.enumerate() if t.name == "alapp-test-runner"]


def test_session_undo_history_and_budget(demo) -> None:
    demo.update_settings(budget_unit="hours", budget_amount=1.0, hourly_rate=30.0)
    save_result(demo, RoundRunner().run(snapshot_of(demo)))
    session = LabelingSession.inline(demo, "ann")
    first = session.current()
    assert first is not None
    session.label(first, "billing", active_ms=90_000, started_at=None)
    second = session.current()
    assert second is not None and second.item_id != first.item_id
    session.label(second, "praise", active_ms=30_000, started_at=None)
    assert session.undo().item_id == second.item_id
    assert session.current().item_id == second.item_id  # back at the front
    # the undone item is back in the queue, so it is no longer among the decisions
    assert [(d.item_id, d.action, d.label) for d in session.history()] == [
        (first.item_id, "label", "billing")]
    numbers = session.budget()
    stored_ms = sum(e["active_ms"] or 0 for e in demo.events() if e["action"] == "label")
    assert numbers["hours"] == pytest.approx(stored_ms / 3_600_000)
    assert numbers["spent"] == pytest.approx(120 / 3600)
    assert numbers["remaining"] == pytest.approx(1 - 120 / 3600)
    assert ItemId(first.item_id) in demo.current_labels()


def test_rounds_report_stopping_signals(demo) -> None:
    gold = _gold()
    demo.update_settings(target_accuracy=0.5, stop_set_size=50)
    for item in demo.item_ids("pool")[:40]:
        demo.label_item(item, gold[demo.item(item).ext_id], "sim")
    runner = RoundRunner()
    names = []
    for _ in range(4):
        result = runner.run(snapshot_of(demo))
        names = [s.name for s in result.signals]
    assert names[:2] == ["target", "stabilizing"]
    assert {"overall-uncertainty", "max-confidence", "classification-change"} <= set(names)
    stabilizing = next(s for s in result.signals if s.name == "stabilizing")
    assert stabilizing.value == 1.0 and stabilizing.reached  # nothing changed: identical rounds
