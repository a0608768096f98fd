"""Distributions over the emotion labels: softmax of model logits and smoothing within a conversation."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-D logit vector, float64."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    z = np.exp(z - z.max())
    return z / z.sum()


def smooth(current: np.ndarray, previous: np.ndarray | None, weight: float) -> np.ndarray:
    """Exponential smoothing: (1 - weight) * current + weight * previous, renormalised.

    weight is the previous distribution's share (0 = off); without a previous one the current is kept,
    so the first answer of a conversation is never pulled towards anything.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    if weight == 0.0 or previous is None:
        return current
    mixed = (1.0 - weight) * current + weight * previous
    return mixed / mixed.sum()
