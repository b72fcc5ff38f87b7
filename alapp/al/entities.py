"""Entity-level quality of span predictions: exact match, as conlleval and seqeval count it.

An entity counts as found only when its start, its end and its type all match a true one;
a guess that is off by one token is one false positive and one false negative. Per type and
over all types (micro: the counts summed), precision = tp / (tp + fp), recall = tp / (tp + fn),
F1 their harmonic mean (0 when there is nothing to divide); macro-F1 is the mean over the types
present in the truth or the guesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alapp.core.spans import Span


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def entity_counts(types: Sequence[str], truth: Sequence[Sequence[Span]],
                  guesses: Sequence[Sequence[Span]]) -> dict[str, tuple[int, int, int]]:
    """Per type (``types`` first, then any other type seen, sorted): (tp, fp, fn)."""
    if len(truth) != len(guesses):
        raise ValueError(f"{len(truth)} true span sets but {len(guesses)} guessed ones")
    seen = {s.label for spans in (*truth, *guesses) for s in spans}
    order = [*types, *sorted(seen - set(types))]
    counts = {t: [0, 0, 0] for t in order}
    for true_spans, guessed in zip(truth, guesses, strict=True):
        t, g = set(true_spans), set(guessed)
        for span in t & g:
            counts[span.label][0] += 1
        for span in g - t:
            counts[span.label][1] += 1
        for span in t - g:
            counts[span.label][2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def entity_metrics(types: Sequence[str], truth: Sequence[Sequence[Span]],
                   guesses: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Exact-match precision, recall and F1, micro over all entities and per type.

    Keys: ``precision``, ``recall``, ``micro_f1``, ``macro_f1``, ``sentence_accuracy`` (the
    share of texts whose whole span set is right), ``entities`` (true entities), ``guessed``,
    ``test_items`` (texts), and ``per_label`` (labels, support, tp, fp, fn, precision, recall,
    f1: the table shape of ``al/multilabel.metrics``)."""
    counts = entity_counts(types, truth, guesses)
    names = list(counts)
    tp = [counts[n][0] for n in names]
    fp = [counts[n][1] for n in names]
    fn = [counts[n][2] for n in names]
    f1 = [_ratio(2 * a, 2 * a + b + c) for a, b, c in zip(tp, fp, fn, strict=True)]
    present = [x for x, a, b, c in zip(f1, tp, fp, fn, strict=True) if a + b + c]
    all_tp, all_fp, all_fn = sum(tp), sum(fp), sum(fn)
    exact = sum(set(t) == set(g) for t, g in zip(truth, guesses, strict=True))
    return {
        "precision": _ratio(all_tp, all_tp + all_fp),
        "recall": _ratio(all_tp, all_tp + all_fn),
        "micro_f1": _ratio(2 * all_tp, 2 * all_tp + all_fp + all_fn),
        "macro_f1": sum(present) / len(present) if present else 0.0,
        "sentence_accuracy": _ratio(exact, len(truth)),
        "entities": float(all_tp + all_fn),
        "guessed": float(all_tp + all_fp),
        "test_items": float(len(truth)),
        "per_label": {"labels": names, "support": [a + c for a, c in zip(tp, fn, strict=True)],
                      "tp": tp, "fp": fp, "fn": fn,
                      "precision": [_ratio(a, a + b) for a, b in zip(tp, fp, strict=True)],
                      "recall": [_ratio(a, a + c) for a, c in zip(tp, fn, strict=True)],
                      "f1": f1},
    }
