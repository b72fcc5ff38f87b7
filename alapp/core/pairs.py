"""Sentence pairs (seed 002: BERT on MRPC): an item may hold two texts, ``a`` and ``b``,
classified together ("are these two sentences paraphrases?", "does this description belong to
this title?").

The project stores the second text in its own column (``items.text_b``) and shows both texts
apart. What a model reads is one string per item, the *model text*: ``a`` alone, or ``a`` and
``b`` joined by ``PAIR_JOIN``, a NUL character. An imported text can never hold a NUL (the
importer refuses it), so the join is unambiguous and every model layer that takes a list of
strings carries pairs unchanged:

- TF-IDF reads both texts (NUL is no word character, so no token spans the join);
- a sentence embedder embeds ``a`` and ``b`` separately and the item's vector is
  ``[u, v, |u - v|, u * v]`` (``ml.embedders.PairEmbedder``, the features of Sentence-BERT's
  classification objective: a linear model can read "how alike" from them, which the
  embedding of one concatenated string hides);
- fine-tuning tokenizes a real pair, ``[CLS] a [SEP] b [SEP]`` with segment ids 0 and 1
  (``ml.finetune``), as BERT was trained for MRPC.
"""

from __future__ import annotations

from collections.abc import Sequence

PAIR_JOIN = "\x00"


def join_pair(a: str, b: str | None) -> str:
    """The model text of an item: ``a``, or the pair joined by ``PAIR_JOIN``."""
    return a if b is None else f"{a}{PAIR_JOIN}{b}"


def split_pair(text: str) -> tuple[str, str | None]:
    """``(a, b)`` of a model text; ``b`` is None for a single text."""
    a, sep, b = text.partition(PAIR_JOIN)
    return (a, b) if sep else (text, None)


def has_pairs(texts: Sequence[str]) -> bool:
    """Whether these model texts are pairs (a project's items are all pairs or all single)."""
    return any(PAIR_JOIN in t for t in texts)
