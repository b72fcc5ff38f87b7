"""Issue 17's honesty rule: the exported model is the model the learning curve measured. The
default blends the classifier with label spreading; export-model writes the blend whole, and
its README's recipe, followed on the exported files alone, gives the test accuracy the app
reported."""

from __future__ import annotations

import json

import numpy as np
from safetensors.numpy import load_file

from alapp.app.export_model import export_model
from alapp.app.rounds import save_result, snapshot_of
from alapp.loop.round import RoundRunner
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.rounds import latest_model
from alapp.store.vectors import import_npy


def _softmax(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] == 1:  # two classes: p(second) = sigmoid
        p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.stack([1 - p, p], axis=1)
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


NOISE = 1.4  # enough overlap that the blend and the classifier alone decide differently


def test_the_exported_blend_reproduces_the_reported_accuracy(tmp_path) -> None:
    rng = np.random.default_rng(3)
    labels = ["north", "south", "east"]
    centres = rng.normal(0, 1, (3, 8))
    n = 150
    truth = rng.integers(0, 3, n)
    vectors = centres[truth] + rng.normal(0, NOISE, (n, 8))  # overlapping: some errors
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "items.jsonl").write_text(
        "".join(json.dumps({"text": f"item {i}"}) + "\n" for i in range(n)), "utf-8")
    with Project.create(tmp_path / "p.alapp", labels, featurizer="vectors:v",
                        stop_set_size=0) as project:
        assert project.settings().propagation_weight > 0  # the default blends
        import_file(project, tmp_path / "items.jsonl")
        import_npy(project, "v", tmp_path / "v.npy", None)
        ids = project.item_ids()
        test = ids[:50]
        with project.transaction() as conn:  # a test split, as "Start a test set" makes
            conn.executemany("UPDATE items SET split = 'test' WHERE id = ?",
                             [(i,) for i in test])
        for k, item in enumerate(ids[:90]):
            project.label_item(item, labels[truth[k]], "tester")
        save_result(project, RoundRunner().run(snapshot_of(project)))
        stored = latest_model(project)
        assert stored is not None and stored.kind == "GraphBlend(LogisticClassifier)"
        reported = stored.metrics["accuracy"]
        info = export_model(project, tmp_path / "model")
    assert info["blend"]["classifier"] == "LogisticClassifier"
    assert "p = (1 - w) * p_base + w * p_spread" in (tmp_path / "model" / "README.md").read_text()

    # the README's recipe on the exported files alone
    w = load_file(tmp_path / "model" / "weights.safetensors")
    x_test = vectors[:50]
    p_base = np.zeros((50, 3))
    p_base[:, w["base_columns"]] = _softmax(x_test @ w["base.coef"].T + w["base.intercept"])
    x = x_test / np.linalg.norm(x_test, axis=1, keepdims=True)
    sims = x @ w["spread.node_embeddings"].astype(np.float32).T
    near = np.argsort(-sims, axis=1)[:, : int(w["spread.k"][0])]
    weight = np.maximum(np.take_along_axis(sims, near, axis=1), 0) ** 3 + 1e-9
    p_spread = np.einsum("nk,nkc->nc", weight, w["spread.node_probs"][near])
    p_spread /= p_spread.sum(axis=1, keepdims=True)
    blend = float(w["blend_weight"][0])
    p = (1 - blend) * p_base + blend * p_spread
    accuracy = float(np.mean(p.argmax(axis=1) == truth[:50]))
    alone = float(np.mean(p_base.argmax(axis=1) == truth[:50]))
    assert 0.5 < reported < 1.0
    assert accuracy == reported
    assert alone != reported  # here the blend decides differently: the check can tell
