"""Keep BLAS and torch from oversubscribing a small machine.

On 2 cores, scikit-learn's BLAS threads and torch's intra-op threads fighting each other made a
plain training loop many times slower; one pool sized to the cores, set once, avoids it.
"""

from __future__ import annotations

import os

_done = False


def limit_threads(threads: int | None = None) -> int:
    global _done
    count = threads or max(1, min(4, os.cpu_count() or 1))
    if not _done:
        from threadpoolctl import threadpool_limits

        threadpool_limits(count)
        _done = True
    return count
