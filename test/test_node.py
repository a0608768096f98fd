"""emotion_node end to end: a real node process, real loopback DDS, real ONNX Runtime, drawn faces.

What the ROS adapter adds: topics, QoS, parameters and their callbacks, services, diagnostics, timers,
the vision thread. Windows, holds, context, smoothing and reasons are tested on the engine (test_engine).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rcl_interfaces.msg import ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger
from test_node_harness import (
    Diagnostics,
    NodeProcess,
    Probe,
    image_msg,
    model_dir,
    probe_in,
    synthetic_face_frame,
    transcript_msg,
)

from ddvlm_ros.contract import validate
from ddvlm_ros.labels import LABELS

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(180)]
S = 1_000_000_000
NS = "/t"  # node and probe share a namespace: relative names resolve alike


@pytest.fixture(scope="module")
def model() -> Path:
    return model_dir()


@pytest.fixture
def probe(ros_domain: int) -> Iterator[Probe]:
    yield from probe_in(NS)


def start_node(tmp_path: Path, model: Path, **params) -> NodeProcess:
    # vision at the node's priority: the pytest-xdist neighbour is a nice-0 load that can starve the
    # default niceness (10); these tests check what faces do (test_vision_process checks the niceness)
    base = {"model_dir": str(model), "threads": 1, "face_detection_rate_hz": 30.0, "vision_process_nice": 0}
    return NodeProcess(tmp_path / "node.log", {**base, **params}, ["-r", f"__ns:={NS}"])


@pytest.fixture
def node(tmp_path: Path, model: Path, probe: Probe) -> Iterator[NodeProcess]:
    proc = start_node(tmp_path, model, max_image_pixels=1_000_000)
    try:
        probe.wait_for_node()
        yield proc
    finally:
        rc = proc.stop()
        assert rc == 0, f"node exited with {rc} on SIGINT:\n{proc.log()[-3000:]}"


def stream_frames(probe: Probe, start_ns: int, count: int, face: bool, hz: float = 30.0) -> int:
    """Publish count frames stamped start_ns + i/hz, at that pace; returns the last stamp."""
    frame = synthetic_face_frame(face=face)
    stamp = start_ns
    for i in range(count):
        stamp = start_ns + int(i * S / hz)
        probe.images.publish(image_msg(frame, stamp))
        probe.spin_until(lambda: False, 1.0 / hz)
    return stamp


def stream_until_noted(probe: Probe, start_ns: int, face: bool, timeout: float = 20.0) -> int:
    """Publish frames stamped start_ns + i/30 s, at that pace, until /diagnostics shows that the node took
    some of them in (its vision process is matched and its frames reach the node); returns the last stamp.
    A new publisher's first best-effort frames can be lost to discovery, more so on a loaded machine."""
    diagnostics = Diagnostics(probe)
    frame = synthetic_face_frame(face=face)
    baseline: int | None = None  # images_received in the first report
    stamp, sent, deadline = start_ns, 0, time.monotonic() + timeout
    while True:
        if diagnostics.updates:
            received = diagnostics.counts.get("images_received", 0)
            if baseline is None:
                baseline = received
            elif received > baseline:
                return stamp
        assert time.monotonic() < deadline, f"the node took in none of {sent} frames in {timeout} s"
        stamp = start_ns + int(sent * S / 30)
        probe.images.publish(image_msg(frame, stamp))
        sent += 1
        probe.spin_until(lambda: False, 1.0 / 30)


def answer_for(probe: Probe, utterance: str, timeout: float = 10.0):
    ok = probe.spin_until(lambda: any(e.utterance_id == utterance for e in probe.emotions), timeout)
    assert ok, f"no EmotionState for {utterance}"
    return validate(next(e for e in probe.emotions if e.utterance_id == utterance))  # ddvlm_ros.contract


def assert_valid_distribution(values, n: int = len(LABELS)) -> None:
    arr = np.asarray(values, dtype=np.float64)
    assert arr.shape == (n,) and np.all(arr >= 0) and math.isclose(arr.sum(), 1.0, abs_tol=1e-4)


