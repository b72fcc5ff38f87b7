"""Late fusion, fine-tuning through the engine, and exporting the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alapp.app.export_model import export_model
from alapp.app.rounds import save_result, snapshot_of
from alapp.core.errors import AlappError
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project, demo_data_path
from alapp.store.vectors import import_npy

torch = pytest.importorskip("torch")


def _gold() -> dict[str, str]:
    rows = [json.loads(line) for line in demo_data_path().read_text("utf-8").splitlines()]
    return {r["id"]: r["gold"] for r in rows}


def test_late_fusion_learns_to_trust_the_informative_input() -> None:
    from alapp.ml.fusion import LateFusionClassifier, MultiInput

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    informative = (np.eye(3)[y] * 3 + rng.normal(size=(300, 3))).astype(np.float32)
    noise = rng.normal(size=(300, 5)).astype(np.float32)
    labels = ["a", "b", "c"]
    model = LateFusionClassifier(labels, hidden=16, epochs=30)
    x = MultiInput([informative, noise])
    model.fit(x[np.arange(200)], [labels[i] for i in y[:200]])
    accuracy = np.mean(model.predict_proba(x[np.arange(200, 300)]).argmax(1) == y[200:])
    assert accuracy > 0.85
    weights = model.input_weights()
    assert weights[0] > weights[1]  # the informative head counts more than the noise head


def test_engine_fuses_several_vector_inputs(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    ids = project.item_ids()
    rng = np.random.default_rng(0)
    for name, dim in (("text", 8), ("image", 4)):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(len(ids), dim)).astype(np.float32))
        import_npy(project, name, tmp_path / f"{name}.npy", None)
    gold = _gold()
    for item in project.item_ids("pool")[:30]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    project.update_settings(featurizer="vectors:text+vectors:image")
    result = RoundRunner().run(snapshot_of(project))
    assert result.model_kind == "LateFusionClassifier" and len(result.picks) == 10
    save_result(project, result)
    info = export_model(project, tmp_path / "fusion-model")
    assert info["kind"] == "LateFusionClassifier"
    project.close()


def test_several_inputs_with_a_strategy_fusion_cannot_serve(tmp_path) -> None:
    """Fusion gives what the torch head gives (BADGE's last-layer inputs too), but no
    committee: a committee is chosen instead, on the joined vectors."""
    project = create_demo_project(tmp_path / "p.alapp")
    ids = project.item_ids()
    rng = np.random.default_rng(0)
    for name, dim in (("text", 8), ("image", 4)):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(len(ids), dim)).astype(np.float32))
        import_npy(project, name, tmp_path / f"{name}.npy", None)
    gold = _gold()
    for item in project.item_ids("pool")[:30]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    for strategy, kind in (("vote-entropy", "Committee"), ("badge", "LateFusionClassifier")):
        project.update_settings(featurizer="vectors:text+vectors:image", strategy=strategy)
        result = RoundRunner().run(snapshot_of(project))
        assert result.model_kind == kind and result.strategy == strategy
        assert len(result.picks) == 10 and result.weights
    project.close()


def test_finetune_through_the_engine_and_export_as_hf_folder(tmp_path, tiny_bert) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    project = create_demo_project(tmp_path / "p.alapp")
    gold = _gold()
    for item in project.item_ids("pool")[:20]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    project.update_settings(featurizer="tfidf", classifier="finetune",
                            model_folder=str(tiny_bert), device="cpu")
    runner = RoundRunner()
    first = runner.run(snapshot_of(project))
    assert first.model_kind == "TransformerClassifier"
    assert first.metrics["test_items"] == 60
    model = runner.keeper.model
    before = {k: v.clone() for k, v in model._model.state_dict().items()}
    project.label_item(project.item_ids("pool")[25], "billing", "sim")
    runner.run(snapshot_of(project))
    assert runner.keeper.model is model  # incremental: the same model trained further
    changed = any(not torch.equal(before[k], v) for k, v in model._model.state_dict().items())
    assert changed and model.examples_per_second > 0
    save_result(project, first)
    out = tmp_path / "exported"
    export_model(project, out)
    loaded = AutoModelForSequenceClassification.from_pretrained(out, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    assert loaded.config.id2label[0] == "billing"
    logits = loaded(**tokenizer(["hello world"], return_tensors="pt")).logits
    assert logits.shape == (1, 5)
    assert "from_pretrained" in (out / "README.md").read_text("utf-8")
    with pytest.raises(AlappError, match="already exists"):
        export_model(project, out)
    project.close()


def test_export_refuses_without_a_model_or_for_tfidf(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    with pytest.raises(AlappError, match="no trained model"):
        export_model(project, tmp_path / "m")
    gold = _gold()
    for item in project.item_ids("pool")[:20]:
        project.label_item(item, gold[project.item(item).ext_id], "sim")
    project.update_settings(featurizer="tfidf")
    save_result(project, RoundRunner().run(snapshot_of(project)))
    with pytest.raises(AlappError, match="TF-IDF"):
        export_model(project, tmp_path / "m")
    project.close()
