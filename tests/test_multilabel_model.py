"""Multi-label model, strategies and metrics (issue 21): one-vs-rest or chains with tuned
thresholds, predicting sets never seen in training; MMC, aggregated per-label uncertainty and
cardinality inconsistency from hand-computed tables; subset accuracy, micro/macro-F1, Hamming
loss and the per-label table."""

from __future__ import annotations

import numpy as np
import pytest

from alapp.al import multilabel
from alapp.al.registry import STRATEGIES, get_strategy
from alapp.al.state import PoolState
from alapp.al.task import MultiLabelClassification
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.core.types import ItemId, Split
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundRunner, Snapshot
from alapp.loop.simulate_multilabel import MultiLabelReplay, run
from alapp.ml.base import load_arrays
from alapp.ml.multilabel import MultiLabelClassifier

LABELS = ["a", "b", "c"]


def _blobs(n: int, seed: int, combos: list[tuple[int, ...]]) -> tuple[np.ndarray, list[str]]:
    """Items whose features light up the dimensions of their labels (plus noise)."""
    rng = np.random.default_rng(seed)
    x, y = [], []
    for i in range(n):
        chosen = combos[i % len(combos)]
        v = rng.normal(0, 0.3, 6)
        for j in chosen:
            v[j] += 3.0
        x.append(v)
        y.append("|".join(LABELS[j] for j in chosen))
    return np.array(x), y


@pytest.mark.parametrize("chains", [False, True])
def test_predicts_a_combination_never_seen_in_training(chains) -> None:
    x, y = _blobs(60, 0, [(0,), (1,), (2,), ()])  # single labels and "none of these" only
    assert not any("|" in v for v in y)
    model = MultiLabelClassifier(LABELS, chains=chains)
    model.fit(x, y)
    test = np.zeros((2, 6))
    test[0, [0, 1]] = 3.0  # a and b together: a set nobody chose
    test[1, [0, 2]] = 3.0
    guesses, confidence = MultiLabelClassification().decode(LABELS, model.predict_proba(test))
    assert guesses == ["a|b", "a|c"]
    assert ((confidence > 0) & (confidence <= 1)).all()


def test_thresholds_are_tuned_and_weights_are_plain_arrays() -> None:
    x, y = _blobs(60, 1, [(0,), (1,), (0, 1), ()])
    model = MultiLabelClassifier(LABELS)
    assert model.weights() is None
    model.fit(x, y)
    assert model.thresholds[2] == 0.5  # "c" has no positive: the default
    arrays = load_arrays(model.weights() or b"")
    assert arrays["thresholds"].tolist() == model.thresholds.tolist()
    assert arrays["coef_0"].shape == (1, 6) and "constant_2" in arrays
    # 0.5 in the output is each label's tuned threshold on the model's own probabilities
    raw = model.raw_proba(x)
    shifted = model.predict_proba(x)
    assert np.array_equal(raw >= model.thresholds, shifted >= 0.5)


def test_tune_thresholds_by_hand() -> None:
    probs = np.array([[0.12], [0.22], [0.32], [0.42]])
    truth = np.array([[False], [True], [True], [False]])
    # t in (0.12, 0.22]: predicts rows 2-4, tp 2 fp 1: F1 0.8, the best; 0.15 and 0.2 tie and
    # 0.2 is closer to 0.5.
    assert multilabel.tune_thresholds(probs, truth)[0] == pytest.approx(0.2)
    assert multilabel.tune_thresholds(probs, np.zeros((4, 1), bool))[0] == 0.5


def test_shift_to_threshold() -> None:
    out = multilabel.shift_to_threshold(np.array([[0.3, 0.3, 0.9]]), np.array([0.3, 0.5, 0.9]))
    assert out[0].tolist() == pytest.approx([0.5, 0.3, 0.5])


