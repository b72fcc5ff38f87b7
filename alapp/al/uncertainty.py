"""Uncertainty scores from class probabilities. Higher means "ask this one".

Each score exists raw (the textbook formula) and normalised to [0, 1] so that scores are
comparable across numbers of classes and usable as ROI utilities and stopping signals.
"""

from __future__ import annotations

import math

import numpy as np

from alapp.al.state import Floats

_EPS = 1e-12


def apply_temperature(probs: Floats, temperature: float) -> Floats:
    """Re-temper probabilities as softmax(logits / T) would: p^(1/T), renormalised.

    T > 1 flattens the distribution (more items look uncertain), T < 1 sharpens it.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    if temperature == 1.0:
        return probs
    logp = np.log(np.clip(probs, _EPS, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def _top2(probs: Floats) -> tuple[Floats, Floats]:
    if probs.shape[-1] < 2:
        ones = np.ones(probs.shape[:-1], dtype=probs.dtype)
        return ones, np.zeros_like(ones)
    part = np.partition(probs, -2, axis=-1)
    return part[..., -1], part[..., -2]


def least_confidence(probs: Floats, normalize: bool = False) -> Floats:
    """1 - p(1). Normalised: (1 - p(1)) * k / (k - 1)."""
    p1, _ = _top2(probs)
    score = 1.0 - p1
    k = probs.shape[-1]
    return score * k / (k - 1) if normalize and k > 1 else score


def margin(probs: Floats) -> Floats:
    """1 - (p(1) - p(2)); already in [0, 1]."""
    p1, p2 = _top2(probs)
    return 1.0 - (p1 - p2)


def ratio(probs: Floats) -> Floats:
    """p(2) / p(1), in [0, 1]."""
    p1, p2 = _top2(probs)
    return p2 / np.maximum(p1, _EPS)


def entropy(probs: Floats, normalize: bool = False, base: float = math.e) -> Floats:
    """-sum p log p, in nats (``base`` e; 2 gives bits, as seed 004's worked example).
    Normalised: divided by log k in the same base, so in [0, 1] whatever the base."""
    p = np.clip(probs, _EPS, 1.0)
    h = -(probs * np.log(p)).sum(axis=-1) / math.log(base)
    k = probs.shape[-1]
    out: Floats = h / (math.log(k) / math.log(base)) if normalize and k > 1 else h
    return out
