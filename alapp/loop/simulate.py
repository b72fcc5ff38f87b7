"""Replaying the loop with known labels as the annotator, to compare strategies on real data.

Every run drives the application's own round: a ``RoundRunner`` per (strategy, seed), fed an
in-memory snapshot each round, so the classifier, its warm start, the automatic model choice
(an MLP for BALD, a committee for vote entropy) and the batch are exactly what users get. The
known labels of the round's picks are then "bought", and the next round trains on them. The
embeddings are computed once per dataset and shared by every strategy and seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.batch import Pick
from alapp.al.registry import STRATEGIES
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings, check_setting
from alapp.core.types import ItemId, Split
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundResult, RoundRunner, Snapshot

SimulationProgress = Callable[[float, str], None]  # (fraction done, what is running)
FEATURIZER = "vectors:sim"  # the precomputed embeddings, as imported vectors are named
# Classifiers a replay can train every round; fine-tuning reads texts and takes minutes a round.
CLASSIFIERS = ("logreg", "mlp", "committee", "mixed-committee", "propagation")
# Asked for by name only (``alapp simulate --classifier finetune``, seed 002's replay): it needs
# the texts (``simulate(texts=...)``), and the comparison dialog never picks it.
TEXT_CLASSIFIERS = ("finetune",)
FINETUNE_FIELDS = ("finetune_lr", "finetune_epochs", "finetune_batch_size")


@dataclass
class SimulationConfig:
    strategies: list[str]
    batch: int = 20
    budget: int = 1000  # labels (or cost units when costs are given)
    seeds: int = 5
    initial: str = "cold-start"  # or "random": how the first batch is chosen
    random_share: float = 0.0  # off by default so each curve is its strategy alone
    cost_aware: bool = False
    classifier: str = "logreg"  # a strategy that needs another model gets it, as in the app
    # strategies (issue 16): the combined strategies' candidate factor, the schedule's ramp
    candidate_factor: int = 10
    diversity_ramp: int = 200
    # stream mode (issue 16): replay the file in order, asking by a threshold tuned to the rate
    mode: str = "pool"  # pool | stream
    stream_ask_rate: float = 0.2
    # Further project settings for every run, as `alapp config` takes them (temperature,
    # freeze_batchnorm, passive_labels, ...); those above have options of their own.
    settings: dict[str, Any] = field(default_factory=dict)
    # issue 16 (seed 002, MRPC: "start from 30%, add 64 per round"): the first labeled set,
    # chosen as ``initial`` says, is a count (1 or more) or a share of the pool (below 1);
    # 0: one batch.
    initial_labels: float = 0.0
    # fine-tuning replays (classifier "finetune"): the project settings of the same names
    finetune_lr: float = 2e-5
    finetune_epochs: int = 3
    finetune_batch_size: int = 16
    model_folder: str = ""  # blank: the bundled MiniLM
    # Costs (issue 16): a metadata column with each item's labeling time in seconds. Selection
    # sees it (cost-aware ranking, the price cap of ``--set price_cap_s=``) and the budget is
    # then in seconds. Blank: every item costs one label.
    cost_column: str = ""


# Settings a replay sets itself, from the options above or for every run alike.
OWN_SETTINGS = {"name": "", "seed": "--seeds", "strategy": "--strategies",
                "batch_size": "--batch", "random_share": "the random share",
                "featurizer": "--featurizer", "classifier": "--classifier",
                "cost_aware": "--cost-aware", "cost_model": "", "target_accuracy": "",
                "stop_set_size": "", "candidate_factor": "--candidate-factor",
                "diversity_ramp": "--diversity-ramp", "selection_mode": "--mode",
                "stream_ask_rate": "--ask-rate", "finetune_lr": "--finetune-lr",
                "finetune_epochs": "--finetune-epochs",
                "finetune_batch_size": "--finetune-batch-size", "model_folder": "--model-folder"}


@dataclass
class Curve:
    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)
    spent: list[float] = field(default_factory=list)  # labels, or cost units with costs
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)
    model: str = ""  # the classifier the rounds trained (the round chooses it)
    # issue 17: accuracy of what the round predicted with (the model blended with
    # the label-name prior while that is used; else the model's accuracy)
    prior_accuracy: list[float] = field(default_factory=list)
    bought: list[int] = field(default_factory=list)  # the pool rows labeled, in order


def check_config(cfg: SimulationConfig) -> None:
    """Refuse what cannot run, in one line, before any work starts."""
    unknown = [s for s in cfg.strategies if s not in STRATEGIES]
    if unknown:
        raise AlappError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    if not cfg.strategies:
        raise AlappError("no strategy to simulate")
    if cfg.classifier not in (*CLASSIFIERS, *TEXT_CLASSIFIERS):
        raise AlappError(f"classifier {cfg.classifier!r} cannot be simulated; choose one of "
                         f"{', '.join((*CLASSIFIERS, *TEXT_CLASSIFIERS))}")
    if cfg.initial not in ("cold-start", "random"):
        raise AlappError(f"initial batch {cfg.initial!r}: choose cold-start or random")
    for name in ("batch", "budget", "seeds", "candidate_factor", "diversity_ramp"):
        if getattr(cfg, name) < 1:
            raise AlappError(f"{name} must be at least 1")
    if cfg.mode not in ("pool", "stream"):
        raise AlappError(f"mode {cfg.mode!r}: choose pool or stream")
    if cfg.mode == "stream":
        from alapp.loop.stream_simulate import check_stream

        check_stream(cfg)
    for key, value in cfg.settings.items():
        if key in OWN_SETTINGS:
            how = f"; use {OWN_SETTINGS[key]}" if OWN_SETTINGS[key] else ""
            raise AlappError(f"setting {key!r} is set by the simulation itself{how}")
        if key == "stratify_by" and value:  # it would be ignored without a word
            raise AlappError("setting 'stratify_by' cannot be replayed: a simulation does not "
                             "carry the items' metadata; stratify in the project instead")
        problem = check_setting(key, value, STRATEGIES)  # also: an unknown setting
        if problem is not None:
            raise AlappError(problem)
    passive = int(cfg.settings.get("passive_labels", 0))
    if passive >= cfg.budget:
        raise AlappError(f"passive_labels={passive} leaves nothing of the budget "
                         f"({cfg.budget}) for the strategies; give a larger --budget")
    if not (cfg.initial_labels == 0 or 0 < cfg.initial_labels < 1
            or (cfg.initial_labels >= 1 and float(cfg.initial_labels).is_integer())):
        raise AlappError(f"initial labels {cfg.initial_labels:g}: give a whole number of "
                         "labels, a share of the pool below 1, or 0 for one batch")
    for name in FINETUNE_FIELDS:
        problem = check_setting(name, getattr(cfg, name), ())
        if problem is not None:
            raise AlappError(problem)


def initial_count(cfg: SimulationConfig, n_pool: int) -> int:
    """How many pool items the first round labels (0: one batch, ``cfg.batch``)."""
    if cfg.initial_labels <= 0:
        return 0
    if cfg.initial_labels < 1:
        return max(1, round(cfg.initial_labels * n_pool))
    return min(int(cfg.initial_labels), n_pool)


class Replay:
    """A labeled dataset as a round reads a project: pool rows first, then test rows, and an
    item's id is its row. Test labels are always known; pool labels only once bought."""

    def __init__(self, x_pool: NDArray[Any], y_pool: NDArray[Any], x_test: NDArray[Any],
                 y_test: NDArray[Any], costs: NDArray[np.float64] | None = None,
                 texts: Sequence[str] | None = None) -> None:
        if not len(y_pool) or not len(y_test):
            raise AlappError(f"a replay needs labeled pool and test items (got {len(y_pool)} "
                             f"and {len(y_test)})")
        y = np.concatenate([y_pool, y_test]).astype(int)
        self.n_pool, n = len(y_pool), len(y)
        self.classes = [str(c) for c in range(int(y.max()) + 1)]
        self.truth = [self.classes[c] for c in y]
        self.ids = [ItemId(row) for row in range(n)]
        self.splits = [Split.POOL.value] * self.n_pool + [Split.TEST.value] * (n - self.n_pool)
        # The features are the vectors; texts feed cost statistics and models that read texts
        # (fine-tuning), pool rows first as the vectors are; model texts (pairs joined).
        self.texts = [""] * n if texts is None else list(texts)
        if len(self.texts) != n:
            raise AlappError(f"a replay needs one text per item ({len(self.texts)} for {n})")
        self.vectors = MemoryVectors()
        self.vectors.put(FEATURIZER, self.ids, np.concatenate([x_pool, x_test]))
        self.test_labels = {i: self.truth[i] for i in self.ids[self.n_pool:]}
        self.label_vectors: NDArray[np.float32] | None = None  # issue 17: label prototypes
        self.costs = None if costs is None else \
            np.concatenate([np.asarray(costs, dtype=np.float64), np.full(n - self.n_pool, np.nan)])

    def snapshot(self, settings: ProjectSettings, bought: Sequence[int], round_index: int,
                 last: bool = False) -> Snapshot:
        """The project after ``bought`` pool rows were labeled. ``last``: the budget is spent,
        so the round only trains and tests (the rest of the pool is set aside: no selection)."""
        current = {ItemId(row): self.truth[row] for row in bought}
        current.update(self.test_labels)
        excluded = set(self.ids[:self.n_pool]) - set(current) if last else set()
        return Snapshot(self.vectors, self.classes, settings, self.ids, self.texts, self.splits,
                        current, excluded, round_index, measured=[],
                        predicted_costs=self.costs, gold=self.truth,
                        label_vectors=self.label_vectors)


