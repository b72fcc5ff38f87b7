"""What a strategy may need to see of the pool: one name per ``PoolState`` array.

Strategies declare their needs (``StrategySpec.needs`` / ``optional``), classifiers declare what
they provide (``provides``), and the round fills the pool state by these names only.
"""

from __future__ import annotations

from enum import StrEnum


class Need(StrEnum):
    PROBS = "probs"  # (n, k) predicted class probabilities
    MC_PROBS = "mc_probs"  # (s, n, k) Monte-Carlo dropout samples
    COMMITTEE_PROBS = "committee_probs"  # (m, n, k) one block per committee member
    EMBEDDINGS = "embeddings"  # (n, d) item features
    HIDDEN = "hidden"  # (n, h) the last layer's input (BADGE)
    ACTIVATIONS = "activations"  # (n, u) a hidden layer before its non-linearity
    VALIDATION_ACTIVATIONS = "validation_activations"  # (v, u) the same on held-out labels
    LABELED_EMBEDDINGS = "labeled_embeddings"  # (l, d) the labeled items' features
    TARGET_EMBEDDINGS = "target_embeddings"  # (t, d) the distribution to move toward
    WRONG_PROB = "wrong_prob"  # (n,) "the model will be wrong here" head
    PREDICTED_LOSS = "predicted_loss"  # (n,) learning-loss head
    COSTS = "costs"  # (n,) predicted labeling cost
    PREDICTED_LOSS_LAYERS = "predicted_loss_layers"  # (n,) a loss module on several layers
    TRUE_LOSS = "true_loss"  # (n,) the model's loss on the true label (simulation only)

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Need, str] = {
    Need.PROBS: "class probabilities",
    Need.MC_PROBS: "Monte-Carlo dropout samples",
    Need.COMMITTEE_PROBS: "a committee's probabilities",
    Need.EMBEDDINGS: "embeddings",
    Need.HIDDEN: "last-layer inputs",
    Need.ACTIVATIONS: "hidden activations",
    Need.VALIDATION_ACTIVATIONS: "validation activations",
    Need.LABELED_EMBEDDINGS: "the labeled items' embeddings",
    Need.TARGET_EMBEDDINGS: "a target set's embeddings",
    Need.WRONG_PROB: "a will-be-wrong head",
    Need.PREDICTED_LOSS: "a loss head",
    Need.COSTS: "predicted labeling costs",
    Need.PREDICTED_LOSS_LAYERS: "a loss module reading several layers",
    Need.TRUE_LOSS: "the model's loss on each item's true label (known to a simulation only)",
}

# What a classifier computes; the rest comes from the features and the store.
FROM_MODEL: frozenset[Need] = frozenset({
    Need.PROBS, Need.MC_PROBS, Need.COMMITTEE_PROBS, Need.HIDDEN, Need.ACTIVATIONS,
    Need.WRONG_PROB, Need.PREDICTED_LOSS, Need.PREDICTED_LOSS_LAYERS})
# Needs computed from the labels by a head fit apart (a held-out share, or cross-fitted).
FROM_VALIDATION: frozenset[Need] = frozenset({Need.WRONG_PROB})
# Needs the round derives from a model's output: the validation activations are the model's
# activations on an unlabeled random sample of the pool (000: "a validation set, unlabeled"),
# data the model was never trained on; so a model that gives activations gives them too.
DERIVED: dict[Need, Need] = {Need.VALIDATION_ACTIVATIONS: Need.ACTIVATIONS}
# Needs only a simulation can fill: they read the true labels of unlabeled items.
FROM_GOLD: frozenset[Need] = frozenset({Need.TRUE_LOSS})
# Needs that are whole reference sets, not one row per candidate.
SHARED: frozenset[Need] = frozenset({Need.VALIDATION_ACTIVATIONS, Need.LABELED_EMBEDDINGS,
                                     Need.TARGET_EMBEDDINGS})
# Needs whose candidate axis is not the first (samples or members come first).
PER_ITEM_AXIS: dict[Need, int] = {Need.MC_PROBS: 1, Need.COMMITTEE_PROBS: 1}

