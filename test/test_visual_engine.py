"""The visual half in the engine: a real expressionless face does not collapse the answer, visual_weight
0 is text only, visual-only updates are gated above chance, and every message holds its contract."""

from __future__ import annotations

import numpy as np
import pytest
from test_engine import MS, T0, Clock, face, feed, make_engine, model, only_result, utt  # noqa: F401

from ddvlm_ros.contract import validate
from ddvlm_ros.conversions import emotion_state
from ddvlm_ros.engine_types import EngineSettings
from ddvlm_ros.labels import LABELS, valence_arousal

LINES = [
    "I can't believe you did that!",
    "Oh my God, that's amazing, I love it!",
    "Get out of my apartment right now.",
    "I miss her so much.",
    "Okay, so what time is the meeting?",
    "Ew, that's disgusting.",
    "Wait, what? You're kidding!",
    "I'm really scared, somebody's outside.",
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _answers(engine, clock, face_image, with_face: bool) -> list:
    out = []
    for i, line in enumerate(LINES):
        start = T0 + i * 2_000 * MS
        end = feed(engine, clock, start, 4, face_image) if with_face else start + 300 * MS
        clock.ns = max(clock.ns, end)
        out.append(only_result(engine.submit(utt(f"c{i}", f"u{i}", line, end, start))))
    return out


def test_an_expressionless_real_face_leaves_confidence_and_valence_arousal(model, face) -> None:  # noqa: F811
    text_only = _answers(make_engine(model, Clock(), face_detection_rate_hz=0.0), Clock(), face, False)
    clock = Clock()
    with_face = _answers(make_engine(model, clock), clock, face, True)
    for t, f in zip(text_only, with_face, strict=True):
        assert not t.visual_used and f.visual_used and f.frames_used == 4
        assert f.visual_probabilities[LABELS.index("neutral")] > 0.5  # the network sees a resting face
        assert f.confidence >= 0.9 * t.confidence, (f.utterance.text, t.confidence, f.confidence)
        assert np.abs(f.probabilities - t.probabilities).max() < 0.1
        vt, at = valence_arousal(t.probabilities)
        vf, af = valence_arousal(f.probabilities)
        assert abs(vf - vt) < 0.1 and abs(af - at) < 0.1
        validate(emotion_state(t))
        validate(emotion_state(f))
    assert np.mean([f.confidence for f in with_face]) >= 0.9 * np.mean([t.confidence for t in text_only])


def test_visual_weight_zero_is_text_only_and_is_live(model, face) -> None:  # noqa: F811
    clock = Clock()
    engine = make_engine(model, clock, visual_weight=0.0)
    end = feed(engine, clock, T0, 4, face)
    r = only_result(engine.submit(utt("c", "u", "Get out of my apartment right now.", end, T0)))
    assert r.visual_used
    np.testing.assert_allclose(r.probabilities, r.text_probabilities, atol=1e-6)
    engine.apply({"visual_weight": 4.0})
    end = feed(engine, clock, clock.ns + 1_000 * MS, 4, face)
    strong = only_result(
        engine.submit(utt("d", "v", "Get out of my apartment right now.", end, end - 400 * MS))
    )
    neutral = LABELS.index("neutral")
    assert strong.probabilities[neutral] > r.probabilities[neutral]  # the face counts again, more


def test_visual_only_updates_default_above_chance_and_hold_the_contract(model, face) -> None:  # noqa: F811
    assert EngineSettings.from_values().min_confidence > 1.0 / len(LABELS)
    clock = Clock()
    engine = make_engine(model, clock, visual_rate_hz=2.0)
    feed(engine, clock, T0, 5, face)
    r = engine.visual_only()
    assert r is not None and not r.text_used and r.confidence >= engine.settings.min_confidence
    msg = validate(emotion_state(r))
    assert msg.utterance_id == "" and msg.frames_used == r.frames_used
    engine.apply({"min_confidence": 0.999})
    feed(engine, clock, clock.ns + 100 * MS, 2, face)
    assert engine.visual_only() is None
    assert engine.status().counts["visual_only_below_min_confidence"] == 1


def test_face_detector_parameter_chooses_the_detector_and_is_checked() -> None:
    from test_node_harness import model_dir

    from ddvlm_ros.node_params import check_values, defaults
    from ddvlm_ros.runtime_model import Model

    assert defaults()["face_detector"] == "mtcnn"
    check_values({"face_detector": "haar"})
    with pytest.raises(ValueError, match="face_detector must be one of"):
        check_values({"face_detector": "yolo"})
    assert Model.load(model_dir(), "onnxruntime", face_detector="haar").detector.name == "haar"
