"""Offline replay: a bag fed straight into an EmotionEngine, in bag order, as fast as it answers.

No rclpy node and no DDS: the engine's clocks follow the bag (each message's recorded time), frames are
analysed before the next message is fed, and the engine's own hold rule decides when a transcript waits
for its trailing frames; so the answers are deterministic and the same the node gives over DDS.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from ddvlm_ros.conversions import emotion_state, offer_frame, utterance
from ddvlm_ros.engine import Answer, EmotionEngine, EmotionResult, EngineSettings, Model
from ddvlm_ros.node_params import defaults, validated
from ddvlm_ros.replay.bagfile import BagReader
from ddvlm_ros.replay.evaluator import ReplayResult, ReplayTopics, answer_key
from ddvlm_ros.runtime_model import resolve_model_dir


def load_node_parameters(params_file: str | Path) -> dict[str, Any]:
    """The emotion_node parameters of a ROS parameter YAML (`/**` or `emotion_node` section), checked
    as the node checks them; parameters the file leaves out take their declared defaults."""
    doc = yaml.safe_load(Path(params_file).read_text()) or {}
    values: dict[str, Any] = {}
    for section in ("/**", "emotion_node", "/emotion_node"):
        values.update((doc.get(section) or {}).get("ros__parameters", {}))
    try:
        return {**defaults(), **validated(values)}
    except ValueError as err:
        raise ValueError(f"{params_file}: {err}") from err


class BagClock:
    """The engine's clocks during replay: the recorded time of the message being fed."""

    def __init__(self) -> None:
        self.ns = 0

    def now_ns(self) -> int:
        return self.ns

    def wall_s(self) -> float:
        return self.ns / 1e9


def replay_offline(
    reader: BagReader,
    topics: ReplayTopics,
    params_file: str | Path,
    model_dir: str | None = None,
    backend: str | None = None,
) -> ReplayResult:
    """Feed the bag's transcripts and frames to an in-process EmotionEngine and collect its answers."""
    params = load_node_parameters(params_file)
    if model_dir:
        params["model_dir"] = model_dir
    if backend:
        params["backend"] = backend
    model_path = resolve_model_dir(params["model_dir"])
    model = Model.load(
        model_path, params["backend"], params["threads"], None, params["precision"], params["face_detector"]
    )
    clock = BagClock()
    engine = EmotionEngine(model, EngineSettings.from_values(params), clock.now_ns, clock.wall_s)
    result = ReplayResult(mode="offline")

    def record(answers: list[Answer]) -> None:
        for answer in answers:
            if isinstance(answer, EmotionResult):
                out = emotion_state(answer)
                result.record_answer(answer_key(out), time.perf_counter(), out)

    t0 = time.perf_counter()
    try:
        for m in reader.messages(topics.played):
            clock.ns = m.stamp_ns
            result.played[m.topic] += 1
            if m.topic == topics.image:
                offered = offer_frame(engine.frames, m.msg, params["max_image_pixels"])
                if offered is not None:
                    event, image = offered
                    engine.note_frame(event if image is None else engine.frames.analyse(event, image))
                record(engine.release())
                continue
            if m.msg.is_final:  # partial ones go to the engine too, as over DDS, but expect no answer
                result.sent[answer_key(m.msg)] = (time.perf_counter(), m.msg)
            record(engine.submit(utterance(m.msg)))
        record(engine.flush())
    finally:
        result.wall_s = time.perf_counter() - t0
    return result
