"""Issue 17: self-training in the round (kNN-verified pseudo-labels with class-wise thresholds)
and label propagation over the embeddings' kNN graph."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from alapp.al import propagation, selftrain
from alapp.al.selftrain import SelfTrainParams, select_pseudo_labels
from alapp.app.rounds import save_result, snapshot_of
from alapp.loop import round as round_module
from alapp.loop.round import RoundResult, RoundRunner
from alapp.loop.simulate import SimulationConfig, simulate
from alapp.ml.classifier import LogisticClassifier
from alapp.ml.propagation import GraphBlend, PropagationClassifier
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.export import export_labels


def _unit(rows: list[list[float]]) -> np.ndarray:
    x = np.array(rows, dtype=float)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --- the selection, on a constructed example ------------------------------------------------

LABELED = _unit([[1, 0], [0, 1], [-1, 0]])  # one human label of each class 0, 1, 2
LABELED_CODES = np.array([0, 1, 2])
# Candidates: (confidence, predicted class, embedding)
PROBS = np.array([
    [0.95, 0.03, 0.02],  # 0: class 0, near the class-0 label
    [0.93, 0.02, 0.05],  # 1: class 0, but it lies by the class-2 label: the vote vetoes it
    [0.90, 0.05, 0.05],  # 2: class 0, under class 0's threshold (its median, 0.93)
    [0.20, 0.55, 0.25],  # 3: class 1, unsure, yet above class 1's own threshold (0.535)
    [0.24, 0.52, 0.24],  # 4: class 1, under it
    [0.60, 0.20, 0.20],  # 5: class 0, far under
    [0.97, 0.02, 0.01],  # 6: class 0, the most confident of all
])
EMBEDDINGS = _unit([[0.9, 0.1], [-0.9, 0.2], [1, 0.3], [0.1, 0.9], [0.2, 0.9], [1, 0],
                    [1, 0.05]])


def test_class_wise_thresholds_kNN_veto_and_cap_pick_exactly() -> None:
    picked = select_pseudo_labels(PROBS, EMBEDDINGS, LABELED, LABELED_CODES,
                                  SelfTrainParams(quantile=0.5, floor=0.5, k=1, cap=1.0))
    # class 0: median 0.93, so 6, 0 and 1 pass; the vote vetoes 1; the cap (1 x its one human
    # label) keeps the most confident, 6. Class 1: median 0.535, so 3 passes (a global
    # threshold of 0.93 would have given the unsure class nothing). Class 2: nothing.
    assert picked.rows.tolist() == [6, 3]
    assert picked.codes.tolist() == [0, 1]
    assert picked.vetoed == 1
    assert picked.thresholds[0] == pytest.approx(0.93)
    assert picked.thresholds[1] == pytest.approx(0.535)
    assert np.isinf(picked.thresholds[2])
    assert picked.counts(3).tolist() == [1, 1, 0]
    # a larger cap lets class 0 keep both agreed items, most confident first
    wider = select_pseudo_labels(PROBS, EMBEDDINGS, LABELED, LABELED_CODES,
                                 SelfTrainParams(quantile=0.5, floor=0.5, k=1, cap=2.0))
    assert wider.rows.tolist() == [6, 0, 3]
    # a floor above every class-1 confidence removes class 1 altogether
    floored = select_pseudo_labels(PROBS, EMBEDDINGS, LABELED, LABELED_CODES,
                                   SelfTrainParams(quantile=0.5, floor=0.6, k=1, cap=2.0))
    assert floored.rows.tolist() == [6, 0]


def test_knn_vote_is_a_similarity_weighted_majority() -> None:
    labeled = _unit([[1, 0], [1, 0.1], [0, 1]])
    codes = np.array([1, 1, 0])
    # near the two class-1 items: they outvote the one class-0 item at k=3
    assert selftrain.knn_vote(_unit([[1, 0.05]]), labeled, codes, 2, k=3).tolist() == [1]
    # right on the class-0 item: k=1 gives class 0
    assert selftrain.knn_vote(_unit([[0, 1]]), labeled, codes, 2, k=1).tolist() == [0]
    # k above the labeled count uses them all
    assert selftrain.knn_vote(_unit([[1, 0.6]]), labeled, codes, 2, k=50).tolist() == [1]
    assert selftrain.knn_vote(_unit([[0.1, 1]]), labeled, codes, 2, k=50).tolist() == [0]


# --- label propagation on a toy -----------------------------------------------------------------

def _two_moons(n: int, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, lifted onto a sphere cap (cosine ~ distance locally)."""
    t = np.linspace(0, np.pi, n) + offset
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    flat = np.concatenate([upper, lower])
    lifted = np.concatenate([flat, np.full((len(flat), 1), 8.0)], axis=1)
    return _unit(lifted.tolist()), np.repeat([0, 1], n)


def test_label_spreading_labels_two_moons_from_one_seed_each() -> None:
    pool, truth = _two_moons(40)
    test, test_truth = _two_moons(13, offset=0.11)  # between the pool's points
    embeddings = np.concatenate([pool, test])
    is_node = np.arange(len(embeddings)) < len(pool)
    graph = propagation.build_graph(embeddings, is_node, k=4)
    assert graph.nodes.tolist() == list(range(80))
    assert not (graph.near[:80] == np.arange(80)[:, None]).any()  # never its own neighbour
    assert (graph.near < 80).all()  # only pool items are neighbours: test items never
    seeds = np.array([20, 60])  # the middle of each moon
    spread = propagation.spread(graph, seeds, np.array([0, 1]), 2, alpha=0.99, iterations=60)
    assert spread.argmax(axis=1).tolist() == truth.tolist()
    np.testing.assert_allclose(spread.sum(axis=1), 1.0)
    rows = np.arange(80, 80 + len(test))
    assert propagation.predict(graph, spread, rows).argmax(axis=1).tolist() == \
        test_truth.tolist()
    # a classifier over the two seeds alone (a straight boundary) gets the tips wrong
    from sklearn.linear_model import LogisticRegression

    line = LogisticRegression().fit(pool[seeds], [0, 1]).predict(test)
    assert (line != test_truth).sum() > 0


def test_propagation_classifier_refuses_test_rows_and_reads_rows() -> None:
    pool, _ = _two_moons(20)
    graph = propagation.build_graph(np.concatenate([pool, pool[:2]]),
                                    np.arange(42) < 40, k=4)
    model = PropagationClassifier(["a", "b"], alpha=0.99)
    model.use_graph(graph, np.concatenate([pool, pool[:2]]))
    with pytest.raises(RuntimeError, match="pool items only"):
        model.fit(np.array([0, 40]), ["a", "b"])
    model.fit(np.array([10, 30]), ["a", "b"])
    assert model.classes == ["a", "b"]
    assert model.predict_proba(np.arange(40)).shape == (40, 2)
    from safetensors.numpy import load

    weights = load(model.weights() or b"")
    assert weights["node_embeddings"].shape == (40, 3) and weights["node_probs"].shape == (40, 2)


# --- in the round ---------------------------------------------------------------------------------

def _gold() -> dict[str, str]:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    return {r["id"]: r["gold"] for r in rows}


@pytest.fixture
def demo(tmp_path):
    project = create_demo_project(tmp_path / "demo.alapp")
    project.update_settings(featurizer="tfidf")  # fast; the embedders have their own tests
    gold = _gold()
    for item in project.item_ids("pool")[:40]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    yield project
    project.close()


def test_pseudo_labels_come_from_the_unlabeled_pool_never_test_nor_store(demo, tmp_path,
                                                                         monkeypatch) -> None:
    demo.update_settings(self_training=True, self_training_cap=5.0, self_training_quantile=0.0)
    seen: dict[str, object] = {}
    real_select = round_module.select_pseudo_labels

    def spy(probs, embeddings, labeled, codes, params):
        # TF-IDF on 40 labels is unsure of everything (under twice chance): no floor here
        picked = real_select(probs, embeddings, labeled, codes, replace(params, floor=0.0))
        seen["candidates"] = len(probs)
        seen["picked"] = len(picked.rows)
        return picked

    fitted: list[int] = []
    real_fit = LogisticClassifier.fit_weighted

    def fit_spy(self, x, y, sample_weight):
        fitted.append(len(y))
        seen["weights"] = sorted(set(np.asarray(sample_weight).tolist()))
        return real_fit(self, x, y, sample_weight)

    monkeypatch.setattr(round_module, "select_pseudo_labels", spy)
    monkeypatch.setattr(LogisticClassifier, "fit_weighted", fit_spy)
    before_labels = demo.current_labels()
    before_events = demo._conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0]
    result = RoundRunner().run(snapshot_of(demo))
    pool, test = demo.item_ids("pool"), demo.item_ids("test")
    # candidates: exactly the unlabeled pool items (no test item, no labeled one)
    assert seen["candidates"] == len(pool) - 40
    assert result.pseudo_label_count == seen["picked"] > 0
    assert fitted == [40 + int(seen["picked"])]  # human labels plus the pseudo-labels
    assert seen["weights"] == [0.5, 1.0]  # pseudo-labels weigh half a human label
    assert result.metrics["test_items"] == len(test)
    save_result(demo, result)
    assert demo.current_labels() == before_labels  # nothing stored as a label
    assert demo._conn.execute("SELECT COUNT(*) FROM label_events").fetchone()[0] == before_events
    out = tmp_path / "labels.jsonl"
    export_labels(demo, out)
    assert len(out.read_text("utf-8").splitlines()) == len(before_labels)
    # the round's record keeps the count, per class too, and the Model tab's line reads it
    stored = json.loads(demo._conn.execute(
        "SELECT metrics FROM models ORDER BY version DESC").fetchone()[0])
    assert stored["pseudo_labels"] == result.pseudo_label_count
    assert sum(stored["pseudo_labels_per_class"].values()) == result.pseudo_label_count
    assert set(stored["pseudo_labels_per_class"]) <= set(demo.labels())
    assert result.pseudo_label_text().startswith(
        f"Pseudo-labels used in the last round: {result.pseudo_label_count} (")


