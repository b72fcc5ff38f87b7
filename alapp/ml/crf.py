"""A linear-chain CRF over tokens (crfsuite): the span projects' default and cold-start model.

Language-independent features only (issue 18): the word in lower case, its shape ("Xxxx",
"dd-dd"), case and digit flags, prefixes and suffixes of 1 to 4 characters, and the same for
the neighbours at -2..+2; no gazetteers, no POS tags, so Russian, Chinese and tweets work
alike. It trains in seconds and gives what sequence active learning reads: each token's
marginal probability of every tag and the probability of the best tag sequence.

The model file crfsuite writes is kept as bytes inside safetensors (``weights``): bytes this
code created. Nothing here opens a model file a user hands over; a project's model is rebuilt
from its labels (the store is the one source of truth), never loaded back from it.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Features = list[dict[str, float | str]]


def word_shape(word: str, short: bool = True) -> str:
    """Upper -> X, lower -> x, digit -> d, other letters (CJK) -> c, the rest kept; ``short``
    collapses repeats: "McDonald's" -> "XxXx'x", "1996-08-22" -> "d-d-d"."""
    out: list[str] = []
    for ch in word:
        if ch.isdigit():
            c = "d"
        elif ch.isalpha():
            c = "X" if ch.isupper() else "x" if ch.islower() else "c"
        else:
            c = ch
        if not short or not out or out[-1] != c:
            out.append(c)
    return "".join(out)


def _is_punct(word: str) -> bool:
    return bool(word) and all(unicodedata.category(ch).startswith("P") for ch in word)


def _own(word: str) -> dict[str, float | str]:
    low = word.lower()
    f: dict[str, float | str] = {
        "bias": 1.0, "w": low, "shape": word_shape(word), "len": str(min(len(word), 8))}
    for k in range(1, 5):
        if len(word) >= k:
            f[f"p{k}"] = low[:k]
            f[f"s{k}"] = low[-k:]
    if word[:1].isupper():
        f["title"] = 1.0
    if word.isupper():
        f["upper"] = 1.0
    if word.islower():
        f["lower"] = 1.0
    if any(ch.isdigit() for ch in word):
        f["has_digit"] = 1.0
        if word.isdigit():
            f["digits"] = 1.0
    if "-" in word:
        f["hyphen"] = 1.0
    if _is_punct(word):
        f["punct"] = 1.0
    return f


def _neighbour(word: str, near: bool) -> dict[str, float | str]:
    low = word.lower()
    f: dict[str, float | str] = {"w": low, "shape": word_shape(word)}
    if near:
        f["s3"] = low[-3:]
        if word[:1].isupper():
            f["title"] = 1.0
        if word.isupper():
            f["upper"] = 1.0
    return f


def sentence_features(tokens: Sequence[str]) -> Features:
    """One feature dict per token: its own features and its neighbours' at -2..+2."""
    own = [_own(t) for t in tokens]
    near = [_neighbour(t, True) for t in tokens]
    far = [_neighbour(t, False) for t in tokens]
    n = len(tokens)
    out: Features = []
    for i in range(n):
        f = dict(own[i])
        for d, table in ((-1, near), (1, near), (-2, far), (2, far)):
            j = i + d
            if 0 <= j < n:
                f.update({f"{d:+d}:{k}": v for k, v in table[j].items()})
            elif abs(d) == 1:
                f["BOS" if d < 0 else "EOS"] = 1.0
        out.append(f)
    return out


@dataclass
class Tagged:
    """A CRF's output on ``n`` sentences, flat over their ``T`` tokens."""

    lengths: NDArray[np.int64]  # (n,)
    marginals: NDArray[np.float64]  # (T, K): columns follow the model's ``tags``
    best_logprob: NDArray[np.float64]  # (n,) log P(best tag sequence)
    best: list[list[str]] = field(default_factory=list)  # the best tag sequence per sentence
    mc_marginals: NDArray[np.float64] | None = None  # (S, T, K) MC-dropout passes (token head)


