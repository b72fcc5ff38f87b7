"""Mini-batch sizing that belongs with the method, not with any one model."""

from __future__ import annotations


def adaptive_batch_size(n: int, b: int) -> int:
    """b + floor((n mod b) / floor(n / b)), from the seeds: grow the batch so that what is left
    over is smaller than the number of batches (n=140, b=32 gives 35: four batches of 35
    instead of four of 32 and a tiny one of 12)."""
    if b <= 0:
        raise ValueError("batch size must be positive")
    if n <= b:
        return max(n, 1)
    return b + (n % b) // (n // b)


def minibatch_slices(n: int, b: int) -> list[slice]:
    """Slices over n shuffled examples, of the adaptive size; the small leftover is spread one
    example each over the first batches, so sizes differ by at most one."""
    if n <= 0:
        return []
    size = adaptive_batch_size(n, b)
    count = max(1, n // size)
    extra = n - count * size
    slices, start = [], 0
    for i in range(count):
        stop = start + size + (1 if i < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices
