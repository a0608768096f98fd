"""ddvlm_ros.contract: every documented EmotionState range, on real messages and on broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from ddvlm_ros.contract import ContractError, problems, validate
from ddvlm_ros.labels import LABELS, VALENCE_AROUSAL, valence_arousal


def _message(**changes: object):
    from ddvlm_msgs.msg import EmotionState

    probs = np.array([0.1, 0.5, 0.1, 0.1, 0.1, 0.05, 0.05], np.float32)
    msg = EmotionState()
    msg.labels = list(LABELS)
    msg.probabilities = probs.tolist()
    msg.text_probabilities = probs.tolist()
    msg.visual_probabilities = []
    msg.emotion = "joy"
    msg.confidence = float(probs.max())
    msg.valence, msg.arousal = valence_arousal(probs)
    msg.frames_used, msg.text_used, msg.visual_used = 0, True, False
    msg.inference_ms = 3.5
    msg.model, msg.backend = "ddvlm-meld-v3", "onnxruntime"
    msg.utterance_id = "u1"
    for k, v in changes.items():
        setattr(msg, k, v)
    return msg


def test_a_well_formed_message_holds() -> None:
    assert validate(_message()) is not None
    sad = [0, 0, 0, 0, 1.0, 0, 0]
    v, a = valence_arousal(sad)
    assert a < 0  # the sadness corner is calm: arousal below zero is inside the [-1, 1] contract
    assert (
        problems(
            _message(
                probabilities=sad,
                text_probabilities=sad,
                emotion="sadness",
                confidence=1.0,
                valence=v,
                arousal=a,
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"arousal": 1.5}, "arousal"),
        ({"valence": -1.01}, "valence"),
        ({"valence": float("nan")}, "valence"),
        ({"confidence": 0.4}, "confidence"),
        ({"emotion": "anger"}, "most probable"),
        ({"emotion": "happy"}, "not one of"),
        ({"probabilities": [0.5] * 7}, "sums to"),
        ({"probabilities": [1.0] * 6}, "6 values"),
        ({"labels": list(reversed(LABELS))}, "labels"),
        ({"text_used": False}, "text_used"),
        ({"visual_used": True}, "visual_used"),
        ({"frames_used": 2}, "frames_used"),
        ({"inference_ms": -1.0}, "inference_ms"),
        ({"backend": ""}, "backend"),
    ],
)
def test_each_breach_is_named(changes: dict, needle: str) -> None:
    found = problems(_message(**changes))
    assert any(needle in p for p in found), found
    with pytest.raises(ContractError, match=needle):
        validate(_message(**changes))


def test_visual_only_update_rules_and_dicts() -> None:
    p = [0.7, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    vis = {
        "emotion": "neutral",
        "confidence": 0.7,
        "labels": list(LABELS),
        "probabilities": p,
        "text_probabilities": [],
        "visual_probabilities": p,
        "valence": 0.0,
        "arousal": 0.0,
        "frames_used": 3,
        "text_used": False,
        "visual_used": True,
        "inference_ms": 1.0,
        "model": "m",
        "backend": "onnxruntime",
        "utterance_id": "",
    }
    assert problems(vis) == []
    assert any("utterance_id" in x for x in problems({**vis, "utterance_id": "u9"}))
    assert any(
        "neither" in x
        for x in problems({**vis, "visual_used": False, "visual_probabilities": [], "frames_used": 0})
    )
    with pytest.raises(ContractError, match="missing"):
        validate({k: v for k, v in vis.items() if k != "arousal"})


def test_every_label_corner_is_inside_the_valence_arousal_contract() -> None:
    for name in LABELS:
        v, a = VALENCE_AROUSAL[name]
        assert -1 <= v <= 1 and -1 <= a <= 1, name


def test_the_replay_evaluator_records_every_breach() -> None:
    from ddvlm_ros.replay.evaluator import ReplayResult

    result = ReplayResult(mode="test")
    result.record_answer(("c", "u1"), 0.0, _message(utterance_id="u1"))
    result.record_answer(("c", "u2"), 0.0, _message(utterance_id="u2", arousal=-1.5, backend=""))
    assert len(result.contract_violations) == 2
    assert all(v.startswith("c/u2: ") for v in result.contract_violations)
