"""The random share stratified by a metadata column (seed 003)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from alapp.al import stratify
from alapp.al.batch import BatchRequest, compose_batch
from alapp.al.state import PoolState
from alapp.app.rounds import snapshot_of
from alapp.core.errors import AlappError
from alapp.loop.round import RoundRunner
from alapp.store import stream as stored
from alapp.store.demo import create_demo_project
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project


def test_allocation_is_proportional_and_exact_in_expectation() -> None:
    rng = np.random.default_rng(0)
    assert stratify.allocate(np.array([50, 30, 20]), 10, rng).tolist() == [5, 3, 2]
    assert stratify.allocate(np.array([3, 1]), 10, rng).tolist() == [3, 1]  # all there is
    assert stratify.allocate(np.array([5, 5]), 0, rng).tolist() == [0, 0]
    draws = np.array([stratify.allocate(np.array([50, 30, 20]), 2, rng) for _ in range(4000)])
    assert (draws.sum(axis=1) == 2).all()
    assert set(draws[:, 0]) == {1}  # 1.0 expected: always exactly one
    assert set(draws[:, 1]) <= {0, 1} and set(draws[:, 2]) <= {0, 1}  # floor or ceiling
    assert draws.mean(axis=0) == pytest.approx([1.0, 0.6, 0.4], abs=0.03)


def test_stratified_choice_draws_within_each_stratum() -> None:
    rng = np.random.default_rng(1)
    rows = np.arange(100, 200)
    strata = np.repeat([0, 1, 2], [60, 30, 10])
    chosen = stratify.stratified_choice(rows, strata, 10, rng)
    assert len(set(chosen.tolist())) == 10 and set(chosen.tolist()) <= set(rows.tolist())
    per = Counter(strata[chosen - 100].tolist())
    assert per == {0: 6, 1: 3, 2: 1}


def test_missing_values_are_a_stratum_of_their_own() -> None:
    codes = stratify.codes(["a", None, "b", "a", None])
    assert codes[0] == codes[3] and codes[1] == codes[4]
    assert len(set(codes.tolist())) == 3


def _state(strata: np.ndarray | None) -> PoolState:
    n = len(strata) if strata is not None else 1000
    return PoolState(ids=np.arange(n, dtype=np.int64), n_labeled=0, strata=strata)


def test_the_batch_random_share_follows_the_strata() -> None:
    """A pool of 70% / 20% / 10% sites; two random items per batch of 20. Stratified, every
    batch has one item of the big site and the share over rounds is the pool's; unstratified,
    a batch now and then has none."""
    strata = np.repeat([0, 1, 2], [700, 200, 100])
    got: Counter[int] = Counter()
    without_big = 0
    plain_without_big = 0
    for r in range(400):
        request = BatchRequest("random", 20, 0.1, seed=3, round_index=r)
        randoms = [p.item_id for p in compose_batch(_state(strata), request) if p.is_random]
        assert len(randoms) == 2
        got.update(strata[randoms].tolist())
        without_big += not (strata[randoms] == 0).any()
        plain = [p.item_id for p in compose_batch(_state(None), request) if p.is_random]
        plain_without_big += not (strata[plain] == 0).any()
    assert without_big == 0 and plain_without_big > 0
    total = sum(got.values())
    assert got[0] / total == pytest.approx(0.7, abs=0.03)
    assert got[2] / total == pytest.approx(0.1, abs=0.03)


def test_without_strata_the_draw_is_the_unchanged_random_one() -> None:
    request = BatchRequest("random", 20, 0.2, seed=5, round_index=2)
    rng = np.random.default_rng([5, 2])
    picks = compose_batch(_state(None), request)
    chosen = rng.permutation(1000)[:16]  # what the strategy ("random") takes
    rest = np.setdiff1d(np.arange(1000), chosen)
    expected = rng.choice(rest, size=4, replace=False)
    assert sorted(p.item_id for p in picks if p.is_random) == sorted(expected.tolist())


def test_a_project_stratifies_by_an_imported_metadata_column(tmp_path) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    assert stored.meta_keys(project) == ["lang"]
    with pytest.raises(AlappError, match="stratify_by='language': no item has metadata "
                                         "'language'; the items' metadata keys are lang"):
        project.update_settings(stratify_by="language")
    project.update_settings(stratify_by="lang", featurizer="tfidf", batch_size=20,
                            random_share=0.3, drift_every=0)
    snap = snapshot_of(project)
    assert snap.strata is not None and set(snap.strata) == {"en", "ru", "zh"}
    pool = [r for r, split in enumerate(snap.splits) if split == "pool"
            and snap.ids[r] not in snap.current]
    share = Counter(snap.strata[r] for r in pool)
    result = RoundRunner().run(snap)
    lang = dict(zip(snap.ids, snap.strata, strict=True))
    randoms = Counter(lang[p.item_id] for p in result.picks if p.is_random)
    assert sum(randoms.values()) == 6
    for value, count in randoms.items():  # floor or ceiling of the proportional count
        expected = 6 * share[value] / len(pool)
        assert np.floor(expected) <= count <= np.ceil(expected)
    project.close()


def test_csv_columns_become_metadata_keys(tmp_path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label,site\nfirst scan,a,north\nsecond scan,b,south\nthird,,north\n",
                    "utf-8")
    project = Project.create(tmp_path / "p.alapp", ["a", "b"])
    import_file(project, data, ImportSpec(format="csv"))
    assert stored.meta_keys(project) == ["site"]
    project.update_settings(stratify_by="site")
    assert snapshot_of(project).strata == ["north", "south", "north"]
    project.close()


def test_a_key_with_quotes_is_read_as_one_key(tmp_path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "x", "we\\"ird.key": 1}\n{"text": "y", "we\\"ird.key": 2}\n',
                    "utf-8")
    project = Project.create(tmp_path / "p.alapp", ["a"])
    import_file(project, data, ImportSpec(format="jsonl"))
    project.update_settings(stratify_by='we"ird.key')
    assert snapshot_of(project).strata == ["1", "2"]
    project.close()