def test_strategy_scores_by_hand() -> None:
    p = np.array([[0.9, 0.6, 0.1]])
    assert multilabel.aggregated(p, "margin", "mean")[0] == pytest.approx(0.4)
    assert multilabel.aggregated(p, "margin", "max")[0] == pytest.approx(0.8)
    assert multilabel.aggregated(p, "entropy", "max")[0] == pytest.approx(
        -(0.6 * np.log2(0.6) + 0.4 * np.log2(0.4)))
    # P(|Y| = 0..3) = .036, .382, .528, .054: two labels are likeliest; y = (+, +, -),
    # f = (.8, .2, -.8): MMC = (1 - .8)/2 + (1 - .2)/2 + (1 - .8)/2 = 0.6
    assert multilabel.cardinality_distribution(p)[0] == pytest.approx([.036, .382, .528, .054])
    assert multilabel.mmc(p)[0] == pytest.approx(0.6)
    # expected labels 1.6, labeled mean 1.0: |0.6| x mean margin 0.4
    assert multilabel.cardinality_inconsistency(p, 1.0)[0] == pytest.approx(0.24)


def test_metrics_by_hand() -> None:
    truth = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]], bool)
    guess = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]], bool)
    m = multilabel.metrics(LABELS, truth, guess)
    assert m["micro_f1"] == pytest.approx(4 / 6)
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["subset_accuracy"] == m["accuracy"] == pytest.approx(1 / 3)
    assert m["hamming_loss"] == pytest.approx(2 / 9)
    table = m["per_label"]
    assert (table["support"], table["tp"], table["fp"], table["fn"]) == (
        [1, 1, 1], [1, 0, 1], [0, 1, 0], [0, 1, 0])
    assert table["precision"] == [1.0, 0.0, 1.0] and table["recall"] == [1.0, 0.0, 1.0]
    task = MultiLabelClassification()
    assert task.metrics(LABELS, ["a|b", "c", ""], ["a", "c", "b"])["hamming_loss"] == \
        pytest.approx(2 / 9)


@pytest.mark.parametrize("name", ["ml-margin-mean", "ml-margin-max", "ml-entropy-mean",
                                  "ml-entropy-max", "ml-mmc", "ml-cardinality"])
def test_multilabel_strategies_are_registered_and_behave(name) -> None:
    spec = get_strategy(name)
    assert name in STRATEGIES and spec.score is not None
    rng = np.random.default_rng(0)
    probs = rng.random((40, 4))
    state = PoolState(ids=np.arange(40), probs=probs, label_cardinality=1.2)
    picked = spec.select(state, 10, np.random.default_rng(1), _params())
    assert len(set(picked.indices.tolist())) == 10
    again = spec.select(state, 10, np.random.default_rng(1), _params())
    assert picked.indices.tolist() == again.indices.tolist()
    assert len(spec.select(state, 100, np.random.default_rng(1), _params()).indices) == 40


def _params():
    from alapp.al.registry import StrategyParams

    return StrategyParams()


def _replay(n_pool: int = 80, n_test: int = 40) -> MultiLabelReplay:
    words = {"a": "refund money back", "b": "parcel courier late", "c": "login password"}
    rng = np.random.default_rng(3)
    combos = [("a",), ("b",), ("c",), ("a", "b"), (), ("b", "c")]

    def make(n: int) -> tuple[list[str], list[list[str]]]:
        texts, sets = [], []
        for i in range(n):
            chosen = combos[(i + int(rng.integers(6))) % len(combos)]
            texts.append(" ".join([words[c] for c in chosen] + ["hello there", str(i)]))
            sets.append(list(chosen))
        return texts, sets

    pool, test = make(n_pool), make(n_test)
    return MultiLabelReplay(LABELS, pool[0], pool[1], test[0], test[1])


