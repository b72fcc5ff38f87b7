"""Replaying a labeled span corpus (CoNLL files) through the span round (issue 18).

The pool file's sentences are the pool, the test file's the test set; a strategy's curve is the
test entity F1 of the model trained on what it bought, at a grid of sentence counts. Every run
starts from the same seeded random first batch per seed, so strategies differ only in what they
choose after it; the random strategy runs in the same call. Counts are kept in sentences and in
tokens (what the span cost model charges).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from alapp.al.sequence import SEQUENCE_STRATEGIES
from alapp.core.errors import AlappError
from alapp.core.settings import ProjectSettings
from alapp.core.spans import TokenOffsets, encode_spans, tags_to_spans
from alapp.core.types import ItemId, Split
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundResult, Snapshot
from alapp.loop.simulate import _aulc, _first_reach, _mean_ci, recommend
from alapp.loop.span_round import SpanRoundRunner


@dataclass
class SpanCorpus:
    """Sentences as texts with tokens and their span sets (encoded), and the entity types."""

    texts: list[str]
    tokens: list[TokenOffsets]
    values: list[str]
    types: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def token_counts(self) -> np.ndarray:
        return np.array([len(t) for t in self.tokens], dtype=np.int64)


def corpus_from_tags(sentences: Sequence[tuple[Sequence[str], Sequence[str]]],
                     types: Sequence[str] | None = None) -> SpanCorpus:
    """Tokens and tags (a CoNLL file's sentences, BIO or IOB1) as texts joined by single
    spaces, with the tokens' offsets and the spans the tags describe."""
    texts, tokens, values = [], [], []
    seen: list[str] = []
    for words, tags in sentences:
        offsets: TokenOffsets = []
        at = 0
        for w in words:
            offsets.append((at, at + len(w)))
            at += len(w) + 1
        spans = tags_to_spans(offsets, list(tags), strict=False)
        for s in spans:
            if s.label not in seen:
                seen.append(s.label)
        texts.append(" ".join(words))
        tokens.append(offsets)
        values.append(encode_spans(spans))
    return SpanCorpus(texts, tokens, values, list(types) if types else sorted(seen))


@dataclass
class SpanSimConfig:
    strategies: list[str]
    grid: list[int]  # sentence counts at which the curve is measured (the first: random)
    seeds: int = 3
    random_share: float = 0.0  # each curve its strategy alone
    settings: dict[str, Any] = field(default_factory=dict)  # further project settings


@dataclass
class SpanCurve:
    strategy: str
    seed: int
    sentences: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    f1: list[float] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)


class SpanReplay:
    """Pool sentences first, then test sentences; an item's id is its row."""

    def __init__(self, pool: SpanCorpus, test: SpanCorpus) -> None:
        if not len(pool) or not len(test):
            raise AlappError(f"a span replay needs pool and test sentences (got {len(pool)} "
                             f"and {len(test)})")
        self.types = list(dict.fromkeys([*pool.types, *test.types]))
        self.n_pool = len(pool)
        n = len(pool) + len(test)
        self.ids = [ItemId(r) for r in range(n)]
        self.texts = pool.texts + test.texts
        self.tokens = pool.tokens + test.tokens
        self.values = pool.values + test.values
        self.splits = [Split.POOL.value] * self.n_pool + [Split.TEST.value] * len(test)
        self.lengths = np.array([len(t) for t in self.tokens], dtype=np.int64)
        self.vectors = MemoryVectors()
        self.cache: dict[tuple[str, ...], Any] = {}  # CRF features, shared by every run

    def snapshot(self, settings: ProjectSettings, bought: Sequence[int], round_index: int,
                 last: bool = False) -> Snapshot:
        current = {ItemId(r): self.values[r] for r in bought}
        current.update({ItemId(r): self.values[r] for r in range(self.n_pool, len(self.ids))})
        excluded = set(self.ids[:self.n_pool]) - set(current) if last else set()
        return Snapshot(self.vectors, self.types, settings, self.ids, self.texts, self.splits,
                        current, excluded, round_index, measured=[], tokens=self.tokens)


def check_span_config(cfg: SpanSimConfig, n_pool: int) -> None:
    unknown = [s for s in cfg.strategies if s not in SEQUENCE_STRATEGIES]
    if unknown:
        raise AlappError(f"unknown sequence strategy {unknown[0]!r}; choose from "
                         f"{', '.join(SEQUENCE_STRATEGIES)}")
    if not cfg.grid or any(b <= a for a, b in zip(cfg.grid, cfg.grid[1:], strict=False)) \
            or cfg.grid[0] < 1:
        raise AlappError(f"sentence grid {cfg.grid}: give increasing counts of at least 1")
    if cfg.grid[-1] > n_pool:
        raise AlappError(f"sentence grid ends at {cfg.grid[-1]}, but the pool has {n_pool} "
                         "sentences")
    if cfg.seeds < 1:
        raise AlappError("seeds must be at least 1")


def run_settings(cfg: SpanSimConfig, strategy: str, seed: int) -> ProjectSettings:
    return replace(ProjectSettings(name="span simulation", seed=seed, task="spans",
                                   strategy=strategy, random_share=cfg.random_share,
                                   featurizer="tfidf", cost_model="equal",
                                   target_accuracy=0.0, stop_set_size=0), **cfg.settings)