def run_settings(cfg: SimulationConfig, strategy: str, seed: int) -> ProjectSettings:
    """A fresh project's settings for one run. No stop set or target: the stopping signals
    are not what a replay measures, and the stop set would cost a prediction every round."""
    return replace(ProjectSettings(name="simulation", seed=seed, strategy=strategy,
                                   batch_size=cfg.batch, random_share=cfg.random_share,
                                   featurizer=FEATURIZER, classifier=cfg.classifier,
                                   cost_model="equal", cost_aware=cfg.cost_aware,
                                   target_accuracy=0.0, stop_set_size=0,
                                   candidate_factor=cfg.candidate_factor,
                                   diversity_ramp=cfg.diversity_ramp,
                                   finetune_lr=cfg.finetune_lr,
                                   finetune_epochs=cfg.finetune_epochs,
                                   finetune_batch_size=cfg.finetune_batch_size,
                                   model_folder=cfg.model_folder), **cfg.settings)


def run_one(replay: Replay, strategy: str, seed: int, cfg: SimulationConfig,
            charged: NDArray[np.float64] | None = None,
            on_round: Callable[[float], None] | None = None) -> Curve:
    """One learning curve. Each round trains on the labels bought so far (the curve's point
    is its test score) and chooses the next batch, which is then labeled from the truth.

    Selection sees ``replay.costs`` (predicted); the budget pays ``charged`` (what labeling
    really takes; default: the same). ``on_round`` gets the share of the budget spent."""
    if charged is None and replay.costs is not None:
        charged = replay.costs
    settings = run_settings(cfg, strategy, seed)
    first = replace(settings, strategy="random") if cfg.initial == "random" else settings
    if settings.passive_labels > 0:  # the passive phase is the first batch: random, whole
        first = replace(settings, batch_size=max(settings.batch_size, settings.passive_labels))
    if initial_count(cfg, replay.n_pool):
        first = replace(first, batch_size=initial_count(cfg, replay.n_pool))
    runner = RoundRunner()
    curve = Curve(strategy, seed)
    bought: list[int] = []
    spent = 0.0
    started = time.perf_counter()
    result = _run_round(runner, replay.snapshot(first, bought, 0), strategy, 0)
    while True:
        new, spent = _buy(result.picks, spent, cfg.budget, charged)
        if not new:
            break  # nothing chosen fits what is left of the budget
        bought += new
        last = spent >= cfg.budget or len(bought) == replay.n_pool
        snap = replay.snapshot(settings, bought, result.round_index + 1, last)
        result = _run_round(runner, snap, strategy, len(bought))
        _add_point(curve, result, len(bought), spent)
        curve.round_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        if on_round:
            on_round(min(1.0, spent / cfg.budget))
        if last:
            break
    curve.bought = bought
    return curve