def test_off_is_the_round_as_before(demo, monkeypatch) -> None:
    called: list[str] = []
    monkeypatch.setattr(round_module, "select_pseudo_labels",
                        lambda *a: called.append("select"))
    demo.update_settings(self_training=False, propagation_weight=0.0)
    off = RoundRunner().run(snapshot_of(demo))
    again = RoundRunner().run(snapshot_of(demo))
    assert not called and off.pseudo_labels is None and off.pseudo_label_text() == ""
    assert "pseudo_labels" not in off.stored_metrics()
    assert "self_train" not in off.seconds
    assert [p.item_id for p in off.picks] == [p.item_id for p in again.picks]
    assert off.metrics["accuracy"] == again.metrics["accuracy"]
    assert off.model_kind == "LogisticClassifier"


def test_self_training_skips_a_classifier_without_weights_and_says_so(demo) -> None:
    demo.update_settings(self_training=True, classifier="committee")
    result = RoundRunner().run(snapshot_of(demo))
    assert result.pseudo_labels is None
    assert any(n.startswith("self-training skipped: the Committee takes no per-item weights")
               for n in result.notes)


def test_propagation_classifier_and_blend_in_the_round(demo, monkeypatch) -> None:
    demo.update_settings(classifier="propagation")
    alone = RoundRunner().run(snapshot_of(demo))
    assert alone.model_kind == "PropagationClassifier" and 0 <= alone.metrics["accuracy"] <= 1
    demo.update_settings(classifier="logreg", propagation_weight=0.5, self_training=True)
    wrapped: list[object] = []
    real = RoundRunner._with_graph

    def spy(self, *args):
        model = real(self, *args)
        wrapped.append(model)
        return model

    monkeypatch.setattr(RoundRunner, "_with_graph", spy)
    runner = RoundRunner()
    blended = runner.run(snapshot_of(demo))
    assert isinstance(wrapped[0], GraphBlend)
    # what the round stores and exports is the blend it measured (the keeper keeps the
    # classifier, warm for the next round)
    assert blended.model_kind == "GraphBlend(LogisticClassifier)"
    assert isinstance(runner.keeper.model, LogisticClassifier)
    assert blended.pseudo_label_count is not None
    pool = [i for i in blended.predicted]
    assert pool and all(0 <= p <= 1 for _, p in blended.predicted.values())


def test_simulation_runs_the_same_pipeline() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 3
    y = np.repeat([0, 1, 2], 40)
    x = centres[y] + rng.normal(size=(120, 8))
    cfg = SimulationConfig(["margin"], batch=6, budget=18, seeds=1,
                           settings={"self_training": True, "propagation_weight": 0.3})
    out = simulate(x[:90], y[:90], x[90:], y[90:], cfg)
    curve = out["strategies"]["margin"]
    assert curve["labels"] == [6, 12, 18]
    assert curve["model"] == "GraphBlend(LogisticClassifier)"
    assert all(0 <= a <= 1 for a in curve["accuracy_mean"])


def test_the_round_result_line_without_pseudo_labels() -> None:
    result = RoundResult([], {}, 10, {}, pseudo_labels={"a": 0, "b": 0})
    assert result.pseudo_label_text() == "Pseudo-labels used in the last round: 0"
