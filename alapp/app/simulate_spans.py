"""`alapp simulate --spans`: replay CoNLL files through the span round (issue 18).

The labeled file is the pool, ``--test-file`` the held-out test set (a span corpus comes with
its official split; without one, a seeded random fifth of the file is held out). The files
are read by the span importer's reader (``store.span_readers``: file:line errors, BIO, BIOES
or IOB1), nothing is written anywhere but the JSON and plot asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alapp.core.errors import AlappError, InputError
from alapp.core.spans import encode_spans
from alapp.loop.span_simulate import SpanCorpus, SpanCurve, SpanSimConfig, simulate_spans
from alapp.store.encoding import detect_encoding, locate_decode_error
from alapp.store.span_readers import read_spans

__all__ = ["DEFAULT_STRATEGIES", "SpanSimConfig", "grid_of", "read_corpus",
           "simulate_span_files"]
DEFAULT_STRATEGIES = "mnlp,total-token-entropy,least-confident-seq"


def read_corpus(path: Path, scheme: str = "bio") -> SpanCorpus:
    """A CoNLL file's labeled sentences (tokens as given, text = tokens joined by spaces)."""
    if not path.is_file():
        raise InputError(path, None, "no such file")
    texts, tokens, values, types = [], [], [], []
    encoding = detect_encoding(path)
    try:
        with open(path, encoding=encoding, newline="") as stream:
            for record in read_spans(path, stream, "conll", scheme, 1_000_000):
                if record.tokens is None or record.spans is None:
                    raise InputError(path, record.line, "a sentence without tags")
                texts.append(record.text)
                tokens.append(record.tokens)
                values.append(encode_spans(record.spans))
                types += [s.label for s in record.spans if s.label not in types]
    except UnicodeDecodeError:
        raise locate_decode_error(path, encoding, detected=True) from None
    if not texts:
        raise AlappError(f"{path}: no sentences (blank-line separated 'token TAG' lines)")
    return SpanCorpus(texts, tokens, values, sorted(types))


def _rows(corpus: SpanCorpus, rows: list[int]) -> SpanCorpus:
    return SpanCorpus([corpus.texts[k] for k in rows], [corpus.tokens[k] for k in rows],
                      [corpus.values[k] for k in rows], corpus.types)


def grid_of(batch: int, budget: int, n_pool: int) -> list[int]:
    """Sentence counts: a random first batch, then one batch more per round up to the budget
    (or the pool)."""
    if batch < 1 or budget < 1:
        raise AlappError("--batch and --budget must be at least 1")
    end = min(budget, n_pool)
    return list(range(min(batch, end), end + 1, batch)) or [end]


def simulate_span_files(pool_path: Path, test_path: Path | None, cfg: SpanSimConfig,
                        scheme: str = "bio", split_seed: int = 0,
                        on_curve: Callable[[SpanCurve], None] | None = None) -> dict[str, Any]:
    pool = read_corpus(pool_path, scheme)
    if test_path is not None:
        test = read_corpus(test_path, scheme)
    else:  # a seeded random fifth held out
        order = np.random.default_rng(split_seed).permutation(len(pool.texts))
        cut = max(1, len(order) // 5)
        held, kept = sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
        test = _rows(pool, held)
        pool = _rows(pool, kept)
    types = sorted(set(pool.types) | set(test.types))
    pool.types, test.types = types, types
    return simulate_spans(pool, test, cfg, on_curve)
