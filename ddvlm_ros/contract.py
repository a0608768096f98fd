"""The documented ranges of every EmotionState field (ddvlm_msgs/msg/EmotionState.msg), checked in one place.

Why one validator: the node tests, the replay evaluator and users' own checks must agree on what a
valid answer is, so a published message outside its contract fails everywhere the same way. Works
on a ddvlm_msgs/EmotionState message or any object (or dict) with the same field names; no ROS import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ddvlm_ros.labels import LABELS

SUM_TOLERANCE = 1e-3  # float32 probabilities summing to 1
FIELDS = (
    "emotion",
    "confidence",
    "labels",
    "probabilities",
    "text_probabilities",
    "visual_probabilities",
    "valence",
    "arousal",
    "frames_used",
    "text_used",
    "visual_used",
    "inference_ms",
    "model",
    "backend",
    "utterance_id",
)


class ContractError(ValueError):
    """A message breaks the documented EmotionState contract; ``problems`` lists every breach."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("EmotionState breaks its contract: " + "; ".join(problems))
        self.problems = problems


def _get(msg: Any, name: str) -> Any:
    if isinstance(msg, Mapping):
        if name not in msg:
            raise ContractError([f"{name} is missing"])
        return msg[name]
    if not hasattr(msg, name):
        raise ContractError([f"{name} is missing"])
    return getattr(msg, name)


def _distribution(name: str, values: Sequence[float], problems: list[str], allow_empty: bool) -> list[float]:
    values = [float(v) for v in values]
    if not values:
        if not allow_empty:
            problems.append(f"{name} is empty")
        return values
    if len(values) != len(LABELS):
        problems.append(f"{name} has {len(values)} values, expected {len(LABELS)}")
        return values
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        problems.append(f"{name} has values outside [0, 1]: {values}")
    elif abs(sum(values) - 1.0) > SUM_TOLERANCE:
        problems.append(f"{name} sums to {sum(values):.6f}, not 1")
    return values


def _in_range(name: str, value: float, lo: float, hi: float, problems: list[str]) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        problems.append(f"{name}={value} is outside [{lo}, {hi}]")


def problems(msg: Any) -> list[str]:
    """Every way ``msg`` breaks the EmotionState contract (empty list: it holds)."""
    found: list[str] = []
    got = {name: _get(msg, name) for name in FIELDS}
    if list(got["labels"]) != list(LABELS):
        found.append(f"labels are {list(got['labels'])}, expected {list(LABELS)}")
    probs = _distribution("probabilities", got["probabilities"], found, allow_empty=False)
    text_p = _distribution("text_probabilities", got["text_probabilities"], found, allow_empty=True)
    visual_p = _distribution("visual_probabilities", got["visual_probabilities"], found, allow_empty=True)
    if got["emotion"] not in LABELS:
        found.append(f"emotion {got['emotion']!r} is not one of {list(LABELS)}")
    confidence = float(got["confidence"])
    _in_range("confidence", confidence, 0.0, 1.0, found)
    if len(probs) == len(LABELS) and got["emotion"] in LABELS:
        top = max(probs)
        if probs[LABELS.index(got["emotion"])] < top - 1e-6:
            found.append(f"emotion {got['emotion']!r} is not the most probable label")
        if abs(confidence - top) > 1e-5:
            found.append(f"confidence {confidence} is not the top probability {top}")
    _in_range("valence", float(got["valence"]), -1.0, 1.0, found)
    _in_range("arousal", float(got["arousal"]), -1.0, 1.0, found)
    _in_range("inference_ms", float(got["inference_ms"]), 0.0, math.inf, found)
    text_used, visual_used = bool(got["text_used"]), bool(got["visual_used"])
    if not (text_used or visual_used):
        found.append("neither text_used nor visual_used")
    if text_used != bool(text_p):
        found.append(f"text_used={text_used} but text_probabilities has {len(text_p)} values")
    if visual_used != bool(visual_p):
        found.append(f"visual_used={visual_used} but visual_probabilities has {len(visual_p)} values")
    frames = int(got["frames_used"])
    if frames < 0 or visual_used != (frames > 0):
        found.append(f"frames_used={frames} does not match visual_used={visual_used}")
    if not text_used and got["utterance_id"]:
        found.append(f"a visual-only update carries utterance_id {got['utterance_id']!r}")
    for name in ("model", "backend"):
        if not str(got[name]).strip():
            found.append(f"{name} is empty")
    return found


def validate(msg: Any) -> Any:
    """Return ``msg`` unchanged if it holds the contract; raise ContractError listing every breach."""
    found = problems(msg)
    if found:
        raise ContractError(found)
    return msg
