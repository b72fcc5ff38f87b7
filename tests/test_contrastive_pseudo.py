"""Pseudo-labels in the encoder's pairs (issue 17, HAST): which unlabeled pool items join the
contrastive fine-tuning with a guessed label, and what must never shape the guess (the test
set, the held-out labels the gate measures on)."""

from __future__ import annotations

import json

import numpy as np

from alapp.app.encoder import EncoderJob, attempts, describe, pseudo_labels_for_pairs
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId, Split
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundRunner
from alapp.ml.contrastive import split_held_out
from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write

FEATURES = "test-features"


def two_topics(n_labeled: int = 40, n_pool: int = 200, n_test: int = 60, seed: int = 0):
    """Three splits of items around two far-apart centres: rows, ids, splits, the human labels
    (`current`: the labeled pool and the whole test set, as a project holds them), each row's
    true topic, and their vectors in a memory source."""
    rng = np.random.default_rng(seed)
    n = n_labeled + n_pool + n_test
    topic = np.array(["a", "b"])[np.arange(n) % 2]
    centre = np.where(topic[:, None] == "a", 1.0, -1.0) * np.eye(8)[0]
    x = (centre + rng.normal(0, 0.35, (n, 8))).astype(np.float32)
    ids = [ItemId(k) for k in range(n)]
    splits = ([Split.POOL.value] * (n_labeled + n_pool) + [Split.TEST.value] * n_test)
    current = {ids[k]: str(topic[k]) for k in range(n_labeled)}
    current.update({ids[k]: str(topic[k]) for k in range(n_labeled + n_pool, n)})
    vectors = MemoryVectors()
    vectors.vectors[FEATURES] = dict(zip(ids, x, strict=True))
    return ids, splits, current, topic, x, vectors


def guess(settings, ids, splits, current, x, vectors, split=None):
    """The pseudo-labels for the labeled pool items of ``current``, a fifth of each label held
    out (or the given ``split``: (train, held) positions)."""
    labeled_rows = [r for r, (i, s) in enumerate(zip(ids, splits, strict=True))
                    if i in current and s != Split.TEST]
    labels = [current[ids[r]] for r in labeled_rows]
    train, held = split or split_held_out(labels, 0.2, settings.seed)
    rows, guessed, info = pseudo_labels_for_pairs(
        settings, ids, splits, current, vectors, FEATURES, x[labeled_rows], labels, train)
    return rows, guessed, info, labeled_rows, labels, train, held


def test_only_unlabeled_pool_items_with_the_right_guess_and_capped_per_label():
    ids, splits, current, topic, x, vectors = two_topics()
    settings = ProjectSettings(contrastive_pseudo_cap=2.0)
    rows, guessed, info, _, labels, train, _ = guess(settings, ids, splits, current, x, vectors)
    assert rows and info["count"] == len(rows) == len(guessed)
    assert all(splits[r] == Split.POOL and ids[r] not in current for r in rows)
    assert [topic[r] for r in rows] == guessed  # well separated topics: every guess right
    trained = np.array([labels[i] for i in train])
    for name in ("a", "b"):  # at most cap x that label's training labels
        assert guessed.count(name) <= np.ceil(2.0 * (trained == name).sum())
    assert info["candidates"] == 200


def test_the_held_out_labels_and_the_test_set_never_shape_the_guesses():
    """The gate judges the encoder on the held-out labels: were they behind the pseudo-labels,
    the gate would grade the encoder on what it was taught. Flipping every held-out label and
    every test label must change nothing."""
    ids, splits, current, _, x, vectors = two_topics()
    settings = ProjectSettings(contrastive_pseudo_cap=3.0)
    rows, guessed, *_, labeled_rows, labels, train, held = guess(
        settings, ids, splits, current, x, vectors)
    flipped = dict(current)
    for i in held:
        flipped[ids[labeled_rows[i]]] = "b" if labels[i] == "a" else "a"
    for k, split in enumerate(splits):
        if split == Split.TEST:
            flipped[ids[k]] = "b" if current[ids[k]] == "a" else "a"
    again, guessed_again, *_ = guess(settings, ids, splits, flipped, x, vectors,
                                     (train, held))
    assert (again, guessed_again) == (rows, guessed)


def test_off_at_cap_zero_and_without_stored_vectors():
    ids, splits, current, _, x, vectors = two_topics()
    rows, _, info, *_ = guess(ProjectSettings(contrastive_pseudo_cap=0.0), ids, splits, current,
                              x, vectors)
    assert rows == [] and "contrastive_pseudo_cap is 0" in info["why"]
    rows, _, info, *_ = guess(ProjectSettings(), ids, splits, current, x, MemoryVectors())
    assert rows == [] and "no stored vectors" in info["why"]


def test_guesses_only_fill_the_pairs_the_labels_cannot():
    """An epoch anchors at most max_pairs / 2 items: guesses fill up to that, no further, and
    none join once the labels fill it (many labels: the guesses only dilute them)."""
    ids, splits, current, _, x, vectors = two_topics()
    rows, _, info, *_, train, _ = guess(
        ProjectSettings(contrastive_pseudo_cap=10.0, contrastive_max_pairs=100), ids, splits,
        current, x, vectors)
    assert len(train) == 32 and 0 < len(rows) <= 50 - 32 + 2  # ceil per label: +1 each
    rows, _, info, *_ = guess(ProjectSettings(contrastive_max_pairs=64), ids, splits, current,
                              x, vectors)
    assert rows == [] and info["why"] == "32 labels fill the 64 pairs"


def test_a_huge_pool_is_sampled(monkeypatch):
    import alapp.app.encoder as encoder

    monkeypatch.setattr(encoder, "MAX_PSEUDO_CANDIDATES", 50)
    ids, splits, current, _, x, vectors = two_topics()
    rows, _, info, *_ = guess(ProjectSettings(contrastive_pseudo_cap=10.0), ids, splits,
                              current, x, vectors)
    assert info["candidates"] == 50 and 0 < len(rows) <= 50


def test_the_job_trains_on_pseudo_labels_once_a_round_stored_the_pools_vectors(
        tmp_path, tiny_bert):
    lines = [json.dumps({"id": str(k), "text": ("hello world " if k % 2 else "a b c d ") * 2})
             for k in range(160)]
    with Project.create(tmp_path / "p.alapp", ["greet", "letters"]) as project:
        import_file(project, write(tmp_path / "in.jsonl", "\n".join(lines) + "\n"))
        project.update_settings(featurizer=str(tiny_bert), contrastive_encoder=True,
                                contrastive_every=50, contrastive_max_pairs=200,
                                contrastive_min_gain=-1.0, device="cpu")
        for k, item in enumerate(project.item_ids()[:56]):
            project.label_item(item, "letters" if k % 2 == 0 else "greet", "ann")
        save_result(project, RoundRunner().run(snapshot_of(project)))  # stores the vectors
        session = LabelingSession.inline(project, "ann")
        assert EncoderJob(session)(Progress()) == 160
        session.close()
        (log,) = attempts(tmp_path / "p.alapp")
        pseudo = log["pseudo"]
        # room beside the 46 training labels for 200 / 2 - 46 = 54 guesses (rounded up per label)
        assert pseudo["candidates"] == 104 and 0 < pseudo["count"] <= 56
        line = describe(project.settings().featurizer)
        assert f"fine-tuned on 46 labels and {pseudo['count']:,} pseudo-labels" in line
