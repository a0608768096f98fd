"""EmotionEngine without ROS: the real exported model (ONNX Runtime), a real face photo, injected clocks.

Each behaviour the DDS node tests check end to end is checked here directly: utterance windows, the
trailing-frames hold and its release order, partial transcripts, dialogue context and its expiry,
smoothing, visual-only gating, bad inputs and their named reasons, determinism.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import subprocess
import sys

import cv2
import matplotlib
import numpy as np
import pytest
from test_node_harness import image_msg, model_dir

from ddvlm_ros.conversions import emotion_state, offer_frame, stamp_ns, to_stamp
from ddvlm_ros.engine import (
    EmotionEngine,
    EmotionResult,
    EngineSettings,
    FrameRefused,
    Model,
    Unanswered,
    Utterance,
)
from ddvlm_ros.labels import LABELS

S = 1_000_000_000
T0 = 1_800_000_000 * S
MS = 1_000_000


class Clock:
    """The engine's two clocks, moved by the test: stamps in ns, waits in s (same timeline)."""

    def __init__(self, ns: int = T0) -> None:
        self.ns = ns

    def now_ns(self) -> int:
        return self.ns

    def wall_s(self) -> float:
        return self.ns / S


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load(model_dir())


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """A real face (matplotlib's sample photo of Grace Hopper), small so detection is quick."""
    path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
    image = cv2.imread(path)
    assert image is not None, path
    return cv2.resize(image, (160, 188), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def no_face(face: np.ndarray) -> np.ndarray:
    return np.full_like(face, 90)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_engine(model: Model, clock: Clock, **values: object) -> EmotionEngine:
    settings = EngineSettings.from_values({"face_detection_rate_hz": 60.0, **values})
    return EmotionEngine(model, settings, clock.now_ns, clock.wall_s)


def feed(engine: EmotionEngine, clock: Clock, start_ns: int, count: int, image, hz: float = 10.0) -> int:
    """count frames stamped start_ns + i/hz, each arriving at its stamp; returns the last stamp."""
    stamp = start_ns
    for i in range(count):
        stamp = start_ns + int(i * S / hz)
        clock.ns = max(clock.ns, stamp)
        engine.add_frame(stamp, image)
    return stamp


def utt(conv: str, uid: str, text: str, end_ns: int, start_ns: int = 0, final: bool = True) -> Utterance:
    return Utterance(conv, uid, "Rachel", text, start_ns, end_ns, final)


def only_result(answers: list) -> EmotionResult:
    assert len(answers) == 1 and isinstance(answers[0], EmotionResult), answers
    return answers[0]


def assert_distribution(p: np.ndarray | None) -> None:
    assert p is not None and p.shape == (len(LABELS),) and np.all(p >= 0)
    assert math.isclose(float(p.sum()), 1.0, abs_tol=1e-6)


def test_face_and_text_give_one_multimodal_result_and_its_message(model, clock, face) -> None:
    engine = make_engine(model, clock)
    end = feed(engine, clock, T0, 10, face)
    assert engine.submit(utt("d1", "u1-partial", "I can't", end, T0, final=False)) == []
    r = only_result(engine.submit(utt("d1", "u1", "  I can't believe you did that!  ", end, T0)))
    assert r.text == "I can't believe you did that!" and r.stamp_ns == end
    assert r.text_used and r.visual_used and r.frames_used == 8  # 10 in the window, 8 picked
    for p in (r.probabilities, r.text_probabilities, r.visual_probabilities):
        assert_distribution(p)
    assert r.emotion == LABELS[int(np.argmax(r.probabilities))] and r.confidence == max(r.probabilities)
    assert r.backend == model.backend.name and r.model == model.name and r.inference_ms > 0
    counts = engine.status().counts
    assert counts["transcripts_partial"] == 1 and counts["transcripts_final"] == 1
    assert counts["images_analysed"] == 10 and "images_without_face" not in counts

    msg = emotion_state(r)
    assert (msg.conversation_id, msg.utterance_id, msg.speaker, msg.text) == ("d1", "u1", "Rachel", r.text)
    assert stamp_ns(msg.header.stamp) == end and list(msg.labels) == list(LABELS)
    assert msg.emotion == r.emotion and msg.text_used and msg.visual_used and msg.frames_used == 8
    np.testing.assert_allclose(msg.probabilities, r.probabilities, atol=1e-6)
    assert len(msg.text_probabilities) == len(msg.visual_probabilities) == len(LABELS)
    assert -1 <= msg.valence <= 1 and -1 <= msg.arousal <= 1


def test_an_engine_without_a_detector_takes_frame_events_from_one_that_has_it(model, clock, face) -> None:
    """The node's engine (no face detector: its frames are analysed in the vision process) answers from
    the FrameEvents a FrameAnalyser elsewhere made, as an engine analysing the frames itself does."""
    analysing = make_engine(model, clock)
    node_side = make_engine(dataclasses.replace(model, detector=None), clock)
    assert node_side.frames is None
    for i in range(10):
        stamp = T0 + i * S // 10
        clock.ns = max(clock.ns, stamp)
        event = analysing.frames.offer(stamp, lambda: face)  # what add_frame does, shared by both
        analysing.note_frame(event)
        node_side.note_frame(event)
    with pytest.raises(ValueError, match="without a face detector"):
        node_side.add_frame(clock.ns + 1, face)
    node_side.apply({"face_detection_rate_hz": 5.0})  # a live setting still applies
    end = T0 + 9 * S // 10
    mine = only_result(node_side.submit(utt("d1", "u1", "I can't believe you did that!", end, T0)))
    theirs = only_result(analysing.submit(utt("d1", "u1", "I can't believe you did that!", end, T0)))
    assert mine.visual_used and mine.frames_used == theirs.frames_used == 8
    np.testing.assert_allclose(mine.probabilities, theirs.probabilities, atol=1e-6)


def test_window_is_start_to_end_padded_with_fallback_when_start_is_unknown(model, clock, face) -> None:
    engine = make_engine(model, clock, window_pad_s=0.0, fallback_window_s=0.35)
    feed(engine, clock, T0, 10, face)  # T0 … T0 + 0.9 s
    inside = only_result(engine.submit(utt("d", "a", "Hi.", T0 + 600 * MS, T0 + 500 * MS)))
    assert inside.frames_used == 2  # the frames at 0.5 and 0.6 s
    fallback = only_result(engine.submit(utt("d", "b", "Hi.", T0 + 900 * MS)))
    assert fallback.frames_used == 4  # 0.55 … 0.9 s
    later = only_result(engine.submit(utt("d", "c", "Hi.", T0 + 10 * S, T0 + 9 * S)))
    assert later.frames_used == 0 and not later.visual_used and later.visual_probabilities is None
    assert later.text_used


def test_no_face_gives_text_only(model, clock, no_face) -> None:
    engine = make_engine(model, clock)
    end = feed(engine, clock, T0, 5, no_face)
    r = only_result(engine.submit(utt("d", "u", "Oh. My. God.", end)))
    assert r.text_used and not r.visual_used and r.frames_used == 0
    assert engine.status().counts["images_without_face"] == 5


def test_detection_rate_analyses_a_subset_and_zero_turns_the_visual_side_off(model, clock, face) -> None:
    engine = make_engine(model, clock, face_detection_rate_hz=5.0)
    end = feed(engine, clock, T0, 30, face, hz=30.0)
    counts = engine.status().counts
    assert counts["images_analysed"] == 5 and counts["images_not_analysed_rate"] == 25
    engine.apply({"face_detection_rate_hz": 0.0})
    r = only_result(engine.submit(utt("d", "u", "Fine.", end, T0)))
    assert r.text_used and not r.visual_used


def test_live_settings_apply_and_wrong_ones_are_refused(model, clock, face) -> None:
    with pytest.raises(ValueError, match="max_frames"):
        make_engine(model, clock, frames_per_utterance=model.max_frames + 1)
    engine = make_engine(model, clock)
    with pytest.raises(ValueError, match="max_frames"):
        engine.check({"frames_per_utterance": model.max_frames + 1})
    with pytest.raises(ValueError, match="frame_buffer_size"):
        engine.apply({"frame_buffer_size": 10})  # start-only
    engine.apply({"frames_per_utterance": 2})
    end = feed(engine, clock, T0, 10, face)
    assert only_result(engine.submit(utt("d", "u", "Hi.", end, T0))).frames_used == 2


def test_trailing_frames_hold_releases_in_order_or_after_the_wait(model, clock, face, no_face) -> None:
    engine = make_engine(model, clock, trailing_frames_wait_s=3.0, window_pad_s=0.3)
    end = feed(engine, clock, T0, 5, no_face) + 10 * MS  # streaming, no face yet
    clock.ns = end
    assert engine.submit(utt("d", "held", "Look at this!", end, end - 200 * MS)) == []
    assert engine.submit(utt("d", "partial", "Wo", end + 1, final=False)) == []
    assert engine.submit(utt("d", "behind", "Wow.", end + 1, end)) == []
    assert engine.held == 3 and engine.release() == []
    answers: list = []
    for i in range(10):  # face frames after the stamps: end + 33 ms … end + 333 ms
        stamp = end + (i + 1) * S // 30
        clock.ns = stamp
        engine.add_frame(stamp, face)
        answers += engine.release()
    assert [a.utterance.utterance_id for a in answers] == ["held", "behind"]
    assert all(a.visual_used for a in answers) and engine.held == 0
    assert engine.status().counts["transcripts_partial"] == 1

    end = feed(engine, clock, clock.ns + 100 * MS, 8, no_face) + 10 * MS  # the faces leave the window
    clock.ns = end  # and the stream stops after this transcript
    assert engine.submit(utt("d", "stream-stops", "Hello?", end, end - 200 * MS)) == []
    clock.ns += 2900 * MS
    assert engine.release() == []
    clock.ns += 100 * MS
    late = only_result(engine.release())
    assert late.utterance.utterance_id == "stream-stops" and not late.visual_used
    assert late.received_s == end / S  # the latency the node reports counts the wait
    assert engine.status().counts["trailing_frames_wait_timeout"] == 1

    clock.ns += 2 * S  # no frame for over a second: not streaming, nothing to wait for
    assert only_result(engine.submit(utt("d", "no-stream", "Okay.", clock.ns, clock.ns - S)))


def test_flush_answers_held_transcripts_and_no_wait_means_at_once(model, clock, no_face) -> None:
    engine = make_engine(model, clock, trailing_frames_wait_s=5.0)
    end = feed(engine, clock, T0, 3, no_face)
    assert engine.submit(utt("d", "a", "One.", end, T0)) == []
    assert engine.submit(utt("d", "b", "Two.", end + 1, T0)) == []
    assert [a.utterance.utterance_id for a in engine.flush()] == ["a", "b"]
    assert "trailing_frames_wait_timeout" not in engine.status().counts
    engine.apply({"trailing_frames_wait_s": 0.0})
    feed(engine, clock, end + 100 * MS, 3, no_face)
    assert only_result(engine.submit(utt("d", "c", "Three.", clock.ns, T0)))


def test_dialogue_context_per_conversation_live_length_reset_and_expiry(model, clock) -> None:
    engine = make_engine(model, clock, conversation_idle_timeout_s=10.0, context_turns=3)

    def text_probs(conv: str, uid: str, text: str) -> np.ndarray:
        clock.ns += 100 * MS
        return only_result(engine.submit(utt(conv, uid, text, clock.ns))).text_probabilities

    text_probs("A", "a1", "You ate my sandwich!")
    with_context = text_probs("A", "a2", "Really?")
    without = text_probs("B", "b1", "Really?")
    assert not np.allclose(with_context, without, atol=1e-6), "A's context was not used"
    assert engine.reset_context() == 2
    np.testing.assert_allclose(text_probs("A", "a3", "Really?"), without, atol=1e-5)

    text_probs("C", "c1", "You ate my sandwich!")
    clock.ns += 11 * S  # C idle past conversation_idle_timeout_s: its context is forgotten
    np.testing.assert_allclose(text_probs("C", "c2", "Really?"), without, atol=1e-5)

    text_probs("D", "d1", "You ate my sandwich!")
    engine.apply({"context_turns": 0})
    np.testing.assert_allclose(text_probs("D", "d2", "Really?"), without, atol=1e-5)
    assert engine.status().conversations >= 1


def test_smoothing_mixes_in_the_previous_distribution_of_the_same_conversation(model) -> None:
    raw_clock, smooth_clock = Clock(), Clock()
    raw = make_engine(model, raw_clock)
    smoothed = make_engine(model, smooth_clock, smoothing=0.5)
    script = [("X", "x1", "I love it!"), ("X", "x2", "This is terrible."), ("Y", "y1", "This is terrible.")]
    out = {}
    for conv, uid, text in script:
        for engine, clock, name in ((raw, raw_clock, "raw"), (smoothed, smooth_clock, "smooth")):
            clock.ns += S
            out[name, uid] = only_result(engine.submit(utt(conv, uid, text, clock.ns))).probabilities
    np.testing.assert_allclose(out["smooth", "x1"], out["raw", "x1"])  # nothing before it
    expected = 0.5 * out["raw", "x2"] + 0.5 * out["raw", "x1"]
    np.testing.assert_allclose(out["smooth", "x2"], expected / expected.sum())
    np.testing.assert_allclose(out["smooth", "y1"], out["raw", "y1"])  # another conversation


def test_visual_only_updates_are_gated_by_speech_new_frames_and_confidence(model, clock, face) -> None:
    engine = make_engine(model, clock)
    feed(engine, clock, T0, 5, face)
    assert engine.visual_only() is None  # visual_rate_hz = 0: off
    engine.apply({"visual_rate_hz": 2.0})
    first = engine.visual_only()
    assert first is not None and first.utterance is None and first.stamp_ns == T0 + 400 * MS
    assert not first.text_used and first.text_probabilities is None and first.visual_used
    assert first.frames_used >= 1
    assert_distribution(first.probabilities)
    assert engine.visual_only() is None  # no frame since
    engine.submit(utt("d", "u", "Hi.", clock.ns))
    feed(engine, clock, clock.ns + 100 * MS, 2, face)  # 100 ms after the speech: someone is talking
    assert engine.visual_only() is None
    clock.ns += 500 * MS
    assert engine.visual_only() is not None
    engine.apply({"min_confidence": 1.0})
    feed(engine, clock, clock.ns + 100 * MS, 2, face)
    assert engine.visual_only() is None
    assert engine.status().counts["visual_only_below_min_confidence"] == 1


def test_bad_frames_are_refused_with_their_reason(model, clock, face) -> None:
    engine = make_engine(model, clock, max_future_s=1.0)
    with pytest.raises(FrameRefused) as err:
        engine.add_frame(T0 + 3600 * S, face)
    assert err.value.reason == "future_stamp"
    engine.add_frame(T0, face)
    for stale in (T0, T0 - 1):  # same stamp, slightly older
        with pytest.raises(FrameRefused) as err:
            engine.add_frame(stale, face)
        assert err.value.reason == "out_of_order"
    engine.add_frame(T0 - 5 * S, face)  # jumped back: the clock restarted, the buffer starts over
    assert engine.status().counts["image_time_jump_back"] == 1 and engine.status().frame_buffer_depth == 1
    bad = image_msg(face, T0 + 1)
    bad.encoding = "32FC1"
    assert offer_frame(engine.frames, bad, 1_000_000) is None  # the converter's refusal, counted alike
    assert engine.status().counts["image_unknown_encoding"] == 1
    good = offer_frame(engine.frames, image_msg(face, T0 + 2), 1_000_000)
    assert good is not None and good[0].stamp_ns == T0 + 2 and good[1].shape == face.shape


def test_bad_transcripts_get_a_named_reason_or_are_answered_and_counted(model, clock, face) -> None:
    engine = make_engine(model, clock, max_text_chars=2000, max_future_s=1.0)
    (empty,) = engine.submit(utt("d", "empty", "   ", T0, T0 - S))
    assert isinstance(empty, Unanswered) and empty.reason == "nothing_to_classify"
    long = only_result(engine.submit(utt("d", "long", "so " * 5000, T0 + 10 * MS)))
    assert len(long.text) == 2000
    only_result(engine.submit(utt("d", "future", "Later!", T0 + 3600 * S)))
    only_result(engine.submit(utt("d", "older", "Before.", T0 + 20 * MS)))
    end = feed(engine, clock, T0 + 100 * MS, 5, face)
    silent = only_result(engine.submit(utt("e", "silent", "", end, T0)))
    assert silent.visual_used and not silent.text_used and silent.text_probabilities is None
    counts = engine.status().counts
    for key in (
        "unanswered_nothing_to_classify",
        "transcript_truncated",
        "transcript_future_stamp",
        "transcript_out_of_order",
        "transcript_empty_text",
    ):
        assert counts[key] >= 1, (key, counts)


def test_same_inputs_in_the_same_order_give_the_same_answers(model, face, no_face) -> None:
    def run() -> list[np.ndarray]:
        clock = Clock()
        engine = make_engine(model, clock, trailing_frames_wait_s=1.0, smoothing=0.3)
        out: list = []
        for i in range(3):
            end = feed(engine, clock, clock.ns + 100 * MS, 4, face if i % 2 else no_face)
            out += engine.submit(utt("d", f"u{i}", f"Sentence number {i}!", end, end - 300 * MS))
            feed(engine, clock, end + 50 * MS, 4, face)
            out += engine.release()
        out += engine.flush()
        return [a.probabilities for a in out]

    first, second = run(), run()
    assert len(first) == 3
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stamps_round_trip() -> None:
    assert stamp_ns(to_stamp(T0 + 123)) == T0 + 123


def test_node_and_replay_import_graph_reaches_neither_torch_nor_training() -> None:
    """What the node and offline replay import at run time (modules, a loaded model, an engine)."""
    code = f"""
import sys
import ddvlm_ros.emotion_node, ddvlm_ros.replay.cli, ddvlm_ros.replay.offline, ddvlm_ros.replay.report
from ddvlm_ros.engine import EmotionEngine, EngineSettings, Model
engine = EmotionEngine(Model.load({str(model_dir())!r}), EngineSettings.from_values(), lambda: 0)
bad = sorted(m for m in sys.modules if m.split(".")[0] == "torch" or m.startswith("ddvlm_ros.training"))
print("BAD", bad)
sys.exit(1 if bad else 0)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def test_a_context_other_than_the_models_trained_one_is_said(model, clock, caplog) -> None:
    trained = model.trained_context_turns
    with caplog.at_level(logging.WARNING, logger="ddvlm_ros.engine"):
        engine = make_engine(model, clock, context_turns=trained)
        assert not [r for r in caplog.records if "differs from the" in r.getMessage()]
        engine.apply({"context_turns": trained + 2})
    (record,) = [r for r in caplog.records if "differs from the" in r.getMessage()]
    assert f"context_turns {trained + 2} differs from the {trained} previous turns" in record.getMessage()