def test_a_multilabel_round_trains_predicts_sets_and_measures() -> None:
    replay = _replay()
    curve = run(replay, "ml-mmc", seed=0, batch=10, budget=30)
    assert curve.labels == [10, 20, 30]
    assert all(0 <= v <= 1 for v in curve.values["micro_f1"])
    runner = RoundRunner()
    settings = ProjectSettings(multi_label=True, strategy="ml-mmc", featurizer="tfidf",
                               batch_size=5, stop_set_size=20, random_share=0.2)
    result = runner.run(replay.snapshot(settings, list(range(30)), 1))
    assert "per_label" in result.metrics and "confusion" not in result.metrics
    assert result.metrics["per_label"]["labels"] == LABELS
    assert {"micro_f1", "hamming_loss", "subset_accuracy"} <= set(result.metrics)
    assert len(result.picks) == 5
    for value, confidence in result.predicted.values():
        assert value == "" or set(value.split("|")) <= set(LABELS)
        assert 0 <= confidence <= 1
    for item, ((first, _), (second, _)) in result.top_two.items():  # the unsure labels
        probs = result.label_probs_of(item)
        assert probs is not None
        assert [first, second] == sorted(probs, key=lambda n: abs(probs[n] - 0.5))[:2]
    names = {s.name for s in result.signals}
    assert {"overall-uncertainty", "max-confidence", "stabilizing"} <= names


def test_chains_are_a_setting() -> None:
    curve = run(_replay(), "ml-margin-mean", seed=1, batch=10, budget=20, model="chains")
    assert curve.labels == [10, 20]
    with pytest.raises(AlappError, match="multilabel_model"):
        ProjectSettings(multilabel_model="powerset").validate(strategies=STRATEGIES)


def test_a_strategy_the_multilabel_model_cannot_feed_is_refused() -> None:
    vectors = MemoryVectors()
    ids = [ItemId(i) for i in range(6)]
    vectors.put("vectors:v", ids, np.eye(6))
    settings = ProjectSettings(multi_label=True, strategy="bald", featurizer="vectors:v")
    snap = Snapshot(vectors, LABELS, settings, ids, [""] * 6, [Split.POOL.value] * 6,
                    {ItemId(0): "a", ItemId(1): "b|c"}, set(), 1, measured=[])
    with pytest.raises(AlappError, match="multi-label strategy"):
        RoundRunner().run(snap)


def test_a_single_label_probability_strategy_is_refused_in_a_multilabel_round() -> None:
    replay = _replay(30, 10)
    settings = ProjectSettings(multi_label=True, strategy="margin", featurizer="tfidf")
    with pytest.raises(AlappError, match="'margin' reads the probabilities as one choice"):
        RoundRunner().run(replay.snapshot(settings, list(range(10)), 1))
    # diversity and random still apply
    for name in ("cluster", "random"):
        settings = ProjectSettings(multi_label=True, strategy=name, featurizer="tfidf",
                                   batch_size=4)
        assert len(RoundRunner().run(replay.snapshot(settings, list(range(10)), 1)).picks) == 4


def test_a_committee_is_refused_in_a_multilabel_round() -> None:
    replay = _replay(30, 10)  # mlp, finetune and fusion have sigmoid heads (test_multilabel_heads)
    settings = ProjectSettings(multi_label=True, strategy="ml-mmc", featurizer="tfidf",
                               classifier="committee")
    with pytest.raises(AlappError, match="classifier='committee' has no multi-label form"):
        RoundRunner().run(replay.snapshot(settings, list(range(10)), 1))


def test_cost_aware_composition_applies_to_multilabel_strategies() -> None:
    replay = _replay(40, 10)
    settings = ProjectSettings(multi_label=True, strategy="ml-margin-mean", featurizer="tfidf",
                               batch_size=5, cost_aware=True, random_share=0.2)
    result = RoundRunner().run(replay.snapshot(settings, list(range(12)), 1))
    assert len(result.picks) == 5 and sum(p.is_random for p in result.picks) == 1
    assert result.cost is not None