def _run_round(runner: RoundRunner, snap: Snapshot, strategy: str, labels: int) -> RoundResult:
    """The application's round; what it refuses (a strategy whose model cannot give what it
    needs with these labels) ends the simulation with the round's own one-line reason."""
    try:
        return runner.run(snap)
    except ValueError as e:
        raise AlappError(f"{strategy} cannot be simulated with {labels} labels: {e} (a larger "
                         "batch gives the first trained round more labels)") from None


def _buy(picks: list[Pick], spent: float, budget: float,
         charged: NDArray[np.float64] | None) -> tuple[list[int], float]:
    """Label the picks the budget pays for. Counted in labels, a batch is bought whole; with
    costs, an item that no longer fits is skipped."""
    rows: list[int] = []
    for pick in picks:
        price = 1.0 if charged is None else float(charged[pick.item_id])
        if charged is not None and spent + price > budget:
            continue
        rows.append(pick.item_id)
        spent += price
    return rows, spent


def _add_point(curve: Curve, result: RoundResult, labels: int, spent: float) -> None:
    curve.labels.append(labels)
    curve.spent.append(round(spent, 3))
    curve.accuracy.append(float(result.metrics["accuracy"]))
    curve.macro_f1.append(float(result.metrics["macro_f1"]))
    curve.model = result.model_kind
    curve.prior_accuracy.append(float(result.metrics.get("prior_blend_accuracy",
                                                         result.metrics["accuracy"])))


