"""Issue 16: the seeds' worked examples checked exactly, the variants and combinations they
describe (MC-averaged entropy, representative + uncertainty, diversity then uncertainty,
uncertainty then core-set, a committee of mixed families), ROI for every strategy, and
``alapp strategies`` naming each method's seed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from alapp.al import uncertainty
from alapp.al.batch import BatchRequest, compose_batch, cost_candidates
from alapp.al.committee import bald
from alapp.al.cost import roi
from alapp.al.diversity import activation_rank, model_outlier_scores
from alapp.al.registry import (
    MULTI_LABEL_STRATEGIES,
    SOURCES,
    STRATEGIES,
    StrategyParams,
    strategy_params,
    top_k,
)
from alapp.al.sequence import SEQUENCE_STRATEGIES
from alapp.al.state import PoolState
from alapp.cli import main
from alapp.core.settings import ProjectSettings

# --- seed 004, 2.2: the cat / horse / dog prediction -----------------------------------------
CAT, HORSE = 0.9352784428596497, 0.05409964170306921
# The seed's JSON gives Dog 0.038225741147994995, but then the three do not sum to 1 (1.0276),
# and its entropy terms (-0.0705 = 0.0108 log2 0.0108) use Dog = 0.0108 = 1 - 0.9352 - 0.0540:
# the table the worked numbers come from.
ROUNDED = np.array([[0.9352, 0.0540, 0.0108]])
FULL = np.array([[CAT, HORSE, 1.0 - CAT - HORSE]])


def test_seed_004_least_confidence_and_margin() -> None:
    # "(1-0.9352) * (3/2) = 0.0972"
    assert uncertainty.least_confidence(ROUNDED, normalize=True)[0] == pytest.approx(0.0972,
                                                                                     abs=1e-12)
    # the same from the full-precision probability: 0.09708, the seed's 0.0972 to 2e-4
    assert uncertainty.least_confidence(FULL, normalize=True)[0] == pytest.approx(0.0972,
                                                                                  abs=2e-4)
    # "1.0 - (0.9352 - 0.0540) = 0.1188"
    assert uncertainty.margin(ROUNDED)[0] == pytest.approx(0.1188, abs=1e-12)
    assert uncertainty.margin(FULL)[0] == pytest.approx(0.1188, abs=1e-4)
    # ratio (the seed names it without a number): p(2) / p(1)
    assert uncertainty.ratio(ROUNDED)[0] == pytest.approx(0.0540 / 0.9352)
    assert uncertainty.least_confidence(ROUNDED)[0] == pytest.approx(1 - 0.9352)


def test_seed_004_entropy_is_in_bits() -> None:
    # "0 - sum(-0.0705, -0.0903, -0.2273) = 0.3881": p log2 p per label, so base 2 (in nats
    # the terms would be -0.0489, -0.0626, -0.1576).
    terms = sorted(float(p * math.log2(p)) for p in (CAT, 0.0540, 0.0108))
    assert terms == pytest.approx([-0.2273, -0.0903, -0.0705], abs=1.5e-4)  # the seed rounds down
    seed_terms = [-0.0705, -0.0903, -0.2273]
    assert -sum(seed_terms) == pytest.approx(0.3881, abs=1e-12)
    bits = uncertainty.entropy(ROUNDED, base=2)[0]
    assert bits == pytest.approx(0.3881, abs=3e-4)  # 0.38833: the sum of unrounded terms
    assert uncertainty.entropy(FULL, base=2)[0] == pytest.approx(0.3881, abs=6e-4)
    assert uncertainty.entropy(ROUNDED)[0] == pytest.approx(bits * math.log(2))  # nats


def test_seed_004_normalised_entropy() -> None:
    # The seed: "divided by the log of the number of labels: 0.3881 / log2(3) = 0.6151". The
    # division gives 0.2449; 0.6151 is 0.3881 * log2(3), i.e. 0.3881 / log_3(2) (math.log(2, 3)
    # for log2(3)). A normalised entropy is at most 1 and a 93.5%-sure prediction is far from
    # the most uncertain one, so alapp divides, in any base:
    assert 0.3881 / math.log(2, 3) == pytest.approx(0.6151, abs=1e-4)  # the seed's slip
    normalised = uncertainty.entropy(ROUNDED, normalize=True)[0]
    assert normalised == pytest.approx(0.3881 / math.log2(3), abs=2e-4)
    assert normalised == pytest.approx(0.2450, abs=1e-4)
    assert uncertainty.entropy(ROUNDED, normalize=True, base=2)[0] == pytest.approx(normalised)
    assert uncertainty.entropy(np.full((1, 3), 1 / 3), normalize=True)[0] == pytest.approx(1.0)


def test_seed_004_the_strategies_give_these_scores() -> None:
    state = PoolState(ids=np.array([7]), probs=ROUNDED, n_labeled=5)
    params = StrategyParams()
    for name, expected in (("least-confidence", 0.0972), ("margin", 0.1188),
                           ("entropy", 0.3881 / math.log2(3))):
        score = STRATEGIES[name].score
        assert score is not None
        assert score(state, params)[0] == pytest.approx(expected, abs=2e-4)


# --- seed 000: model-based outliers ----------------------------------------------------------
VALIDATION = np.array([2.52, 1.95, 1.18, 0.22, -0.12])


def test_seed_000_activation_rank_example() -> None:
    # "2.52 is 100% activation, -0.12 is 0%; a new text at 0.05 lies exactly between 20% and
    # 0%: it is activated at 10%."
    ranks = activation_rank(np.array([2.52, -0.12, 0.22, 0.05]), VALIDATION)
    assert ranks.tolist() == pytest.approx([1.0, 0.0, 0.2, 0.1], abs=1e-12)
    # between the other neighbours, linearly: 1.18 is 40%, 1.95 is 60%
    assert activation_rank(np.array([1.18, 1.565, 1.95]), VALIDATION).tolist() == \
        pytest.approx([0.4, 0.5, 0.6], abs=1e-12)
    # outside the validation range: clipped to 0% and 100%
    assert activation_rank(np.array([-7.0, 99.0]), VALIDATION).tolist() == [0.0, 1.0]


def test_seed_000_outlier_score_aggregates_ranks_by_mean() -> None:
    # score(z) = -1/d sum rank(z_i), shown as 1 - mean rank: 0.05 on one neuron scores 0.9
    assert model_outlier_scores(np.array([[0.05]]), VALIDATION[:, None])[0] == \
        pytest.approx(0.9, abs=1e-12)
    validation = np.stack([VALIDATION, VALIDATION[::-1] * 10], axis=1)  # order is irrelevant
    scores = model_outlier_scores(np.array([[0.05, 2.2], [2.52, -5.0]]), validation)
    assert scores.tolist() == pytest.approx([1 - (0.1 + 0.2) / 2, 1 - (1.0 + 0.0) / 2])


def test_activation_rank_with_ties_and_a_single_value() -> None:
    # ties: a value ranks by the share of validation values strictly below it
    assert activation_rank(np.array([1.0, 1.5]), np.array([0.0, 1.0, 1.0, 2.0])).tolist() == \
        pytest.approx([0.25, 0.625])
    assert activation_rank(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0])).tolist() == \
        [0.0, 1.0, 1.0]


# --- 001 / 004 DBAL: uncertainty of the MC-dropout-averaged prediction ------------------------
def test_mc_entropy_is_the_entropy_of_the_mean_prediction() -> None:
    mc = np.array([  # (samples, items, classes)
        [[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],
        [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]],
    ])
    state = PoolState(ids=np.arange(3), mc_probs=mc, n_labeled=5)
    score = STRATEGIES["mc-entropy"].score
    assert score is not None
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)
    assert score(state, StrategyParams()).tolist() == pytest.approx([1.0, 1.0, h])
    # unlike BALD, which only counts the samples' disagreement: item 1 is uncertain, not
    # disputed
    assert bald(mc).tolist() == pytest.approx([math.log(2), 0.0, 0.0], abs=1e-9)
    assert [str(n) for n in STRATEGIES["mc-entropy"].needs] == ["mc_probs"]


# --- combinations, with the candidate factor and ramp as settings ----------------------------
def _state(n: int = 300, seed: int = 0) -> PoolState:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 8))
    probs = rng.dirichlet(np.ones(3), size=n)
    hidden = rng.normal(size=(n, 5))
    return PoolState(ids=np.arange(n) + 500, probs=probs, embeddings=emb, hidden=hidden,
                     mc_probs=rng.dirichlet(np.ones(3), size=(4, n)),
                     committee_probs=rng.dirichlet(np.ones(3), size=(3, n)),
                     labeled_embeddings=rng.normal(size=(6, 8)),
                     target_embeddings=rng.normal(size=(10, 8)),
                     activations=hidden, validation_activations=rng.normal(size=(20, 5)),
                     wrong_prob=rng.random(n), predicted_loss=rng.random(n),
                     predicted_loss_layers=rng.random(n), true_loss=rng.random(n),
                     costs=np.ones(n), n_labeled=30, round_index=1)


def _ids(state: PoolState, name: str, k: int, **request) -> set[int]:
    picks = compose_batch(state, BatchRequest(name, k, random_share=0, seed=1, **request))
    return {p.item_id for p in picks}


def _margin_top(state: PoolState, k: int) -> set[int]:
    assert state.probs is not None
    margin = uncertainty.margin(state.probs)
    return set(state.ids[np.argsort(-margin)[:k]].tolist())


@pytest.mark.parametrize("name", ["uncertainty-representative", "uncertainty-coreset"])
def test_uncertainty_first_combinations_choose_among_the_uncertain_candidates(name) -> None:
    state = _state()
    for factor in (1, 3, 10):
        picks = _ids(state, name, 10, params=StrategyParams(preselect_factor=factor))
        assert len(picks) == 10
        assert picks <= _margin_top(state, 10 * factor)  # the candidate set
    # a factor of 1 leaves nothing to diversify: the 10 most uncertain items
    assert _ids(state, name, 10, params=StrategyParams(preselect_factor=1)) == \
        _margin_top(state, 10)
    # a larger candidate set lets diversity choose differently
    assert _ids(state, name, 10, params=StrategyParams(preselect_factor=10)) != \
        _margin_top(state, 10)


def test_uncertainty_coreset_spreads_the_batch_over_uncertain_groups() -> None:
    # 10 uncertain items in one tight group, 10 a little less uncertain in another: margin
    # takes the first group only; uncertainty then core-set covers both.
    rng = np.random.default_rng(3)
    a = np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.01, (10, 3))
    b = np.array([0.0, 1.0, 0.0]) + rng.normal(0, 0.01, (10, 3))
    rest = np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.3, (40, 3))
    probs = np.concatenate([np.tile([0.5, 0.49, 0.01], (10, 1)),
                            np.tile([0.55, 0.44, 0.01], (10, 1)),
                            np.tile([0.98, 0.01, 0.01], (40, 1))])
    state = PoolState(ids=np.arange(60), probs=probs, embeddings=np.concatenate([a, b, rest]),
                      labeled_embeddings=np.array([[0.0, 0.0, 1.0]]), n_labeled=1)
    params = StrategyParams(preselect_factor=10)
    picks = _ids(state, "uncertainty-coreset", 2, params=params)
    assert len(picks & set(range(10))) == 1 and len(picks & set(range(10, 20))) == 1
    assert _ids(state, "margin", 2) <= set(range(10))


def test_cluster_uncertainty_filters_diverse_candidates_by_uncertainty() -> None:
    state = _state()
    # candidates = the whole pool: the filter is all there is, the 10 most uncertain
    assert _ids(state, "cluster-uncertainty", 10,
                params=StrategyParams(preselect_factor=30)) == _margin_top(state, 10)
    # a factor of 1: the diverse sample itself, whatever its uncertainty
    diverse = _ids(state, "cluster-uncertainty", 10, params=StrategyParams(preselect_factor=1))
    assert diverse != _margin_top(state, 10)
    picks = compose_batch(state, BatchRequest("cluster-uncertainty", 10, random_share=0,
                                              seed=1, params=StrategyParams(preselect_factor=3)))
    margins = [p.score for p in picks]
    assert margins == sorted(margins, reverse=True)  # the most uncertain of the candidates
    assert len({p.item_id for p in picks}) == 10


def test_candidate_factor_and_ramp_are_settings_that_reach_the_round(tmp_path,
                                                                     monkeypatch) -> None:
    params = strategy_params(ProjectSettings(candidate_factor=4, diversity_ramp=50))
    assert (params.preselect_factor, params.schedule_ramp) == (4, 50)
    assert ProjectSettings().candidate_factor == 10 and ProjectSettings().diversity_ramp == 200
    from alapp.app.compare import comparison_config

    compared = comparison_config(ProjectSettings(candidate_factor=5, diversity_ramp=60), 100)
    assert (compared.candidate_factor, compared.diversity_ramp) == (5, 60)

    from alapp.loop import round as round_module
    from alapp.loop.simulate import Replay, SimulationConfig, run_settings

    seen: list[BatchRequest] = []
    real = round_module.compose_batch

    def spy(state, request):
        seen.append(request)
        return real(state, request)

    monkeypatch.setattr(round_module, "compose_batch", spy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = (x[:, 0] > 0).astype(int)
    replay = Replay(x[:60], y[:60], x[60:], y[60:])
    cfg = SimulationConfig(["uncertainty-coreset"], candidate_factor=3, diversity_ramp=77)
    settings = run_settings(cfg, "uncertainty-coreset", 0)
    result = round_module.RoundRunner().run(replay.snapshot(settings, list(range(10)), 1))
    assert len(result.picks) == 20
    assert (seen[-1].params.preselect_factor, seen[-1].params.schedule_ramp) == (3, 77)


def test_config_sets_the_strategy_knobs(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    assert main(["init", str(project), "--labels", "a,b"]) == 0
    assert main(["config", str(project), "candidate_factor=20", "diversity_ramp=500"]) == 0
    out = capsys.readouterr().out
    assert "candidate_factor = 20" in out and "diversity_ramp = 500" in out
    assert main(["config", str(project), "candidate_factor=0"]) == 2
    err = capsys.readouterr().err
    assert "candidate_factor=0 is not allowed" in err and len(err.strip().splitlines()) == 1


# --- ROI and the price cap, for every strategy ------------------------------------------------
def _costly(n: int = 600) -> PoolState:
    """Half the items (every other row) cost 100 s, half 2 s. (The candidates of cost-aware
    batch selection, candidate factor x batch = 200, are then all cheap: in a pool of 200 they
    would be half the pool, the cheap items with no value at all giving way to the expensive
    items with the most, which a cost-blind BatchBALD then prefers.)"""
    state = _state(n, seed=5)
    state.costs = np.where(np.arange(n) % 2 == 0, 100.0, 2.0)
    return state


def _cheap(ids: set[int], state: PoolState) -> bool:
    assert state.costs is not None
    cost = dict(zip(state.ids.tolist(), state.costs.tolist(), strict=True))
    return all(cost[i] < 50 for i in ids)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_price_cap_excludes_expensive_items_for_every_strategy(name) -> None:
    state = _costly()
    picks = compose_batch(state, BatchRequest(name, 20, random_share=0.2, seed=2,
                                              price_cap=50.0))
    assert len(picks) == 20
    assert all(p.predicted_cost is not None and p.predicted_cost <= 50 for p in picks)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_cost_aware_prefers_cheap_items_for_every_strategy(name) -> None:
    state = _costly()
    plain = _ids(state, name, 20)
    costed = compose_batch(state, BatchRequest(name, 20, random_share=0, seed=1,
                                               cost_aware=True))
    assert _cheap({p.item_id for p in costed}, state), name
    assert not _cheap(plain, state), name  # without ROI, expensive items are among the picks
    assert all(p.strategy == f"{name} / cost" for p in costed)


@pytest.mark.parametrize("name", ["uncertainty-cluster", "coreset", "badge", "batchbald",
                                  "schedule", "uncertainty-coreset"])
def test_cost_aware_batch_strategies_keep_the_best_value_per_second(name) -> None:
    """The candidates are the best utility per second; the strategy diversifies among them."""
    state = _costly()
    state.costs = np.linspace(1, 20, state.size)  # every item a different price
    spec = STRATEGIES[name]
    assert spec.score is None and spec.utility is not None
    params = StrategyParams(preselect_factor=3)
    value = roi(spec.utility(state, params), state.costs)
    candidates = top_k(value, cost_candidates(10, state.size, params), np.random.default_rng(0))
    best = set(state.ids[candidates].tolist())
    picks = _ids(state, name, 10, cost_aware=True, params=params)
    assert len(picks) == 10 and picks <= best


def test_cost_aware_uncertainty_cluster_takes_cheap_uncertain_items() -> None:
    state = _costly()
    assert state.probs is not None
    certain = np.tile([0.98, 0.01, 0.01], (state.size, 1))
    state.probs = np.where((np.arange(state.size) % 4 == 1)[:, None], state.probs, certain)
    picks = _ids(state, "uncertainty-cluster", 10, cost_aware=True)
    rows = [int(i) - 500 for i in picks]
    assert all(r % 2 == 1 for r in rows)  # cheap
    assert all(r % 4 == 1 for r in rows)  # and uncertain (the cheap rows 1, 5, 9, ...)


def test_every_strategy_says_what_roi_does_with_it() -> None:
    for spec in STRATEGIES.values():
        assert spec.cost_effect.startswith("ROI: ")
    assert "cheapest" in STRATEGIES["cluster"].cost_effect
    assert "cheapest" in STRATEGIES["random"].cost_effect
    assert "uncertainty (margin)" in STRATEGIES["uncertainty-cluster"].cost_effect
    assert "score" in STRATEGIES["margin"].cost_effect


# --- a committee of mixed model families (000) ------------------------------------------------
def _blobs(n: int = 150, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 12)) + np.eye(3, 12)[y] * 3.0
    return x, [("a", "b", "c")[i] for i in y]


def test_mixed_committee_members_are_of_different_families() -> None:
    from scipy import sparse

    from alapp.al.needs import Need
    from alapp.ml.factory import KINDS, choose_kind
    from alapp.ml.families import family_of

    labels = ["a", "b", "c"]
    settings = ProjectSettings(classifier="mixed-committee", strategy="vote-entropy")
    assert choose_kind(settings) == "mixed-committee"
    assert choose_kind(ProjectSettings(classifier="mixed-committee",
                                       strategy="consensus-kl")) == "mixed-committee"
    model = KINDS["mixed-committee"].build(labels, settings, frozenset())
    x, y = _blobs()
    model.fit(x[:100], y[:100])
    families = [family_of(m) for m in model.members]  # type: ignore[attr-defined]
    assert set(families) == {"linear model", "neural network", "naive Bayes"}
    out = model.outputs(x[100:], {Need.COMMITTEE_PROBS}, 5)
    members = out[Need.COMMITTEE_PROBS]
    assert members.shape == (6, 50, 3)
    assert np.allclose(members.sum(axis=2), 1.0)
    assert np.allclose(out[Need.PROBS], members.mean(axis=0))
    assert not np.allclose(members[0], members[1])  # families disagree
    accuracy = np.mean(np.array(labels)[out[Need.PROBS].argmax(1)] == np.array(y[100:]))
    assert accuracy > 0.8
    naive_bayes = model.members[2]  # type: ignore[attr-defined]
    assert type(naive_bayes._model).__name__ == "GaussianNB"  # dense embeddings
    model.fit(sparse.csr_matrix(np.abs(x[:100])), y[:100])  # TF-IDF-like: non-negative
    assert type(naive_bayes._model).__name__ == "ComplementNB"
    from safetensors.numpy import load

    weights = load(model.weights())
    assert {"member0.coef", "member1.layer0.weight", "member2.feature_log_prob"} <= set(weights)


@pytest.mark.parametrize("strategy", ["vote-entropy", "consensus-kl"])
def test_committee_strategies_run_on_the_mixed_committee(strategy) -> None:
    from alapp.loop.round import RoundRunner
    from alapp.loop.simulate import Replay, SimulationConfig, run_settings

    x, y = _blobs(160, seed=1)
    codes = np.array(["abc".index(v) for v in y])
    replay = Replay(x[:120], codes[:120], x[120:], codes[120:])
    cfg = SimulationConfig([strategy], classifier="mixed-committee")
    result = RoundRunner().run(replay.snapshot(run_settings(cfg, strategy, 0),
                                               list(range(30)), 1))
    # the committee, blended with label spreading as by default (issue 17)
    assert result.model_kind == "GraphBlend(Committee)" and result.strategy == strategy
    assert len(result.picks) == 20 and result.metrics["accuracy"] > 0.6
    assert all(p.score is not None and p.score >= 0 for p in result.picks if not p.is_random)


# --- `alapp strategies`: every strategy with its seed -----------------------------------------
def test_strategies_cli_lists_each_strategy_with_its_seed(capsys) -> None:
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    for name, spec in STRATEGIES.items():
        assert name in out and spec.summary in out
        assert spec.seed and f"seed: {spec.seed}" in out
    assert main(["strategies", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == list(STRATEGIES)
    for name, entry in listed.items():
        assert entry["seed"] == STRATEGIES[name].seed
        if name in MULTI_LABEL_STRATEGIES:  # beyond the seeds, and said so
            assert entry["seed"].startswith("none (multi-label")
        elif name == "typiclust":  # issue 17's cold start: a paper, not a seed
            assert entry["seed"].startswith("none (Hacohen")
        else:
            assert entry["seed"][:3] in {"000", "001", "002", "003", "004"}
        assert entry["cost_aware"].startswith("ROI: ")
    for name in ("mc-entropy", "uncertainty-representative", "cluster-uncertainty",
                 "uncertainty-coreset"):
        assert name in listed
    assert listed["uncertainty-coreset"]["seed"].startswith("004")
    assert listed["cluster-uncertainty"]["seed"].startswith("003")
    assert listed["uncertainty-representative"]["seed"].startswith("000")
    assert "DBAL" in listed["mc-entropy"]["seed"]
    assert set(SOURCES) <= set(STRATEGIES) | set(SEQUENCE_STRATEGIES)  # span projects' too


# --- simulate runs the new strategies and the mixed committee (mc-entropy trains the torch
# MLP: tests/test_simulate_strategies.py runs it, with every other strategy, through the CLI)
@pytest.mark.parametrize("strategy,classifier", [
    ("uncertainty-representative", "logreg"),
    ("cluster-uncertainty", "logreg"), ("uncertainty-coreset", "logreg"),
    ("vote-entropy", "mixed-committee"), ("schedule", "logreg"),
])
def test_simulate_runs_the_new_strategies(strategy, classifier) -> None:
    from alapp.loop.simulate import SimulationConfig, simulate

    x, y = _blobs(200, seed=2)
    codes = np.array(["abc".index(v) for v in y])
    cfg = SimulationConfig([strategy], batch=10, budget=30, seeds=1, classifier=classifier,
                           candidate_factor=3, diversity_ramp=20)
    result = simulate(x[:150], codes[:150], x[150:], codes[150:], cfg)
    curve = result["strategies"][strategy]
    assert curve["labels"] == [10, 20, 30]
    assert all(0 <= a <= 1 for a in curve["accuracy_mean"])


# --- the settings dialog ----------------------------------------------------------------------
def test_settings_dialog_shows_seed_knobs_and_what_roi_does(qtbot, tmp_path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(candidate_factor=7), ["text"])
    qtbot.addWidget(dialog)
    assert dialog.candidate_factor.value() == 7 and dialog.diversity_ramp.value() == 200
    dialog.strategy.setCurrentText("uncertainty-coreset")
    assert "From seed 004" in dialog.strategy_help.text()
    assert dialog.cost_help.text() == STRATEGIES["uncertainty-coreset"].cost_effect
    dialog.strategy.setCurrentText("cluster")
    assert "cheapest" in dialog.cost_help.text()
    assert dialog.classifier.findData("mixed-committee") >= 0
    dialog.diversity_ramp.setValue(120)
    dialog.apply()
    assert dialog.changes == {"strategy": "cluster", "diversity_ramp": 120}
