"""Sequence active learning (issue 18): which sentences to label next in a span project.

Pure numpy, like every strategy: the scores are functions of prediction arrays, not of models,
so they can be recomputed, shown and tested on hand-written marginals. A pool of ``n``
sentences is kept flat: ``lengths[i]`` tokens for sentence ``i``, its tokens' rows one after
the other in ``marginals`` (``(T, K)``: each token's probability of each tag, summing to 1).

Each strategy gives a per-sentence score (higher: ask sooner) and a per-token uncertainty, the
"why chosen" the span view highlights. Higher is always more uncertain:

- ``mnlp``: minus the length-normalised log-probability of the best tag sequence,
  ``-log P(y*) / n`` (Shen et al. 2017, MNLP);
- ``least-confident-seq``: ``1 - P(y*)`` (Culotta & McCallum 2005);
- ``total-token-entropy``: the sum over tokens of ``-sum_k p log p`` (Settles & Craven 2008);
- ``mean-token-entropy``: the same divided by the sentence's tokens;
- ``seq-bald``: over MC-dropout marginals ``(S, T, K)``: per token
  ``H(mean_s p) - mean_s H(p_s)`` (Houlsby et al. 2011), averaged over the sentence's tokens
  (Siddhant & Lipton 2018);
- ``mnlp-diverse``: the ``candidate factor`` x batch sentences of highest MNLP, spread over
  clusters of their sentence embeddings, the highest MNLP of each cluster;
- ``seq-random``: random sentences, the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alapp.al.diversity import cluster_sample
from alapp.al.state import Floats, Ints, Selected

_TINY = 1e-12


@dataclass
class SequencePool:
    """What a sequence strategy sees of the candidate sentences (unlabeled pool only)."""

    ids: Ints  # (n,) item ids
    lengths: Ints  # (n,) tokens per sentence, each >= 1
    marginals: Floats | None = None  # (T, K) per-token tag probabilities, T = lengths.sum()
    best_logprob: Floats | None = None  # (n,) log P(best tag sequence) under the model
    mc_marginals: Floats | None = None  # (S, T, K) marginals of S MC-dropout passes
    embeddings: Floats | None = None  # (n, d) sentence embeddings, for the diversity step
    n_labeled: int = 0

    def __post_init__(self) -> None:
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        if len(self.lengths) != len(self.ids):
            raise ValueError(f"{len(self.ids)} sentences but {len(self.lengths)} lengths")
        if len(self.lengths) and self.lengths.min() < 1:
            raise ValueError("a sentence without tokens cannot be scored")
        total = int(self.lengths.sum())
        if self.marginals is not None and len(self.marginals) != total:
            raise ValueError(f"marginals have {len(self.marginals)} token rows; the sentences "
                             f"have {total} tokens")
        if self.mc_marginals is not None and self.mc_marginals.shape[1] != total:
            raise ValueError(f"MC marginals have {self.mc_marginals.shape[1]} token rows; the "
                             f"sentences have {total} tokens")

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def starts(self) -> Ints:
        """Where each sentence's tokens begin in the flat token arrays."""
        out: Ints = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64) \
            if len(self.lengths) else np.zeros(0, dtype=np.int64)
        return out

    def split(self, per_token: Floats) -> list[Floats]:
        """A flat per-token array cut into one array per sentence."""
        return np.split(np.asarray(per_token), np.cumsum(self.lengths)[:-1]) \
            if len(self.lengths) else []


@dataclass
class Scored:
    """Per-sentence scores (``(n,)``) and per-token uncertainties (``(T,)``, flat)."""

    sentence: Floats
    token: Floats


def _need(array: Floats | None, what: str, strategy: str) -> Floats:
    if array is None:
        raise ValueError(f"strategy {strategy!r} needs {what}, which the model did not provide")
    return np.asarray(array, dtype=np.float64)


def sentence_sum(pool: SequencePool, per_token: Floats) -> Floats:
    """Each sentence's sum of a flat per-token array."""
    if not pool.size:
        return np.zeros(0)
    out: Floats = np.add.reduceat(np.asarray(per_token, dtype=np.float64), pool.starts)
    return out


def token_entropy(marginals: Floats) -> Floats:
    """``-sum_k p log p`` per token (natural log)."""
    p = np.asarray(marginals, dtype=np.float64)
    out: Floats = -(p * np.log(np.clip(p, _TINY, 1.0))).sum(axis=-1)
    return out


def token_least_confidence(marginals: Floats) -> Floats:
    """``1 - max_k p``: how unsure the model is of each token's tag."""
    out: Floats = 1.0 - np.asarray(marginals, dtype=np.float64).max(axis=-1)
    return out


def best_path_logprob(pool: SequencePool) -> Floats:
    """The model's best-path log-probability, or without one (a token head: tags are
    independent given the text) the sum of each token's largest log-marginal."""
    if pool.best_logprob is not None:
        return np.asarray(pool.best_logprob, dtype=np.float64)
    marg = _need(pool.marginals, "token marginals", "mnlp")
    return sentence_sum(pool, np.log(np.clip(marg.max(axis=1), _TINY, 1.0)))


def mnlp(pool: SequencePool) -> Scored:
    return Scored(-best_path_logprob(pool) / pool.lengths,
                  token_least_confidence(_need(pool.marginals, "token marginals", "mnlp")))


def least_confident_sequence(pool: SequencePool) -> Scored:
    return Scored(1.0 - np.exp(best_path_logprob(pool)),
                  token_least_confidence(_need(pool.marginals, "token marginals",
                                               "least-confident-seq")))