Scores = tuple[float, float]  # test accuracy and macro-F1


def full_pool(replay: Replay, cfg: SimulationConfig, strategy: str) -> tuple[str, Scores]:
    """The classifier the runs of ``strategy`` get, trained on every pool label: its kind and
    test scores, the reference their curves approach."""
    everything = range(replay.n_pool)
    result = RoundRunner().run(replay.snapshot(run_settings(cfg, strategy, 0), everything, 0,
                                               last=True))
    return result.model_kind, (float(result.metrics["accuracy"]),
                               float(result.metrics["macro_f1"]))


class References:
    """Full-pool references, each computed once. A strategy whose runs trained the configured
    classifier shares its reference; one that made the round choose another model (BALD: the
    MLP) gets that model's, shared by strategies with the same needs (an MLP fit on the whole
    pool takes a while)."""

    def __init__(self, replay: Replay, cfg: SimulationConfig) -> None:
        self.replay, self.cfg = replay, cfg
        self._by_needs: dict[frozenset[str], tuple[str, Scores]] = {}

    def _of_needs(self, strategy: str) -> tuple[str, Scores]:
        spec = STRATEGIES[strategy]
        needs = frozenset(str(n) for n in (*spec.needs, *spec.optional))
        if needs not in self._by_needs:
            self._by_needs[needs] = full_pool(self.replay, self.cfg, strategy)
        return self._by_needs[needs]

    def configured(self) -> Scores:
        return self._of_needs("random")[1]  # random needs nothing: the configured classifier

    def of(self, strategy: str, model_kind: str) -> Scores:
        """``model_kind``: what the strategy's runs trained."""
        kind, scores = self._of_needs("random")
        return scores if model_kind == kind else self._of_needs(strategy)[1]


def simulate(x_pool: NDArray[Any], y_pool: NDArray[Any], x_test: NDArray[Any],
             y_test: NDArray[Any], cfg: SimulationConfig,
             costs: NDArray[np.float64] | None = None,
             progress: SimulationProgress | None = None,
             charged: NDArray[np.float64] | None = None,
             texts: Sequence[str] | None = None) -> dict[str, Any]:
    """Every strategy over every seed. ``progress`` gets the overall fraction done and what is
    running, after every round (runs take seconds to minutes, so per-run steps are too coarse).
    ``texts``: the items' model texts, pool rows first (fine-tuning reads them)."""
    check_config(cfg)
    if cfg.classifier == "finetune" and texts is None:
        raise AlappError("a fine-tuning replay needs the texts (simulate a file or a project)")
    replay = Replay(x_pool, y_pool, x_test, y_test, costs, texts)
    if cfg.mode == "stream":  # items arrive in the file's order (issue 16)
        from alapp.loop.stream_simulate import simulate_stream

        return simulate_stream(replay, cfg, progress)
    references = References(replay, cfg)
    configured = references.configured()  # first, as a warm-up the round timings do not pay
    own: dict[str, Scores] = {}
    curves: list[Curve] = []
    total = len(cfg.strategies) * cfg.seeds
    for s_index, strategy in enumerate(cfg.strategies):
        for seed in range(cfg.seeds):
            done = s_index * cfg.seeds + seed
            what = f"{strategy}, seed {seed + 1}/{cfg.seeds}"

            def on_round(share: float, done: int = done, what: str = what) -> None:
                if progress:
                    progress((done + share) / total, what)

            curves.append(run_one(replay, strategy, seed, cfg, charged, on_round))
        own[strategy] = references.of(strategy, curves[-1].model)
    return summarize(curves, cfg, *configured, own)