def run_curve(replay: SpanReplay, strategy: str, seed: int, cfg: SpanSimConfig) -> SpanCurve:
    """One curve: the seeded random first ``grid[0]`` sentences, then batches up to each
    grid point chosen by ``strategy``; the point is the test F1 after training on them."""
    settings = run_settings(cfg, strategy, seed)
    runner = SpanRoundRunner(cache=replay.cache)
    rng = np.random.default_rng([seed, 18])
    bought = rng.permutation(replay.n_pool)[: cfg.grid[0]].tolist()
    curve = SpanCurve(strategy, seed)
    for k, target in enumerate(cfg.grid):
        started = time.perf_counter()
        last = k == len(cfg.grid) - 1
        batch = 0 if last else cfg.grid[k + 1] - target
        snap = replay.snapshot(replace(settings, batch_size=max(batch, 1)), bought, k, last)
        result: RoundResult = runner.run(snap)
        curve.sentences.append(len(bought))
        curve.tokens.append(int(replay.lengths[bought].sum()))
        curve.f1.append(float(result.metrics.get("micro_f1", 0.0)))
        curve.round_seconds.append(time.perf_counter() - started)
        if not last:
            new = [p.item_id for p in result.picks][:batch]
            if len(new) < batch:
                raise AlappError(f"{strategy}: the round chose {len(new)} of {batch} sentences")
            bought += new
    return curve


def full_training_f1(replay: SpanReplay, cfg: SpanSimConfig) -> float:
    """The same model trained on the whole pool: the reference the curves are measured by."""
    settings = replace(run_settings(cfg, "seq-random", 0), batch_size=1)
    result = SpanRoundRunner(cache=replay.cache).run(
        replay.snapshot(settings, list(range(replay.n_pool)), 0, last=True))
    return float(result.metrics["micro_f1"])


def simulate_spans(pool: SpanCorpus, test: SpanCorpus, cfg: SpanSimConfig,
                   on_curve: Callable[[SpanCurve], None] | None = None) -> dict[str, Any]:
    """Every strategy of ``cfg`` (and ``seq-random`` when not named) for each seed, and the
    summary: mean F1 with a 95% interval per grid point, and the sentences and tokens each
    strategy needs to reach 95% (98%, 99%) of the full-training F1."""
    replay = SpanReplay(pool, test)
    strategies = list(dict.fromkeys([*cfg.strategies, "seq-random"]))
    cfg = replace(cfg, strategies=strategies)
    check_span_config(cfg, replay.n_pool)
    started = time.perf_counter()
    full = full_training_f1(replay, cfg)
    full_seconds = time.perf_counter() - started
    curves = []
    for seed in range(cfg.seeds):
        for strategy in strategies:
            curve = run_curve(replay, strategy, seed, cfg)
            curves.append(curve)
            if on_curve:
                on_curve(curve)
    return summarize_spans(curves, cfg, full, replay.n_pool, int(replay.lengths[:replay.n_pool]
                                                                 .sum()), full_seconds)


def summarize_spans(curves: list[SpanCurve], cfg: SpanSimConfig, full_f1: float,
                    pool_sentences: int, pool_tokens: int,
                    full_seconds: float = 0.0) -> dict[str, Any]:
    out: dict[str, Any] = {"full_training": {"f1": full_f1, "sentences": pool_sentences,
                                             "tokens": pool_tokens, "seconds": full_seconds},
                           "grid": cfg.grid, "seeds": cfg.seeds, "strategies": {},
                           # what the learning-curve plot reads (app/plot_svg)
                           "full_pool": {"accuracy": full_f1}, "measure": "entity micro-F1"}
    for strategy in cfg.strategies:
        mine = [c for c in curves if c.strategy == strategy]
        if not mine:
            continue
        f1, ci = _mean_ci([c.f1 for c in mine])
        tokens = np.mean([c.tokens for c in mine], axis=0).tolist()
        x = [float(v) for v in mine[0].sentences]
        entry: dict[str, Any] = {
            "sentences": mine[0].sentences, "tokens_mean": tokens, "f1_mean": f1,
            "f1_ci95": ci, "per_seed_f1": [c.f1 for c in mine],
            "spent": x, "accuracy_mean": f1, "accuracy_ci95": ci,
            "aulc_accuracy": _aulc(x, f1), "per_seed_aulc": [_aulc(x, c.f1) for c in mine],
            "seconds_per_round": float(np.mean([np.mean(c.round_seconds) for c in mine]))}
        for p in (0.95, 0.98, 0.99):
            at = _first_reach(x, f1, p * full_f1)
            key = f"{int(p * 100)}pct_of_full"
            entry[f"sentences_to_{key}"] = at
            entry[f"sentence_share_to_{key}"] = None if at is None else at / pool_sentences
            entry[f"tokens_to_{key}"] = None if at is None else tokens[x.index(at)]
            entry[f"token_share_to_{key}"] = None if at is None else \
                tokens[x.index(at)] / pool_tokens
        out["strategies"][strategy] = entry
    base = out["strategies"].get("seq-random")
    if base:
        for entry in out["strategies"].values():
            for unit in ("sentences", "tokens"):
                mine, theirs = entry[f"{unit}_to_95pct_of_full"], base[f"{unit}_to_95pct_of_full"]
                entry[f"{unit}_saved_vs_random_at_95pct"] = \
                    None if mine is None or theirs is None else theirs - mine
    out["recommendation"] = recommend(out["strategies"])
    return out
