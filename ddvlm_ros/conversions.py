"""ROS messages ↔ engine types: the only place that knows both (the node and replay use it).

Transcript → Utterance, Image/CompressedImage → a frame offered to the engine, EmotionResult →
EmotionState (stamps via ddvlm_ros/stamps.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.engine import EmotionEngine
from ddvlm_ros.engine_types import EmotionResult, FrameRefused, Utterance
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


def offer_frame(engine: EmotionEngine, msg, max_pixels: int) -> tuple[int, np.ndarray] | None:
    """Offer one image message to the engine: (stamp, BGR image) when it is to be analysed, None when it
    is skipped or refused (refusals are counted as image_<reason> and logged, throttled)."""
    t = stamp_ns(msg.header.stamp)
    convert = converter_for(msg)
    try:
        image = engine.take_frame(t, lambda: convert(msg, max_pixels))
    except (FrameRefused, ImageError) as err:
        _refused(engine, err)
        return None
    except Exception as err:  # never let one frame kill the node
        engine.count("image_error")
        engine.log.error(f"image processing failed: {err!r}", key="image_error")
        return None
    return None if image is None else (t, image)


def offer_raw_frame(
    engine: EmotionEngine, data: bytes, max_pixels: int
) -> tuple[int, Callable[[], np.ndarray]] | None:
    """Offer a serialized sensor_msgs/Image: only its header is read and checked here, before any pixel
    is copied; an admitted frame comes back as (stamp, loader), the loader converting its pixels later
    (on the vision thread), so the frames the detection rate skips are never deserialized. None when it
    is skipped or refused (counted as image_<reason>, logged)."""
    try:
        header = raw_image_header(data, max_pixels)
    except ImageError as err:
        engine.count("images_received")  # take_frame counts every frame that reaches it
        _refused(engine, err)
        return None
    try:
        admitted = engine.take_frame(header.stamp_ns, lambda: data)
    except FrameRefused as err:
        _refused(engine, err)
        return None
    return None if admitted is None else (header.stamp_ns, lambda: raw_image_to_bgr(data, header))


def _refused(engine: EmotionEngine, err: FrameRefused | ImageError) -> None:
    engine.count(f"image_{err.reason}")
    engine.log.warning(f"image dropped ({err.reason}): {err}", key=f"image_{err.reason}")