def test_face_and_transcript_give_one_multimodal_answer(node: NodeProcess, probe: Probe) -> None:
    t0 = probe.now_ns()
    end = stream_frames(probe, t0, 20, face=True)
    probe.transcripts.publish(transcript_msg("d1", "u1-partial", "I can't", end, t0, final=False))
    probe.transcripts.publish(transcript_msg("d1", "u1", "I can't believe you did that!", end, t0))
    e = answer_for(probe, "u1")
    assert (e.conversation_id, e.speaker, e.text) == ("d1", "Rachel", "I can't believe you did that!")
    assert (e.header.stamp.sec, e.header.stamp.nanosec) == divmod(end, S)
    assert list(e.labels) == list(LABELS)
    assert_valid_distribution(e.probabilities)
    assert_valid_distribution(e.text_probabilities)
    assert_valid_distribution(e.visual_probabilities)
    assert e.emotion == LABELS[int(np.argmax(e.probabilities))]
    assert math.isclose(e.confidence, max(e.probabilities), rel_tol=1e-6)
    assert e.text_used and e.visual_used and 1 <= e.frames_used <= 8
    assert -1 <= e.valence <= 1 and -1 <= e.arousal <= 1
    assert e.inference_ms > 0 and e.backend == "onnxruntime" and e.model
    # the partial hypothesis is not classified; exactly one answer for u1
    probe.spin_until(lambda: False, 0.5)
    assert [x.utterance_id for x in probe.emotions] == ["u1"]
    assert node.alive()


