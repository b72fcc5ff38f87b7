"""Replaying the loop with known labels as the annotator, to compare strategies on real data.

Pure arrays in, curves out: the embeddings are computed once per dataset and reused for every
strategy and seed. The classifier is retrained from scratch each round (as a fresh project
would be), on the labels chosen so far; a round's batch comes from the same compose_batch the
application uses, so what is measured is what users get.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.al.batch import BatchRequest, compose_batch
from alapp.al.state import PoolState

SimulationProgress = Callable[[float, str], None]  # (fraction done, what is running)


@dataclass
class SimulationConfig:
    strategies: list[str]
    batch: int = 20
    budget: int = 1000  # labels (or cost units when costs are given)
    seeds: int = 5
    initial: str = "cold-start"  # or "random": how the first batch is chosen
    random_share: float = 0.0  # off by default so each curve is its strategy alone
    cost_aware: bool = False


@dataclass
class Curve:
    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)
    spent: list[float] = field(default_factory=list)  # labels, or cost units with costs
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)


class _Model:
    """Logistic regression for one run, warm-started from the previous round's weights."""

    def __init__(self, k: int, seed: int) -> None:
        self.k, self.seed = k, seed
        self._model: Any = None
        self._classes: NDArray[Any] | None = None

    def fit(self, x: NDArray[Any], y: NDArray[Any]) -> None:
        from sklearn.linear_model import LogisticRegression

        classes = np.unique(y)
        if self._classes is None or not np.array_equal(classes, self._classes):
            self._model = LogisticRegression(C=4.0, max_iter=300, warm_start=True,
                                             random_state=self.seed)
            self._classes = classes
        if len(classes) > 1:
            self._model.fit(x, y)

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float64]:
        assert self._classes is not None
        probs = np.zeros((len(x), self.k))
        if len(self._classes) == 1:
            probs[:, self._classes[0]] = 1.0
        else:
            probs[:, self._classes] = self._model.predict_proba(x)
        return probs


def _fit_predict(x_train: NDArray[Any], y_train: NDArray[Any], x: NDArray[Any],
                 k: int, seed: int) -> NDArray[np.float64]:
    model = _Model(k, seed)
    model.fit(x_train, y_train)
    return model.predict_proba(x)


def _scores(y_true: NDArray[Any], probs: NDArray[np.float64]) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    guess = probs.argmax(axis=1)
    return float(np.mean(guess == y_true)), float(f1_score(y_true, guess, average="macro"))


def run_one(x_pool: NDArray[Any], y_pool: NDArray[Any], x_test: NDArray[Any],
            y_test: NDArray[Any], k: int, strategy: str, seed: int, cfg: SimulationConfig,
            costs: NDArray[np.float64] | None = None,
            charged: NDArray[np.float64] | None = None,
            on_round: Callable[[float], None] | None = None) -> Curve:
    """One learning curve. Each round: choose a batch with the current model, label it, then
    train once on all labels; that model gives the curve's point and the next round's scores.

    ``costs`` are what selection sees (predicted); ``charged`` what labeling really takes
    (default: the same), which is what the budget pays. ``on_round`` gets the share of the
    budget spent after each round."""
    charged = costs if charged is None else charged
    curve = Curve(strategy, seed)
    labeled = np.zeros(len(x_pool), dtype=bool)
    spent = 0.0
    emb = x_pool / np.maximum(np.linalg.norm(x_pool, axis=1, keepdims=True), 1e-12)
    model = _Model(k, seed)
    round_index = 0
    while spent < cfg.budget and not labeled.all():
        started = time.perf_counter()
        pool = np.flatnonzero(~labeled)
        state = PoolState(ids=pool, embeddings=emb[pool],
                          labeled_embeddings=emb[labeled] if labeled.any() else None,
                          n_labeled=int(labeled.sum()), round_index=round_index,
                          costs=None if costs is None else costs[pool])
        name = strategy
        if not labeled.any():
            name = "random" if cfg.initial == "random" else strategy  # cold start is built in
        else:
            state.probs = model.predict_proba(x_pool[pool])
        picks = compose_batch(state, BatchRequest(name, cfg.batch, cfg.random_share, seed,
                                                  round_index, cost_aware=cfg.cost_aware))
        bought = 0
        for pick in picks:
            price = 1.0 if charged is None else float(charged[pick.item_id])
            if costs is not None and spent + price > cfg.budget:
                continue  # this item no longer fits the budget
            labeled[pick.item_id] = True
            spent += price
            bought += 1
        if bought == 0:
            break  # nothing chosen fits what is left of the budget
        model.fit(x_pool[labeled], y_pool[labeled])
        accuracy, f1 = _scores(y_test, model.predict_proba(x_test))
        curve.labels.append(int(labeled.sum()))
        curve.spent.append(round(spent, 3))
        curve.accuracy.append(accuracy)
        curve.macro_f1.append(f1)
        curve.round_seconds.append(time.perf_counter() - started)
        round_index += 1
        if on_round:
            on_round(min(1.0, spent / cfg.budget))
    return curve


def simulate(x_pool: NDArray[Any], y_pool: NDArray[Any], x_test: NDArray[Any],
             y_test: NDArray[Any], cfg: SimulationConfig,
             costs: NDArray[np.float64] | None = None,
             progress: SimulationProgress | None = None,
             charged: NDArray[np.float64] | None = None) -> dict[str, Any]:
    """Every strategy over every seed. ``progress`` gets the overall fraction done and what is
    running, after every round (runs take seconds to minutes, so per-run steps are too coarse)."""
    k = int(max(y_pool.max(), y_test.max()) + 1)
    full_accuracy, full_f1 = _scores(y_test, _fit_predict(x_pool, y_pool, x_test, k, 0))
    curves: list[Curve] = []
    total = len(cfg.strategies) * cfg.seeds
    for s_index, strategy in enumerate(cfg.strategies):
        for seed in range(cfg.seeds):
            done = s_index * cfg.seeds + seed
            what = f"{strategy}, seed {seed + 1}/{cfg.seeds}"

            def on_round(share: float, done: int = done, what: str = what) -> None:
                if progress:
                    progress((done + share) / total, what)

            curves.append(run_one(x_pool, y_pool, x_test, y_test, k, strategy, seed, cfg, costs,
                                  charged, on_round))
    return summarize(curves, cfg, full_accuracy, full_f1)


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
              full_f1: float) -> dict[str, Any]:
    out: dict[str, Any] = {"full_pool": {"accuracy": full_accuracy, "macro_f1": full_f1},
                           "config": cfg.__dict__, "strategies": {}}
    for strategy in cfg.strategies:
        mine = [c for c in curves if c.strategy == strategy]
        acc, acc_ci = _mean_ci([c.accuracy for c in mine])
        f1, f1_ci = _mean_ci([c.macro_f1 for c in mine])
        x = mine[0].spent[: len(acc)]
        reach = {f"labels_to_{int(p * 100)}pct_of_full": _first_reach(x, acc, p * full_accuracy)
                 for p in (0.95, 0.98, 0.99)}
        out["strategies"][strategy] = {
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
