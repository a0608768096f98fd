"""ddvlm_msgs is public API: field names and types must match what robots code against."""

from __future__ import annotations

import math

import pytest
from rclpy.serialization import deserialize_message, serialize_message

from ddvlm_msgs.msg import EmotionState, Transcript

TRANSCRIPT_FIELDS = {
    "header": "std_msgs/Header",
    "start_stamp": "builtin_interfaces/Time",
    "conversation_id": "string",
    "utterance_id": "string",
    "speaker": "string",
    "text": "string",
    "is_final": "boolean",
    "confidence": "float",
}

EMOTION_FIELDS = {
    "header": "std_msgs/Header",
    "conversation_id": "string",
    "utterance_id": "string",
    "speaker": "string",
    "text": "string",
    "emotion": "string",
    "confidence": "float",
    "labels": "sequence<string>",
    "probabilities": "sequence<float>",
    "text_probabilities": "sequence<float>",
    "visual_probabilities": "sequence<float>",
    "valence": "float",
    "arousal": "float",
    "frames_used": "uint32",
    "text_used": "boolean",
    "visual_used": "boolean",
    "inference_ms": "float",
    "model": "string",
    "backend": "string",
}


@pytest.mark.parametrize(
    ("msg_type", "expected"), [(Transcript, TRANSCRIPT_FIELDS), (EmotionState, EMOTION_FIELDS)]
)
def test_fields_are_the_public_api(msg_type: type, expected: dict[str, str]) -> None:
    assert msg_type.get_fields_and_field_types() == expected


def test_label_constants_are_meld_order() -> None:
    constants = [
        EmotionState.NEUTRAL,
        EmotionState.JOY,
        EmotionState.SURPRISE,
        EmotionState.ANGER,
        EmotionState.SADNESS,
        EmotionState.DISGUST,
        EmotionState.FEAR,
    ]
    assert constants == ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]


def test_cdr_round_trip_keeps_unicode_and_nan() -> None:
    msg = Transcript(conversation_id="d1", utterance_id="u7", speaker="Rachel", text="Où est-il ? 😀")
    msg.is_final = True
    msg.confidence = float("nan")
    msg.start_stamp.sec = 12
    back = deserialize_message(serialize_message(msg), Transcript)
    assert back.text == msg.text and back.start_stamp.sec == 12 and back.is_final
    assert math.isnan(back.confidence)
