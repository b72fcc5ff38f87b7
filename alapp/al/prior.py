"""Label-name prototypes as a zero-shot prior (issue 17).

Where label names mean something ("Sports", "refund request"), the embedder that reads the
texts also reads the names (and the labels' descriptions): each text's cosine similarity to
each label's prototype is a guess before any label exists. The guess is checked on every
labeled item as soon as there are some: the prior is used only while its accuracy there is
above chance (the best constant guess, or 1 / labels) by a one-sided binomial test, and its
weight in the model's probabilities fades linearly to nothing by ``fade`` labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alapp.al.clustering import normalize_rows
from alapp.al.state import Floats

TEMPERATURE = 0.05  # softmax temperature over cosine similarities (they span about 0.1-0.3)
FADE = 32  # labels by which the prior's weight has fallen to 0 (tuned on AG News: 20, 32, 100)
SIGNIFICANCE = 0.05  # the binomial test's level: above chance, not by luck


def zero_shot(embeddings: Floats, prototypes: Floats,
              temperature: float = TEMPERATURE) -> Floats:
    """(n, labels) probabilities: a softmax over each row's cosine similarity to each
    prototype."""
    sim = normalize_rows(embeddings) @ normalize_rows(prototypes).T / temperature
    sim = sim - sim.max(axis=1, keepdims=True)
    e = np.exp(sim.astype(np.float64))
    out: Floats = e / e.sum(axis=1, keepdims=True)
    return out


def binomial_above(correct: int, n: int, chance: float) -> float:
    """One-sided p-value: the chance of ``correct`` or more hits in ``n`` guesses that are
    right with probability ``chance`` each."""
    if n == 0:
        return 1.0
    if correct <= 0 or chance >= 1:
        return 1.0
    if chance <= 0:
        return 0.0
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(chance) + (n - k) * math.log1p(-chance) for k in range(correct, n + 1)]
    top = max(logs)
    return float(min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs)))


@dataclass(frozen=True)
class PriorCheck:
    used: bool
    weight: float  # of the prior in the blended probabilities (0: not used)
    n: int  # labeled items it was checked on
    accuracy: float | None  # its zero-shot accuracy on them
    chance: float | None  # what a constant guess gets on them (at least 1 / labels)
    p_value: float | None

    @property
    def text(self) -> str:
        """The decision in words, for the model tab."""
        if self.n == 0:
            return ("label-name prior: no labels yet, so the predicted labels are zero-shot "
                    "guesses from the label names (not yet checked)")
        assert self.accuracy is not None and self.chance is not None
        measured = (f"zero-shot {self.accuracy:.0%} right on {self.n} labeled items, chance "
                    f"{self.chance:.0%}, p = {self.p_value:.2g}")
        if not self.used:
            return f"label-name prior: off, names not meaningful here ({measured})"
        if self.weight <= 0:
            return f"label-name prior: faded out ({measured})"
        return f"label-name prior: weight {self.weight:.2f} in the probabilities ({measured})"


def check(zero_shot_probs: Floats, truth: Sequence[int], n_classes: int,
          fade: int = FADE) -> PriorCheck:
    """Is the prior worth using, judged on the labeled items: ``zero_shot_probs`` are their
    rows, ``truth`` their label numbers (columns)."""
    n = len(truth)
    if n == 0:
        return PriorCheck(True, 1.0, 0, None, None, None)
    truth_ = np.asarray(truth, dtype=int)
    correct = int((zero_shot_probs.argmax(axis=1) == truth_).sum())
    majority = np.bincount(truth_, minlength=n_classes).max() / n
    chance = float(max(majority, 1.0 / max(n_classes, 1)))
    p = binomial_above(correct, n, chance)
    used = correct / n > chance and p < SIGNIFICANCE
    weight = max(0.0, 1.0 - n / fade) if used else 0.0
    return PriorCheck(used, weight, n, correct / n, chance, p)


def blend(probs: Floats, prior: Floats, weight: float) -> Floats:
    """(1 - weight) x the model's probabilities + weight x the prior's (rows sum to 1)."""
    if weight <= 0:
        return probs
    out: Floats = (1.0 - weight) * probs + weight * prior
    return out
