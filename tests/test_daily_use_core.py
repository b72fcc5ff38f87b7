"""The headless side of the daily-use fixes (tests/test_daily_use.py drives the window): the
random share spread through the batch and kept across retrains, relabel many and undo it as
one step, the reason an item is asked, the confusion matrix over every label."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al.batch import BatchRequest, Pick, compose_batch, interleave, random_positions
from alapp.al.task import Classification
from alapp.app.session import LabelingSession
from alapp.core.types import ItemId, Source, Split
from alapp.store import queue
from alapp.store.demo import create_demo_project
from alapp.store.queue import QueueEntry
from alapp.store.rounds import save_round
from tests.test_al_strategies import make_state


def test_random_picks_are_spread_evenly_through_the_batch() -> None:
    assert random_positions(20, 2) == [5, 15]
    assert random_positions(10, 1) == [5]
    assert random_positions(5, 0) == []
    picks = compose_batch(make_state(100), BatchRequest("margin", 20, random_share=0.1))
    assert [i for i, p in enumerate(picks) if p.is_random] == [5, 15]
    again = compose_batch(make_state(100), BatchRequest("margin", 20, random_share=0.1))
    assert picks == again  # deterministic
    # the strategy's own order is kept around them
    ranked = compose_batch(make_state(100), BatchRequest("margin", 18, random_share=0))
    assert [p.item_id for p in picks if not p.is_random] == [p.item_id for p in ranked]


def test_interleave_keeps_every_pick_once() -> None:
    chosen = [Pick(i, 1.0, False, "margin") for i in range(7)]
    randoms = [Pick(100 + i, None, True, "random share") for i in range(3)]
    out = interleave(chosen, randoms)
    assert sorted(p.item_id for p in out) == sorted(p.item_id for p in chosen + randoms)
    assert [p.item_id for p in out if not p.is_random] == list(range(7))


def test_cluster_picks_say_which_cluster() -> None:
    picks = compose_batch(make_state(80, n_labeled=0), BatchRequest("margin", 10))
    cold = [p for p in picks if not p.is_random]
    assert [p.cluster for p in cold] == [(i + 1, 9, "centroid") for i in range(9)]
    mixed = compose_batch(make_state(80), BatchRequest("cluster", 6, random_share=0))
    assert [p.cluster for p in mixed] == [(1, 2, "centroid"), (2, 2, "centroid"),
                                          (1, 2, "random"), (2, 2, "random"),
                                          (1, 2, "outlier"), (2, 2, "outlier")]


def _queue(project) -> list[tuple[int, str]]:
    return [(e.item_id, e.source) for e in queue.entries(project)]


def test_a_retrain_keeps_waiting_random_picks_up_to_the_share(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    pool = project.item_ids(Split.POOL)

    def batch(ids: list[int], random_at: set[int]) -> list[Pick]:
        return [Pick(i, None if k in random_at else 0.5, k in random_at,
                     "random share" if k in random_at else "margin") for k, i in enumerate(ids)]

    save_round(project, batch(pool[:20], {5, 15}), "margin", 0, None)
    assert [s for _, s in _queue(project)].count(Source.RANDOM) == 2
    for item in pool[:10]:  # ten labels, the first random among them
        project.label_item(item, "billing", "ann")
    waiting_random = pool[15]
    # the retrain's batch, with its own random draws
    save_round(project, batch(pool[30:50], {5, 15}), "margin", 10, None, keep=pool[10])
    entries = _queue(project)
    assert entries[0] == (pool[10], Source.AL)  # the item on screen stays first
    randoms = [i for i, s in entries if s == Source.RANDOM]
    assert randoms == [waiting_random, pool[45]]  # the old one takes the first random place
    assert [i for i, _ in entries].index(waiting_random) == 6
    assert pool[35] not in [i for i, _ in entries]  # replaced by the waiting one
    project.close()


def test_relabel_many_and_undo_it_as_one_step(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    session = LabelingSession.inline(project, "ann")
    a, b, c = project.item_ids(Split.POOL)[:3]
    project.label_item(a, "billing", "ann")
    project.label_item(b, "praise", "ann")
    before = project.current_labels()
    token = session.relabel_many([a, b, c, a], "praise")
    assert len(token) == 2  # b had it already; a once
    after = project.current_labels()
    assert after[a] == after[b] == after[c] == "praise"
    assert session.undo_relabel(token) == 2
    assert project.current_labels() == before  # c is unlabeled again, a is billing
    assert session.undo_relabel(token) == 0  # undone once only
    sources = [e["source"] for e in project.events(a)]
    assert sources == ["unknown", "relabel", "undo"]
    project.close()


def test_undo_relabel_leaves_items_changed_since(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    session = LabelingSession.inline(project, "ann")
    a, b = project.item_ids(Split.POOL)[:2]
    token = session.relabel_many([a, b], "delivery")
    session.relabel(b, "account")
    assert session.undo_relabel(token) == 1
    assert a not in project.current_labels() and project.current_labels()[b] == "account"
    project.close()


def _entry(**kw) -> QueueEntry:
    base = {"item_id": ItemId(1), "text": "t", "source": Source.AL, "strategy": "margin",
            "score": 0.9, "predicted_cost": 12.0, "round_id": 1}
    return QueueEntry(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("kw,reason", [
    ({"top_two": (("billing", 0.41), ("delivery", 0.38))},
     "margin saw billing 41% vs delivery 38%; ~12 s to label"),
    ({"strategy": "cold-start", "cluster": (3, 10, "centroid")},
     "cold-start: cluster 3 of 10, nearest to its centre; ~12 s to label"),
    ({"strategy": "uncertainty-cluster", "cluster": (2, 18, "top"),
      "top_two": (("a", 0.5), ("b", 0.3))},
     "uncertainty-cluster saw a 50% vs b 30%; ~12 s to label"),
    ({"strategy": "cluster", "cluster": (2, 4, "outlier"), "top_two": (("a", 0.5), ("b", 0.3))},
     "cluster: cluster 2 of 4, farthest from its centre; ~12 s to label"),
    ({"strategy": "coreset", "score": 0.42, "top_two": (("a", 0.5), ("b", 0.3))},
     "coreset: farthest from everything labeled (distance 0.42); ~12 s to label"),
    ({"source": Source.RANDOM, "strategy": "random share", "score": None},
     "random share (checks the sampler); ~12 s to label"),
    ({"predicted_cost": None},
     "margin: smallest gap between the two likeliest labels: 1 - (p(1) - p(2))"),
    ({"strategy": "margin / cost", "predicted_cost": 150.0,
      "top_two": (("a", 0.5), ("b", 0.3))},
     "margin / cost (per second of labeling) saw a 50% vs b 30%; ~2 min to label"),
    ({"source": Source.TEST_SET, "strategy": None, "predicted_cost": None},
     "held-out test set (random; never used for training)"),
])
def test_the_reason_says_what_the_strategy_saw(kw, reason) -> None:
    assert _entry(**kw).reason == reason


def test_confusion_matrix_lists_every_label() -> None:
    labels = ["a", "b", "c", "d", "e", "f"]
    got = Classification().metrics(labels, ["a", "a", "b"], ["a", "b", "b"])
    assert got["confusion"]["labels"] == labels
    matrix = np.array(got["confusion"]["matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() == 3 and matrix[0, 1] == 1
    assert got["macro_f1"] == pytest.approx(2 / 3)  # over the labels present only
