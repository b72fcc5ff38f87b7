"""The multi-label query strategies as registry entries (scores in ``alapp.al.multilabel``).

Each reads ``PoolState.probs`` as per-label probabilities (one column per label, 0.5 = the
label's threshold), so they suit multi-label projects only; on a single-label project's
softmax rows they would measure something else. Diversity (``uncertainty-cluster``-style
spreading is not repeated here) and cost-aware composition apply on top, as for every scored
strategy (``alapp.al.batch.compose_batch``).
"""

from __future__ import annotations

from collections.abc import Callable

from alapp.al import multilabel
from alapp.al.state import Floats, PoolState, require

# The default for multi-label projects, chosen by bench/bench_multilabel.py (docs/multilabel.md).
DEFAULT = "ml-margin-mean"


def _per_label(name: str, fn: Callable[[Floats], Floats]) -> Callable[[PoolState, object], Floats]:
    def score(state: PoolState, _: object) -> Floats:
        return fn(require(state.probs, "per-label probabilities", name))
    return score


def _cardinality(state: PoolState, _: object) -> Floats:
    probs = require(state.probs, "per-label probabilities", "ml-cardinality")
    return multilabel.cardinality_inconsistency(probs, state.label_cardinality)


_TABLE: list[tuple[str, str, Callable[[PoolState, object], Floats]]] = [
    ("ml-margin-mean", "Multi-label: labels closest to their thresholds, averaged over labels.",
     _per_label("ml-margin-mean", lambda p: multilabel.aggregated(p, "margin", "mean"))),
    ("ml-margin-max", "Multi-label: the one label closest to its threshold.",
     _per_label("ml-margin-max", lambda p: multilabel.aggregated(p, "margin", "max"))),
    ("ml-entropy-mean", "Multi-label: mean per-label entropy.",
     _per_label("ml-entropy-mean", lambda p: multilabel.aggregated(p, "entropy", "mean"))),
    ("ml-entropy-max", "Multi-label: the highest per-label entropy.",
     _per_label("ml-entropy-max", lambda p: multilabel.aggregated(p, "entropy", "max"))),
    ("ml-mmc", "Multi-label: most expected loss reduction at the likeliest label count (MMC).",
     _per_label("ml-mmc", multilabel.mmc)),
    ("ml-cardinality", "Multi-label: predicted label count far from the labeled items' mean.",
     _cardinality),
]
TABLE = _TABLE  # (name, summary, score), registered at the end of registry._SPECS
NAMES = tuple(name for name, _, _ in _TABLE)