def set_params(probe: Probe, values: dict[str, object]) -> list:
    # rclpy's Parameter infers the ParameterType from the Python value (bool/int/float/str).
    req = SetParameters.Request(
        parameters=[Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
    )
    return probe.call(SetParameters, f"{NS}/emotion_node/set_parameters", req).results


def get_param(probe: Probe, name: str) -> ParameterValue:
    request = GetParameters.Request(names=[name])
    return probe.call(GetParameters, f"{NS}/emotion_node/get_parameters", request).values[0]


def test_parameters_are_validated_and_live_ones_apply(node: NodeProcess, probe: Probe) -> None:
    (ok,) = set_params(probe, {"context_turns": 5})
    assert ok.successful and get_param(probe, "context_turns").integer_value == 5
    rejected = {
        "context_turns": 99,  # outside the descriptor range
        "backend": "warp-drive",
        "frames_per_utterance": 64,  # above the model's max_frames
        "model_dir": "/nonexistent/model",
        "window_pad_s": -1.0,
    }
    for name, value in rejected.items():
        (res,) = set_params(probe, {name: value})
        assert not res.successful and res.reason, f"{name}={value!r} was accepted"
    assert get_param(probe, "context_turns").integer_value == 5
    (restart,) = set_params(probe, {"threads": 2})  # needs a restart: refused, saying so
    assert not restart.successful and "restart" in restart.reason
    assert get_param(probe, "threads").integer_value == 1
    # live: with face detection off, a face stream gives a text-only answer
    (off,) = set_params(probe, {"face_detection_rate_hz": 0.0})
    assert off.successful
    t0 = probe.now_ns()
    end = stream_frames(probe, t0, 10, face=True)
    probe.transcripts.publish(transcript_msg("d4", "u1", "Fine.", end, t0))
    e = answer_for(probe, "u1")
    assert e.text_used and not e.visual_used


def test_bad_inputs_are_counted_and_the_node_keeps_answering(node: NodeProcess, probe: Probe) -> None:
    t0 = probe.now_ns()
    frame = synthetic_face_frame(64, 48, face=False)  # small: large best-effort messages may be lost
    bad = []
    m = image_msg(frame, t0)
    m.encoding = "32FC1"
    bad.append(m)
    m = image_msg(frame, t0 + 1)
    m.step = 10
    bad.append(m)
    m = image_msg(frame, t0 + 2)
    m.data = bytes(m.data)[:-5]
    bad.append(m)
    m = image_msg(frame, t0 + 3)
    m.height, m.width, m.step, m.data = 0, 0, 0, b""
    bad.append(m)
    m = image_msg(frame, t0 + 4)
    m.width, m.height, m.step = 2000, 1000, 6000  # 2 Mpx > max_image_pixels: refused before reading data
    bad.append(m)
    bad.append(image_msg(frame, t0 + 3600 * S))  # an hour in the future
    bad.append(image_msg(frame, t0 + 5))  # a good frame (refused ones do not move the last stamp)
    bad.append(image_msg(frame, t0 + 2))  # older than that one
    for m in bad:
        probe.images.publish(m)
        probe.spin_until(lambda: False, 0.2)  # best effort, depth 2: do not outrun the node
    probe.transcripts.publish(transcript_msg("d5", "empty", "   ", t0 - 60 * S, t0 - 61 * S))
    long_text = "so " * 5000
    probe.transcripts.publish(transcript_msg("d5", "long", long_text, t0 + S, t0))
    e = answer_for(probe, "long")
    assert len(e.text) == 2000 and e.text_used
    probe.transcripts.publish(transcript_msg("d5", "after", "Are you still there?", t0 + 2 * S, t0 + S))
    answer_for(probe, "after")
    assert "empty" not in {x.utterance_id for x in probe.emotions}
    wanted = {
        f"count.{k}"
        for k in (
            "image_unknown_encoding",
            "image_bad_step",
            "image_size_mismatch",
            "image_empty_image",
            "image_huge_image",
            "image_future_stamp",
            "image_out_of_order",
            "unanswered_nothing_to_classify",
            "transcript_truncated",
        )
    }
    diagnostics = Diagnostics(probe)
    probe.spin_until(lambda: wanted <= set(diagnostics.values), 8.0)
    counts = diagnostics.values
    for key in sorted(wanted):
        assert int(counts.get(key, "0")) >= 1, f"{key} not counted: {counts}"
    assert counts["backend"] == "onnxruntime" and counts["latency_p50_ms"] != "n/a"
    assert node.alive()
    log = node.log()
    assert "not answered (nothing_to_classify)" in log and "unknown_encoding" in log


def reset_context(probe: Probe):
    return probe.call(Trigger, f"{NS}/emotion_node/reset_context", Trigger.Request())


def test_dialogue_context_is_per_conversation_and_reset_clears_it(node: NodeProcess, probe: Probe) -> None:
    (ok,) = set_params(probe, {"context_turns": 3})  # the default model reads none by default
    assert ok.successful
    t0 = probe.now_ns()
    probe.transcripts.publish(transcript_msg("A", "a1", "You ate my sandwich!", t0, t0 - S, speaker="Ross"))
    answer_for(probe, "a1")
    probe.transcripts.publish(transcript_msg("A", "a2", "Really?", t0 + S // 10, t0, speaker="Joey"))
    probe.transcripts.publish(transcript_msg("B", "b1", "Really?", t0 + S // 10, t0, speaker="Joey"))
    with_context = np.asarray(answer_for(probe, "a2").text_probabilities)
    without = np.asarray(answer_for(probe, "b1").text_probabilities)
    assert not np.allclose(with_context, without, atol=1e-6), "context of conversation A was not used"
    res = reset_context(probe)
    assert res.success and "2 conversation" in res.message
    probe.transcripts.publish(transcript_msg("A", "a3", "Really?", t0 + S // 5, t0, speaker="Joey"))
    after_reset = np.asarray(answer_for(probe, "a3").text_probabilities)
    np.testing.assert_allclose(after_reset, without, atol=1e-5)


def test_missing_model_fails_at_start_naming_the_path(tmp_path: Path, ros_domain: int) -> None:
    proc = NodeProcess(tmp_path / "node.log", {"model_dir": "/nonexistent/ddvlm-model"})
    deadline = time.monotonic() + 60
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    rc = proc.stop()
    assert rc != 0
    assert "/nonexistent/ddvlm-model" in proc.log()


def test_visual_only_updates_while_nobody_speaks(tmp_path: Path, model: Path, probe: Probe) -> None:
    proc = start_node(tmp_path, model, visual_rate_hz=2.0)
    try:
        probe.wait_for_node()
        stream_frames(probe, probe.now_ns(), 45, face=True)  # 1.5 s of video, no transcript
        assert probe.spin_until(lambda: bool(probe.emotions), 5), "no visual-only EmotionState"
        e = validate(probe.emotions[0])
        assert e.utterance_id == "" and e.visual_used and not e.text_used and e.frames_used >= 1
        assert list(e.text_probabilities) == []
        assert_valid_distribution(e.probabilities)
        assert_valid_distribution(e.visual_probabilities)
    finally:
        assert proc.stop() == 0


def answered(probe: Probe) -> list[str]:
    """Utterance ids answered so far, in order (visual-only updates have none)."""
    return [e.utterance_id for e in probe.emotions if e.utterance_id]


def test_trailing_frames_wait_holds_answers_for_frames_after_the_stamp(
    node: NodeProcess, probe: Probe
) -> None:
    """The node's release timer: with trailing_frames_wait_s, frames stamped up to stamp + window_pad_s
    that arrive after the transcript are used, and answers keep their order (the hold rule itself, its
    timeout and the other cases are test_engine's)."""
    assert all(r.successful for r in set_params(probe, {"trailing_frames_wait_s": 3.0, "window_pad_s": 0.3}))
    end = stream_until_noted(probe, probe.now_ns(), face=False) + S // 100  # streaming, no face yet
    probe.transcripts.publish(transcript_msg("d9", "held", "Look at this!", end, end - S // 5))
    probe.transcripts.publish(transcript_msg("d9", "behind", "Wow.", end + 1, end))
    probe.spin_until(lambda: False, 0.3)
    assert not answered(probe), "answered before the frames after its stamp were in"
    stream_frames(probe, end + S // 30, 20, face=True)  # stamps end + 33 ms … end + 667 ms
    held = answer_for(probe, "held")
    assert held.visual_used and held.frames_used >= 1
    answer_for(probe, "behind")
    assert answered(probe) == ["held", "behind"]
