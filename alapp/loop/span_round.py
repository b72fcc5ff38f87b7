"""The round of a span project (issue 18): train a tagger, score the pool, choose sentences.

Labels are span sets (``core.spans.encode_spans``) over each item's stored tokens; the model
reads BIO tags over those tokens. The CRF (``ml.crf``) is the default and the cold-start model;
the token head on the local sentence encoder (``ml.token_head``) is the alternative
(``span_model = token-head``). Selection is a sequence strategy (``al.sequence``) with the
project's random share. The result carries each pool item's suggested spans (``predicted``:
spans as text, with the best path's probability) and each token's uncertainty under the
chosen strategy (``token_uncertainty``), which the queue hands to the span view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from alapp.al import stopping
from alapp.al.batch import COST_SUFFIX, Pick, interleave, random_share_count, round_rng
from alapp.al.cost import roi
from alapp.al.costmodel import CostEstimate, trust_level
from alapp.al.entities import entity_metrics
from alapp.al.sequence import (
    Scored,
    SequencePool,
    get_sequence_strategy,
    seconds_per_token,
    token_cost,
    top,
)
from alapp.al.state import Selected
from alapp.al.stopping import Signal
from alapp.al.task import Spans
from alapp.core import options
from alapp.core.errors import AlappError
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.core.spans import decode_spans, encode_spans, spans_to_tags, tags_to_spans
from alapp.core.types import ItemId, Split
from alapp.ml.crf import Tagged

if TYPE_CHECKING:  # the round imports this module lazily: no import cycle at run time
    from alapp.loop.round import RoundResult, Snapshot
    from alapp.ml.natasha_ner import NatashaAnnotator

FEATURE_CACHE_MAX = 300_000  # sentences whose CRF features are kept between rounds


class SpanTagger(Protocol):
    """What the span round needs of a model: fit on tag sequences, tag with marginals."""

    tags: list[str]

    def fit_words(self, words: Sequence[Sequence[str]],
                  tags: Sequence[Sequence[str]]) -> None: ...

    def tag_words(self, words: Sequence[Sequence[str]], mc_samples: int = 0) -> Tagged: ...

    def weights(self) -> bytes | None: ...


def bio_tags(types: Sequence[str]) -> list[str]:
    """The BIO tag set of entity ``types`` (the ``Spans`` task's classes)."""
    return Spans().classes(types, [])


# -- the default model ------------------------------------------------------------------------

class CrfSpanModel:
    """The CRF with its features kept per sentence between rounds (they never change)."""

    def __init__(self, tags: Sequence[str], cache: dict[tuple[str, ...], Any]) -> None:
        from alapp.ml.crf import CrfTagger

        self.tags = list(tags)
        self.crf = CrfTagger(tags)
        self._cache = cache

    def _features(self, words: Sequence[Sequence[str]]) -> list[Any]:
        from alapp.ml.crf import sentence_features

        if len(self._cache) > FEATURE_CACHE_MAX:
            self._cache.clear()
        out = []
        for w in words:
            key = tuple(w)
            f = self._cache.get(key)
            if f is None:
                f = self._cache[key] = sentence_features(w)
            out.append(f)
        return out

    def fit_words(self, words: Sequence[Sequence[str]],
                  tags: Sequence[Sequence[str]]) -> None:
        self.crf.fit(self._features(words), tags)

    def tag_words(self, words: Sequence[Sequence[str]], mc_samples: int = 0) -> Tagged:
        return self.crf.tag(self._features(words))

    def weights(self) -> bytes | None:
        return self.crf.weights()


def make_tagger(settings: ProjectSettings, tags: list[str],
                cache: dict[tuple[str, ...], Any]) -> SpanTagger:
    """The project's ``span_model``: the CRF, or the token head on the local encoder."""
    if settings.span_model == options.SpanModel.TOKEN_HEAD:
        from pathlib import Path

        from alapp.ml.token_head import TokenHead

        return TokenHead(tags, Path(settings.model_folder) if settings.model_folder else None,
                         epochs=settings.finetune_epochs, lr=settings.finetune_lr,
                         batch_size=settings.finetune_batch_size, device=settings.device,
                         seed=settings.seed)
    return CrfSpanModel(tags, cache)


# -- the round --------------------------------------------------------------------------------

class SpanRoundRunner:
    """Span rounds, one at a time; keeps the CRF features and the stopping history."""

    def __init__(self, cache: dict[tuple[str, ...], Any] | None = None) -> None:
        self._cache: dict[tuple[str, ...], Any] = {} if cache is None else cache
        self._stop_history: list[np.ndarray] = []
        self._annotator: tuple[list[str], NatashaAnnotator] | None = None

    def run(self, snap: Snapshot, progress: Progress | None = None) -> RoundResult:
        from alapp.loop.round import RoundResult

        progress = progress or Progress()
        s = snap.settings
        spec = get_sequence_strategy(s.strategy)
        if snap.tokens is None or len(snap.tokens) != len(snap.ids):
            raise AlappError("a span round needs every item's tokens; the project has none "
                             "stored for some items (import them again)")
        timings: dict[str, float] = {}
        tags = bio_tags(snap.labels)
        words = [[text[a:b] for a, b in toks] for text, toks in zip(snap.texts, snap.tokens,
                                                                    strict=True)]
        index = {item_id: row for row, item_id in enumerate(snap.ids)}
        usable = [r for r in range(len(snap.ids)) if words[r]]  # an empty text has no tokens
        train_rows = [index[i] for i in snap.current
                      if snap.splits[index[i]] != Split.TEST and words[index[i]]]
        test_rows = [index[i] for i in snap.current
                     if snap.splits[index[i]] == Split.TEST and words[index[i]]]
        pool_rows = np.array([r for r in usable if snap.splits[r] == Split.POOL
                              and snap.ids[r] not in snap.current
                              and snap.ids[r] not in snap.excluded], dtype=int)
        lengths = np.array([len(words[r]) for r in pool_rows], dtype=np.int64)
        pool = SequencePool(ids=np.array([snap.ids[r] for r in pool_rows], dtype=np.int64),
                            lengths=lengths, n_labeled=len(train_rows))
        predicted: dict[ItemId, tuple[str, float]] = {}
        metrics: dict[str, Any] = {}
        signals: list[Signal] = []
        notes: list[str] = []
        model: SpanTagger | None = None
        tagged: Tagged | None = None
        if train_rows:
            progress.report(f"training on {len(train_rows)} sentences", 0.3)
            t = time.perf_counter()
            model = make_tagger(s, tags, self._cache)
            truth = [self._gold_tags(snap, r, words) for r in train_rows]
            model.fit_words([words[r] for r in train_rows], truth)
            timings["fit"] = time.perf_counter() - t
            progress.report("scoring the pool", 0.6)
            t = time.perf_counter()
            needs_mc = "mc_marginals" in spec.needs
            if len(pool_rows):
                tagged = model.tag_words([words[r] for r in pool_rows],
                                         s.mc_samples if needs_mc else 0)
                pool.marginals, pool.best_logprob = tagged.marginals, tagged.best_logprob
                pool.mc_marginals = tagged.mc_marginals
                for row, best, lp in zip(pool_rows, tagged.best, tagged.best_logprob,
                                         strict=True):
                    spans = tags_to_spans(snap.tokens[row], best, strict=False)
                    predicted[snap.ids[row]] = (encode_spans(spans), float(np.exp(lp)))
            if test_rows:
                metrics = self._test_metrics(snap, model, test_rows, words)
            timings["score"] = time.perf_counter() - t
            signals = self._signals(snap, model, words, usable, metrics, tagged)
        if "embeddings" in spec.needs and len(pool_rows):
            from alapp.loop.round import featurize

            pool.embeddings = featurize(snap, progress).embeddings[pool_rows]
        progress.report("selecting the batch", 0.9)
        t = time.perf_counter()
        cost = self._costs(snap, pool_rows, words, index)
        picks, scored = self._select(snap, pool, cost.seconds, spec.name)
        timings["select"] = time.perf_counter() - t
        if model is None:
            notes.append("no labeled sentences yet: a random first batch")
            if s.natasha_suggestions:
                notes += self._natasha(snap, picks, index, predicted)
        token_uncertainty: dict[ItemId, list[float]] = {}
        if scored is not None and pool.marginals is not None:
            for item_id, values in zip(pool.ids.tolist(), pool.split(scored.token),
                                       strict=True):
                token_uncertainty[ItemId(item_id)] = [round(float(v), 4) for v in values]
        progress.report("done", 1.0)
        chosen_by = next((p.strategy for p in picks if not p.is_random), s.strategy)
        result = RoundResult(picks, predicted, len(train_rows), metrics,
                             {k: round(v, 4) for k, v in timings.items()}, snap.round_index,
                             chosen_by, type(model).__name__ if model is not None else "",
                             model.weights() if model is not None else None, cost, signals,
                             notes=notes, features="tokens")
        result.token_uncertainty = token_uncertainty
        return result

    def _natasha(self, snap: Snapshot, picks: list[Pick], index: dict[ItemId, int],
                 predicted: dict[ItemId, tuple[str, float]]) -> list[str]:
        """natasha's spans on the picked sentences as suggestions (confidence 0: not this
        project's model); a note instead when natasha cannot give any."""
        from alapp.ml.natasha_ner import NatashaAnnotator

        assert snap.tokens is not None
        try:
            if self._annotator is None or self._annotator[0] != snap.labels:
                self._annotator = (list(snap.labels), NatashaAnnotator(snap.labels))
        except AlappError as exc:
            return [str(exc)]
        annotator = self._annotator[1]
        for pick in picks:
            row = index[ItemId(pick.item_id)]
            spans = annotator.spans(snap.texts[row], snap.tokens[row])
            predicted[ItemId(pick.item_id)] = (encode_spans(spans), 0.0)
        return [f"suggestions from natasha ({', '.join(annotator.mapping)}), not yet from a "
                "model of this project"]

    @staticmethod
    def _gold_tags(snap: Snapshot, row: int, words: list[list[str]]) -> list[str]:
        assert snap.tokens is not None
        try:
            return spans_to_tags(snap.tokens[row], decode_spans(snap.current[snap.ids[row]]))
        except ValueError as exc:
            raise AlappError(f"item {snap.ids[row]}: its stored spans do not fit its tokens: "
                             f"{exc}") from None

    def _test_metrics(self, snap: Snapshot, model: SpanTagger, rows: list[int],
                      words: list[list[str]]) -> dict[str, Any]:
        assert snap.tokens is not None
        out = model.tag_words([words[r] for r in rows])
        guesses = [tags_to_spans(snap.tokens[r], best, strict=False)
                   for r, best in zip(rows, out.best, strict=True)]
        truth = [decode_spans(snap.current[snap.ids[r]]) for r in rows]
        metrics = entity_metrics(snap.labels, truth, guesses)
        metrics["accuracy"] = metrics["micro_f1"]  # what the curve and the stops read (Spans)
        return metrics

    def _signals(self, snap: Snapshot, model: SpanTagger, words: list[list[str]],
                 usable: list[int], metrics: dict[str, Any], tagged: Tagged | None) -> list[Signal]:
        """Target entity F1 on the test set, stabilizing predictions (token tags on a fixed
        random stop set, Cohen's kappa), and the pool's token uncertainty."""
        s = snap.settings
        out: list[Signal] = []
        if s.target_accuracy > 0:
            out.append(stopping.target_metric(metrics.get("micro_f1"), s.target_accuracy,
                                              "entity F1"))
        pool_rows = [r for r in usable if snap.splits[r] == Split.POOL]
        rng = np.random.default_rng(s.seed)
        stop_rows = np.sort(rng.permutation(np.array(pool_rows, dtype=int))[: s.stop_set_size])
        if len(stop_rows):
            best = model.tag_words([words[r] for r in stop_rows]).best
            code = {t: k for k, t in enumerate(model.tags)}
            self._stop_history.append(np.array([code[t] for seq in best for t in seq]))
            out.append(stopping.stabilizing_predictions(self._stop_history))
        if tagged is not None and len(tagged.marginals):
            out.append(stopping.overall_uncertainty(tagged.marginals))
            out.append(stopping.max_confidence(tagged.marginals))
        return out

    @staticmethod
    def _costs(snap: Snapshot, pool_rows: np.ndarray, words: list[list[str]],
               index: dict[ItemId, int]) -> CostEstimate:
        """Predicted seconds per sentence by its tokens (seconds per token from this
        project's timed labels, their median; a simulation's given costs when known)."""
        if snap.predicted_costs is not None:
            return CostEstimate(snap.predicted_costs[pool_rows], "given", "high", 0)
        timed = [(len(words[index[i]]), ms / 1000) for i, _, ms in snap.measured
                 if i in index and ms >= 500 and words[index[i]]]
        rate = seconds_per_token(np.array([n for n, _ in timed]),
                                 np.array([sec for _, sec in timed]))
        lengths = np.array([len(words[r]) for r in pool_rows])
        return CostEstimate(np.maximum(token_cost(lengths, rate), 0.5), "tokens",
                            trust_level(len(timed)), len(timed))

    @staticmethod
    def _select(snap: Snapshot, pool: SequencePool, costs: np.ndarray,
                name: str) -> tuple[list[Pick], Scored | None]:
        """The strategy's sentences and the random share, spread among them."""
        s = snap.settings
        rng = round_rng(s.seed, snap.round_index)
        n = min(s.batch_size, pool.size)
        if n <= 0:
            return [], None
        spec = get_sequence_strategy(name)
        n_random = random_share_count(n, s.random_share)
        if pool.marginals is None:  # nothing to score yet: all random
            spec, n_random = get_sequence_strategy("seq-random"), 0
        if s.cost_aware and not spec.random and pool.marginals is not None:
            # ROI, as for classification: the normalised score per predicted second (tokens)
            scored = spec.score(pool)
            value = roi(scored.sentence, costs)
            idx = top(value, n - n_random, rng)
            chosen = Selected(idx, value[idx])
            spec = replace(spec, name=spec.name + COST_SUFFIX)
        else:
            chosen, scored = spec.select(pool, n - n_random, rng, s.candidate_factor)
        rest = np.setdiff1d(np.arange(pool.size), chosen.indices)
        randoms = rng.permutation(rest)[:n_random]

        def pick(row: int, score: float | None, is_random: bool, by: str) -> Pick:
            return Pick(int(pool.ids[row]), score, is_random, by, float(costs[row]))

        label = spec.name if pool.marginals is not None else "random (no model yet)"
        ours = [pick(int(r), float(v), False, label)
                for r, v in zip(chosen.indices, chosen.scores, strict=True)]
        return interleave(ours, [pick(int(r), None, True, "random share") for r in randoms]), \
            scored
