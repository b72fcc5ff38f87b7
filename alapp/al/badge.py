"""BADGE (Ash et al., 2020): k-means++ seeding on last-layer gradient embeddings.

The gradient embedding of item i is g_i = (p_i - e_yhat_i) outer h_i, a (k x d) matrix. It is
never built: <g_i, g_j> = <a_i, a_j> * <h_i, h_j> with a = p - onehot(argmax p), so every
distance costs O(k + d) and the whole selection O(n * batch * (k + d)) memory-light work.
"""

from __future__ import annotations

import numpy as np

from alapp.al.state import Floats, Ints


def badge_select(probs: Floats, hidden: Floats, batch_size: int,
                 rng: np.random.Generator) -> tuple[Ints, Floats]:
    """Returns rows and each pick's squared gradient distance to the nearest earlier pick."""
    n = len(probs)
    batch_size = min(batch_size, n)
    a = probs.astype(np.float32).copy()
    a[np.arange(n), probs.argmax(axis=1)] -= 1.0
    h = np.asarray(hidden, dtype=np.float32)
    sq_norm = (a * a).sum(axis=1) * (h * h).sum(axis=1)  # ||g_i||^2
    first = int(np.argmax(sq_norm))  # BADGE starts from the largest gradient
    chosen = [first]
    scores = [float(sq_norm[first])]
    dist = _sq_dist_to(first, a, h, sq_norm)
    for _ in range(1, batch_size):
        dist[chosen] = 0.0
        total = float(dist.sum())
        if total <= 0:
            rest = np.setdiff1d(np.arange(n), chosen)
            extra = rng.choice(rest, size=batch_size - len(chosen), replace=False)
            chosen.extend(int(i) for i in extra)
            scores.extend([0.0] * len(extra))
            break
        nxt = int(rng.choice(n, p=dist / total))
        chosen.append(nxt)
        scores.append(float(dist[nxt]))
        dist = np.minimum(dist, _sq_dist_to(nxt, a, h, sq_norm))
    return np.array(chosen, dtype=int), np.array(scores)


def _sq_dist_to(j: int, a: Floats, h: Floats, sq_norm: Floats) -> Floats:
    inner = (a @ a[j]) * (h @ h[j])
    out: Floats = np.maximum(sq_norm + sq_norm[j] - 2.0 * inner, 0.0)
    return out
