"""ROS messages ↔ engine types: the only place that knows both (the node and replay use it).

Transcript → Utterance, Image/CompressedImage → a frame offered to a FrameAnalyser, EmotionResult →
EmotionState (stamps via ddvlm_ros/stamps.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.engine_types import EmotionResult, FrameRefused, Utterance
from ddvlm_ros.frame_analysis import FrameAnalyser, FrameEvent
from ddvlm_ros.image_input import (
    ImageError,
    compressed_to_bgr,
    image_to_bgr,
    raw_image_header,
    raw_image_to_bgr,
)
from ddvlm_ros.labels import LABELS
from ddvlm_ros.stamps import stamp_ns, to_stamp


def utterance(msg: Transcript) -> Utterance:
    """The engine's view of a Transcript."""
    return Utterance(
        conversation_id=msg.conversation_id,
        utterance_id=msg.utterance_id,
        speaker=msg.speaker,
        text=msg.text,
        start_ns=stamp_ns(msg.start_stamp),
        end_ns=stamp_ns(msg.header.stamp),
        is_final=bool(msg.is_final),
        frame_id=msg.header.frame_id,
    )


def emotion_state(result: EmotionResult) -> EmotionState:
    """The one place an EmotionState is built (answers and visual-only updates alike)."""
    out = EmotionState()
    out.header.stamp = to_stamp(result.stamp_ns)
    utt = result.utterance
    if utt is not None:
        out.header.frame_id = utt.frame_id
        out.conversation_id, out.utterance_id = utt.conversation_id, utt.utterance_id
        out.speaker = utt.speaker
    out.text = result.text
    probs = result.probabilities
    best = int(np.argmax(probs))
    out.emotion = LABELS[best]
    out.confidence = float(probs[best])
    out.labels = list(LABELS)
    out.probabilities = probs.astype(np.float32).tolist()
    out.valence, out.arousal = result.valence_arousal
    out.text_used, out.visual_used = result.text_used, result.visual_used
    out.frames_used = result.frames_used
    if result.text_probabilities is not None:
        out.text_probabilities = result.text_probabilities.astype(np.float32).tolist()
    if result.visual_probabilities is not None:
        out.visual_probabilities = result.visual_probabilities.astype(np.float32).tolist()
    out.inference_ms = float(result.inference_ms)
    out.model = result.model
    out.backend = result.backend
    return out


ImageConverter = Callable[[object, int], np.ndarray]


def converter_for(msg: object) -> ImageConverter:
    """image_to_bgr for sensor_msgs/Image, compressed_to_bgr for CompressedImage."""
    return compressed_to_bgr if hasattr(msg, "format") else image_to_bgr


def offer_frame(
    frames: FrameAnalyser, msg, max_pixels: int
) -> tuple[FrameEvent, np.ndarray | None] | None:
    """Offer one image message: (event, BGR image) when it is to be analysed (FrameAnalyser.analyse),
    (event, None) when the detection rate skips it, None when it is refused (counted as image_<reason>
    and logged, throttled)."""
    convert = converter_for(msg)
    try:
        return frames.take(stamp_ns(msg.header.stamp), lambda: convert(msg, max_pixels))
    except (FrameRefused, ImageError) as err:
        _refused(frames, err)
    except Exception as err:  # never let one frame kill the node
        frames.count("image_error")
        frames.log.error(f"image processing failed: {err!r}", key="image_error")
    return None


def offer_raw_frame(
    frames: FrameAnalyser, data: bytes, max_pixels: int
) -> tuple[FrameEvent, Callable[[], np.ndarray] | None] | None:
    """Offer a serialized sensor_msgs/Image: only its header is read and checked before any pixel is
    copied, so the frames the detection rate skips are never deserialized. (event, loader) when it is to
    be analysed (the loader converts its pixels), (event, None) when skipped, None when refused (counted
    as image_<reason>, logged)."""
    try:
        header = raw_image_header(data, max_pixels)
    except ImageError as err:
        frames.count("images_received")  # take() counts every frame that reaches it
        _refused(frames, err)
        return None
    try:
        event, admitted = frames.take(header.stamp_ns, lambda: data)
    except FrameRefused as err:
        _refused(frames, err)
        return None
    return event, (None if admitted is None else lambda: raw_image_to_bgr(data, header))


def _refused(frames: FrameAnalyser, err: FrameRefused | ImageError) -> None:
    frames.count(f"image_{err.reason}")
    frames.log.warning(f"image dropped ({err.reason}): {err}", key=f"image_{err.reason}")
