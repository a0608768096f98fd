"""The engine's plain data types: what goes in (utterances, settings) and what comes out (results, reasons).

No ROS here: ddvlm_ros/conversions.py maps these to and from messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ddvlm_ros.labels import LABELS, valence_arousal
from ddvlm_ros.node_params import defaults


class FrameRefused(ValueError):
    """A frame the engine will not take; reason is the counter suffix (image_<reason>)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Utterance:
    """One transcript: end_ns is its stamp (0 = unstamped), start_ns 0 = the ASR gave no start."""

    conversation_id: str
    utterance_id: str
    speaker: str
    text: str
    start_ns: int
    end_ns: int
    is_final: bool = True
    frame_id: str = ""


@dataclass(frozen=True)
class EmotionResult:
    """One answer: to an utterance, or (utterance None) a visual-only update stamped by its newest frame.

    Distributions are float64 over LABELS; text/visual ones are None when that modality was not used.
    """

    stamp_ns: int
    probabilities: np.ndarray
    text_probabilities: np.ndarray | None
    visual_probabilities: np.ndarray | None
    frames_used: int
    inference_ms: float
    model: str
    backend: str
    received_s: float  # wall_s when the utterance came in (latency counts a hold)
    utterance: Utterance | None = None
    text: str = ""  # the text classified (stripped, truncated to max_text_chars)

    @property
    def emotion(self) -> str:
        return LABELS[int(np.argmax(self.probabilities))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    @property
    def valence_arousal(self) -> tuple[float, float]:
        return valence_arousal(self.probabilities)

    @property
    def text_used(self) -> bool:
        return self.text_probabilities is not None

    @property
    def visual_used(self) -> bool:
        return self.visual_probabilities is not None


@dataclass(frozen=True)
class Unanswered:
    """A final utterance that gets no EmotionResult; reason is the counter suffix (unanswered_<reason>)."""

    utterance: Utterance
    reason: str
    detail: str
    received_s: float


Answer = EmotionResult | Unanswered


@dataclass(frozen=True)
class EngineSettings:
    """The node parameters the engine reads (names and meanings as in node_params)."""

    context_turns: int
    frames_per_utterance: int
    window_pad_s: float
    trailing_frames_wait_s: float
    fallback_window_s: float
    face_detection_rate_hz: float
    visual_rate_hz: float
    min_confidence: float
    visual_weight: float
    smoothing: float
    frame_buffer_size: int
    frame_buffer_age_s: float
    conversation_idle_timeout_s: float
    max_conversations: int
    max_text_chars: int
    max_future_s: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any] | None = None) -> EngineSettings:
        """From parameter values by name (others ignored); missing ones take node_params' defaults."""
        merged = {**defaults(), **(values or {})}
        return cls(**{f.name: merged[f.name] for f in fields(cls)})


@dataclass(frozen=True)
class EngineStatus:
    counts: dict[str, int]
    frame_buffer_depth: int
    conversations: int
    held_transcripts: int