def total_token_entropy(pool: SequencePool) -> Scored:
    h = token_entropy(_need(pool.marginals, "token marginals", "total-token-entropy"))
    return Scored(sentence_sum(pool, h), h)


def mean_token_entropy(pool: SequencePool) -> Scored:
    h = token_entropy(_need(pool.marginals, "token marginals", "mean-token-entropy"))
    return Scored(sentence_sum(pool, h) / pool.lengths, h)


def token_bald(mc_marginals: Floats) -> Floats:
    """Per token: entropy of the mean over the passes minus the mean of the passes'
    entropies (the mutual information between the tag and the weights)."""
    mc = np.asarray(mc_marginals, dtype=np.float64)
    out: Floats = np.maximum(token_entropy(mc.mean(axis=0)) - token_entropy(mc).mean(axis=0),
                             0.0)
    return out


def sequence_bald(pool: SequencePool) -> Scored:
    b = token_bald(_need(pool.mc_marginals, "Monte-Carlo dropout marginals", "seq-bald"))
    return Scored(sentence_sum(pool, b) / pool.lengths, b)


def _random_scores(pool: SequencePool) -> Scored:
    token = token_least_confidence(pool.marginals) if pool.marginals is not None \
        else np.zeros(int(pool.lengths.sum()))
    return Scored(np.zeros(pool.size), token)


ScoreFn = Callable[[SequencePool], Scored]


def top(scores: Floats, k: int, rng: np.random.Generator) -> Ints:
    """Highest scores first, ties broken at random (seeded), NaN never preferred."""
    s = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=np.float64))
    k = min(k, len(s))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((rng.random(len(s)), -s))
    out: Ints = order[:k]
    return out


@dataclass(frozen=True)
class SequenceStrategy:
    name: str
    summary: str
    needs: tuple[str, ...]  # "marginals", "mc_marginals", "embeddings"
    score: ScoreFn
    source: str
    diverse: bool = False  # the diversity step on sentence embeddings after the score
    random: bool = False

    def select(self, pool: SequencePool, k: int, rng: np.random.Generator,
               candidate_factor: int = 10) -> tuple[Selected, Scored]:
        """The ``k`` sentences to ask, best first, and everything's scores."""
        scored = self.score(pool)
        if self.random or (pool.n_labeled == 0 and pool.marginals is None):
            idx: Ints = rng.permutation(pool.size)[: min(k, pool.size)].astype(np.int64)
            return Selected(idx, scored.sentence[idx]), scored
        if self.diverse:
            pre = top(scored.sentence, k * max(candidate_factor, 1), rng)
            emb = _need(pool.embeddings, "sentence embeddings", self.name)[pre]
            rows, _ = cluster_sample(emb, min(k, len(pre)), rng, picks=("top",),
                                     priority=scored.sentence[pre])
            idx = pre[rows]
        else:
            idx = top(scored.sentence, k, rng)
        return Selected(idx, scored.sentence[idx]), scored


_TABLE = [
    SequenceStrategy("mnlp", "Lowest length-normalised log-probability of the best tag "
                     "sequence (MNLP).", ("marginals",), mnlp,
                     "004 (sequence labeling); Shen et al. 2017"),
    SequenceStrategy("least-confident-seq", "Lowest probability of the best tag sequence: "
                     "1 - P(y*).", ("marginals",), least_confident_sequence,
                     "000, 004; Culotta & McCallum 2005"),
    SequenceStrategy("total-token-entropy", "Largest sum of the tokens' tag entropies "
                     "(favours long sentences).", ("marginals",), total_token_entropy,
                     "000, 004; Settles & Craven 2008"),
    SequenceStrategy("mean-token-entropy", "Largest mean tag entropy per token.",
                     ("marginals",), mean_token_entropy, "000, 004; Settles & Craven 2008"),
    SequenceStrategy("seq-bald", "The model's weights disagree about the tags (MC dropout, "
                     "BALD per token, averaged).", ("marginals", "mc_marginals"), sequence_bald,
                     "001, 004; Houlsby et al. 2011, Siddhant & Lipton 2018"),
    SequenceStrategy("mnlp-diverse", "The most uncertain sentences by MNLP, spread over "
                     "clusters of sentence embeddings.", ("marginals", "embeddings"), mnlp,
                     "000 (uncertainty and clustering); Shen et al. 2017", diverse=True),
    SequenceStrategy("seq-random", "Sentences in random order: the honest baseline.", (),
                     _random_scores, "000, 003 (the baseline)", random=True),
]
SEQUENCE_STRATEGIES: dict[str, SequenceStrategy] = {s.name: s for s in _TABLE}
DEFAULT_SEQUENCE_STRATEGY = "mnlp"


def get_sequence_strategy(name: str) -> SequenceStrategy:
    try:
        return SEQUENCE_STRATEGIES[name]
    except KeyError:
        raise ValueError(f"strategy {name!r} is not a sequence strategy; a span project "
                         f"takes one of {', '.join(SEQUENCE_STRATEGIES)}") from None


def token_cost(lengths: Ints, seconds_per_token: float) -> Floats:
    """The predicted seconds of each sentence, counting tokens (the span cost model)."""
    out: Floats = np.asarray(lengths, dtype=np.float64) * seconds_per_token
    return out


def seconds_per_token(measured_tokens: Ints, measured_seconds: Floats,
                      default: float = 0.6) -> float:
    """Seconds per token from measured labeling times (the median ratio, robust to a pause);
    ``default`` until there is one."""
    tokens = np.asarray(measured_tokens, dtype=np.float64)
    seconds = np.asarray(measured_seconds, dtype=np.float64)
    ok = tokens > 0
    if not ok.any():
        return default
    return float(np.median(seconds[ok] / tokens[ok]))
