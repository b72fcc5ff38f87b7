"""Committee and Bayesian scores: vote entropy, consensus KL, BALD and BatchBALD."""

from __future__ import annotations

import numpy as np

from alapp.al.state import Floats, Ints
from alapp.al.uncertainty import entropy

_EPS = 1e-12


def vote_entropy(committee_probs: Floats) -> Floats:
    """Entropy of the members' hard votes. ``committee_probs``: (m, n, k)."""
    m, n, k = committee_probs.shape
    votes = committee_probs.argmax(axis=-1)  # (m, n)
    counts = np.zeros((n, k))
    np.add.at(counts, (np.broadcast_to(np.arange(n), (m, n)), votes), 1.0)
    return entropy(counts / m)


def consensus_kl(committee_probs: Floats) -> Floats:
    """Mean KL divergence of each member from the committee's consensus (mean) distribution."""
    p = np.clip(committee_probs, _EPS, 1.0)
    consensus = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p) - np.log(consensus))).sum(axis=-1)
    out: Floats = kl.mean(axis=0)
    return out


def bald(mc_probs: Floats) -> Floats:
    """Mutual information between the label and the weights: H(mean p) - mean H(p).

    ``mc_probs``: (s, n, k) from s stochastic forward passes (MC dropout).
    """
    mean = mc_probs.mean(axis=0)
    out: Floats = entropy(mean) - entropy(mc_probs).mean(axis=0)
    return np.maximum(out, 0.0)


def batch_bald(mc_probs: Floats, batch_size: int, rng: np.random.Generator,
               candidate_cap: int = 500, max_configs: int = 1024) -> tuple[Ints, Floats]:
    """Greedy BatchBALD (Kirsch et al., 2019): pick items whose labels are jointly informative.

    Only the ``candidate_cap`` items with the highest BALD are considered, which keeps each step
    one small matrix product. The joint entropy of the chosen labels is exact while the number of
    label configurations stays under ``max_configs``, then estimated from configurations sampled
    from the joint predictive. Returns candidate row indices and the information each pick adds.
    """
    s, n, k = mc_probs.shape
    batch_size = min(batch_size, n)
    cand = np.argsort(-bald(mc_probs), kind="stable")[: max(candidate_cap, batch_size)]
    probs = mc_probs[:, cand, :]  # (s, c, k)
    flat = probs.reshape(s, -1)  # (s, c*k)
    cond = entropy(probs).mean(axis=0)  # E_w H(y_c | w) per candidate
    joint: Floats = np.ones((s, 1))  # P(configuration of the chosen labels | w)
    weights: Floats = np.ones(1)  # estimator weight per configuration (1 when enumerated exactly)
    available = np.ones(len(cand), dtype=bool)
    chosen: list[int] = []
    gains: list[float] = []
    cond_sum = previous = 0.0
    for _ in range(batch_size):
        p = ((joint.T @ flat) / s).reshape(joint.shape[1], len(cand), k)  # p(config, y_c)
        terms = -(p * np.log(np.clip(p, _EPS, None))).sum(axis=2)  # (M, c)
        objective = (weights[:, None] * terms).sum(axis=0) - (cond_sum + cond)
        objective[~available] = -np.inf
        best = int(np.argmax(objective))
        chosen.append(best)
        gains.append(float(objective[best]) - previous)
        previous = float(objective[best])
        available[best] = False
        cond_sum += float(cond[best])
        joint, weights = _extend(joint, chosen, probs, rng, max_configs)
    return cand[np.array(chosen, dtype=int)], np.array(gains)


def _extend(joint: Floats, chosen: list[int], probs: Floats, rng: np.random.Generator,
            max_configs: int) -> tuple[Floats, Floats]:
    """Add the newest chosen item to the configuration table."""
    s, m = joint.shape
    p_new = probs[:, chosen[-1], :]
    k = p_new.shape[1]
    enumerated = m == k ** (len(chosen) - 1)  # the table holds every earlier configuration
    if enumerated and m * k <= max_configs:
        return (joint[:, :, None] * p_new[:, None, :]).reshape(s, m * k), np.ones(m * k)
    # Too many configurations: sample them (a weight sample, then each chosen item's label
    # under it) and weight each by 1 / (M p(config)), an unbiased joint-entropy estimate.
    draw = rng.integers(0, s, size=max_configs)
    sampled = np.ones((s, max_configs))
    for item in chosen:
        p_item = probs[:, item, :]  # (s, k)
        cum = p_item[draw].cumsum(axis=1)
        labels = (rng.random((max_configs, 1)) > cum).sum(axis=1).clip(0, k - 1)
        sampled *= p_item[:, labels]
    p_config = sampled.mean(axis=0)
    return sampled, 1.0 / (max_configs * np.clip(p_config, _EPS, None))

