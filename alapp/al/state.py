"""What a strategy sees of the pool, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from alapp.al.needs import Need

Floats = NDArray[np.floating]
Ints = NDArray[np.integer]


@dataclass
class PoolState:
    """Prediction arrays for the candidate items (unlabeled pool items that may be asked).

    Row ``i`` of every per-item array is candidate ``i``; ``ids`` maps it back to the store.
    Only what the chosen strategy needs must be filled in (see each strategy's ``needs``);
    the field names are exactly the ``Need`` values, set and read with ``put`` and ``get``.
    """

    ids: Ints
    probs: Floats | None = None  # (n, k) predicted class probabilities
    mc_probs: Floats | None = None  # (s, n, k) Monte-Carlo dropout samples
    committee_probs: Floats | None = None  # (m, n, k) one row block per committee member
    embeddings: Floats | None = None  # (n, d) item features (cosine-normalised inside)
    hidden: Floats | None = None  # (n, h) last-layer input, for BADGE gradient embeddings
    activations: Floats | None = None  # (n, u) pre-activation values of a hidden layer
    validation_activations: Floats | None = None  # (v, u) same layer on a validation set
    labeled_embeddings: Floats | None = None  # (l, d) the labeled (training) items
    target_embeddings: Floats | None = None  # (t, d) the distribution to move toward
    wrong_prob: Floats | None = None  # (n,) "the model will be wrong here" head
    predicted_loss: Floats | None = None  # (n,) learning-loss head
    costs: Floats | None = None  # (n,) predicted labeling cost (seconds or money)
    n_labeled: int = 0
    round_index: int = 0
    # (n,) metadata stratum code of each candidate: the random share is drawn over them
    strata: Ints | None = None
    predicted_loss_layers: Floats | None = None  # (n,) loss module on several layers
    true_loss: Floats | None = None  # (n,) the model's loss on the true label (simulation)
    label_cardinality: float | None = None  # multi-label: mean labels per labeled item

    @property
    def size(self) -> int:
        return len(self.ids)

    def put(self, need: Need | str, array: Floats | None) -> None:
        """Set the array for ``need``; anything that is not a need is refused."""
        setattr(self, _need(need).value, array)

    def get(self, need: Need | str) -> Floats | None:
        value: Floats | None = getattr(self, _need(need).value)
        return value

    def positions(self, wanted: object) -> dict[int, int]:
        """Candidate row of each of the ``wanted`` ids that is a candidate: one pass in
        numpy, not a dict of every candidate (a million of them take a second to build)."""
        want = np.fromiter(wanted, dtype=np.int64)  # type: ignore[call-overload]
        return {int(self.ids[r]): int(r) for r in np.flatnonzero(np.isin(self.ids, want))}


def _need(name: Need | str) -> Need:
    try:
        return Need(name)
    except ValueError:
        raise ValueError(f"{name!r} is not a need; needs are {', '.join(Need)}") from None


@dataclass
class Selected:
    """A strategy's choice: candidate row indices, best first, with the score behind each."""

    indices: Ints
    scores: Floats
    random_share: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if len(self.random_share) != len(self.indices):
            self.random_share = np.zeros(len(self.indices), dtype=bool)


def require(array: Floats | None, what: str, strategy: str) -> Floats:
    if array is None:
        raise ValueError(f"strategy {strategy!r} needs {what}, which the model did not provide")
    return array