class CrfTagger:
    """crfsuite's L-BFGS CRF with elastic-net regularisation (``c1`` L1, ``c2`` L2)."""

    name = "crf"

    def __init__(self, tags: Sequence[str], c1: float = 0.05, c2: float = 0.05,
                 max_iterations: int = 100, min_freq: int = 0) -> None:
        if "O" not in tags:
            raise ValueError("the tag set must contain the outside tag 'O'")
        self.tags = list(tags)
        self.c1, self.c2, self.max_iterations, self.min_freq = c1, c2, max_iterations, min_freq
        self._model: bytes | None = None
        self._tagger: object | None = None

    @property
    def trained(self) -> bool:
        return self._model is not None

    def fit(self, features: Sequence[Features], tags: Sequence[Sequence[str]]) -> None:
        """Train on sentences given as ``sentence_features`` and their tag sequences."""
        import pycrfsuite

        if len(features) != len(tags):
            raise ValueError(f"{len(features)} sentences but {len(tags)} tag sequences")
        trainer = pycrfsuite.Trainer(verbose=False)
        for x, y in zip(features, tags, strict=True):
            if len(x) != len(y):
                raise ValueError(f"a sentence of {len(x)} tokens has {len(y)} tags")
            unknown = set(y) - set(self.tags)
            if unknown:
                raise ValueError(f"tag {sorted(unknown)[0]!r} is not one of {self.tags}")
            trainer.append(pycrfsuite.ItemSequence(x), list(y))
        trainer.set_params({"c1": self.c1, "c2": self.c2, "max_iterations": self.max_iterations,
                            "feature.minfreq": self.min_freq,
                            "feature.possible_transitions": True})
        fd, path = tempfile.mkstemp(suffix=".crfsuite", prefix="alapp-")
        os.close(fd)
        try:
            trainer.train(path)
            with open(path, "rb") as fh:
                self._model = fh.read()
        finally:
            os.unlink(path)
        tagger = pycrfsuite.Tagger()
        tagger.open_inmemory(self._model)  # the bytes trained just above, nobody else's
        self._tagger = tagger

    def tag(self, features: Sequence[Features]) -> Tagged:
        """Marginals of every tag at every token, and the best path with its probability."""
        import pycrfsuite

        if self._tagger is None:
            raise ValueError("the CRF is not trained yet")
        tagger = self._tagger
        lengths = np.array([len(x) for x in features], dtype=np.int64)
        marg = np.zeros((int(lengths.sum()), len(self.tags)))
        logp = np.zeros(len(features))
        known = set(tagger.labels())  # type: ignore[attr-defined]
        cols = [(k, t) for k, t in enumerate(self.tags) if t in known]
        best: list[list[str]] = []
        row = 0
        for i, x in enumerate(features):
            if not len(x):
                best.append([])
                continue
            tagger.set(pycrfsuite.ItemSequence(x))  # type: ignore[attr-defined]
            path = tagger.tag()  # type: ignore[attr-defined]
            best.append(list(path))
            logp[i] = float(np.log(max(tagger.probability(path), 1e-300)))  # type: ignore
            for t in range(len(x)):
                for k, name in cols:
                    marg[row + t, k] = tagger.marginal(name, t)  # type: ignore[attr-defined]
            row += len(x)
        total = marg.sum(axis=1, keepdims=True)
        marg = np.where(total > 0, marg / np.maximum(total, 1e-300), 1.0 / len(self.tags))
        return Tagged(lengths, marg, logp, best)

    def weights(self) -> bytes | None:
        """The crfsuite model file this tagger trained, and its tag list, as safetensors
        (uint8 arrays: no pickle); None before training."""
        if self._model is None:
            return None
        from alapp.ml.base import save_arrays

        return save_arrays({
            "crfsuite_model": np.frombuffer(self._model, dtype=np.uint8),
            "tags_json": np.frombuffer(json.dumps(self.tags).encode(), dtype=np.uint8)})
