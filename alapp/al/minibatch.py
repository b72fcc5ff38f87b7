"""Training helpers that belong with the method, not with any one model."""

from __future__ import annotations


def adaptive_batch_size(n: int, b: int) -> int:
    """b + floor((n mod b) / floor(n / b)): spread the remainder over the mini-batches so the
    last one is never tiny (n=140, b=32 gives 35: four batches of 35 instead of 32, 32, 32, 32 and 12)."""
    if b <= 0:
        raise ValueError("batch size must be positive")
    if n <= b:
        return max(n, 1)
    return b + (n % b) // (n // b)