def _mean_ci(rows: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Mean and the half-width of a 95% interval (t distribution) across seeds."""
    from scipy import stats

    length = min(len(r) for r in rows)
    matrix = np.array([r[:length] for r in rows])
    mean = matrix.mean(axis=0)
    if len(rows) < 2:
        return mean.tolist(), [0.0] * length
    half = stats.t.ppf(0.975, len(rows) - 1) * matrix.std(axis=0, ddof=1) / np.sqrt(len(rows))
    return mean.tolist(), half.tolist()


def summarize(curves: list[Curve], cfg: SimulationConfig, full_accuracy: float,
              full_f1: float,
              reference: dict[str, Scores] | None = None) -> dict[str, Any]:
    """Mean curves with intervals, and how soon each reaches its full-pool reference (its own
    when ``reference`` has one: a strategy's model may not be the configured one)."""
    out: dict[str, Any] = {"full_pool": {"accuracy": full_accuracy, "macro_f1": full_f1},
                           "config": dict(cfg.__dict__), "strategies": {}}
    for strategy in cfg.strategies:
        mine = [c for c in curves if c.strategy == strategy]
        own_accuracy, own_f1 = (reference or {}).get(strategy, (full_accuracy, full_f1))
        acc, acc_ci = _mean_ci([c.accuracy for c in mine])
        f1, f1_ci = _mean_ci([c.macro_f1 for c in mine])
        x = mine[0].spent[: len(acc)]
        reach = {f"labels_to_{int(p * 100)}pct_of_full": _first_reach(x, acc, p * own_accuracy)
                 for p in (0.95, 0.98, 0.99)}
        out["strategies"][strategy] = {
            "model": mine[0].model,
            "full_pool": {"accuracy": own_accuracy, "macro_f1": own_f1},
            "spent": x, "labels": mine[0].labels[: len(acc)],
            "accuracy_mean": acc, "accuracy_ci95": acc_ci,
            "macro_f1_mean": f1, "macro_f1_ci95": f1_ci,
            "aulc_accuracy": _aulc(x, acc), **reach,
            "seconds_per_round": float(np.mean([np.mean(c.round_seconds) for c in mine])),
            "per_seed_accuracy": [c.accuracy for c in mine],
            "per_seed_aulc": [_aulc(c.spent, c.accuracy) for c in mine],
        }
    baseline = out["strategies"].get("random")
    if baseline:
        for stats_ in out["strategies"].values():
            stats_["labels_saved_vs_random"] = {
                key: (None if stats_[key] is None or baseline[key] is None
                      else baseline[key] - stats_[key])
                for key in ("labels_to_95pct_of_full", "labels_to_98pct_of_full",
                            "labels_to_99pct_of_full")}
    out["recommendation_detail"] = recommend(out["strategies"])
    out["recommendation"] = out["recommendation_detail"]["strategy"]
    return out


def recommend(strategies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The strategy with the largest mean AULC, and whether it beats the runner-up by more than
    seed-to-seed noise: a paired t-test over seeds (each seed starts both from the same state).
    Published comparisons disagree on which strategy wins, so a tie is reported as a tie."""
    from scipy import stats

    ranked = sorted(strategies, key=lambda s: strategies[s]["aulc_accuracy"], reverse=True)
    best = ranked[0]
    detail: dict[str, Any] = {"strategy": best, "runner_up": None, "aulc_gain": None,
                              "p_value": None, "significant": None}
    if len(ranked) < 2:
        detail["text"] = f"{best} (the only strategy compared)"
        return detail
    second = ranked[1]
    a, b = (strategies[s]["per_seed_aulc"] for s in (best, second))
    n = min(len(a), len(b))
    gain = float(np.mean(a[:n]) - np.mean(b[:n]))
    diffs = np.array(a[:n]) - np.array(b[:n])
    if n < 2:
        p = None
    elif np.std(diffs) < 1e-9:  # the same gap on every seed: no noise to test against
        p = 0.0 if gain > 0 else 1.0
    else:
        p = float(stats.ttest_rel(a[:n], b[:n]).pvalue)
    detail.update(runner_up=second, aulc_gain=gain, p_value=p,
                  significant=p is not None and p < 0.05)
    if detail["significant"]:
        detail["text"] = (f"{best}: AULC {gain:+.3f} over {second} (paired t-test over seeds, "
                          f"p = {p:.3g})")
    else:
        why = f"p = {p:.2g}" if p is not None else "too few seeds to tell"
        detail["text"] = (f"{best}, but not clearly better than {second} (AULC {gain:+.3f}, "
                          f"{why}); either is a sound choice")
    return detail


def _first_reach(x: Sequence[float], y: Sequence[float], target: float) -> float | None:
    for xi, yi in zip(x, y, strict=True):
        if yi >= target:
            return xi
    return None


def _aulc(x: Sequence[float], y: Sequence[float]) -> float:
    """Area under the learning curve, normalised by the budget spanned (so 1.0 is perfect)."""
    if len(x) < 2:
        return float(y[0]) if y else 0.0
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))
