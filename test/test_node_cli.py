"""The ros2 command line against the real emotion_node over loopback DDS: what a user types first."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_node_harness import NodeProcess, model_dir

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(180)]


def ros2(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def node(tmp_path: Path, ros_domain: int) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path / "node.log", {"model_dir": model_dir(), "face_detection_rate_hz": 0.0})
    try:
        deadline = time.monotonic() + 60
        while ros2("param", "get", "/emotion_node", "context_turns", "--timeout", "2").returncode != 0:
            assert proc.alive(), proc.log()
            assert time.monotonic() < deadline, "emotion_node did not come up:\n" + proc.log()
        yield proc
    finally:
        assert proc.stop() == 0, proc.log()


def test_param_set_live_value_is_applied_and_bad_values_are_refused(node: NodeProcess) -> None:
    result = ros2("param", "set", "/emotion_node", "context_turns", "1")
    assert (result.returncode, result.stdout.strip()) == (0, "Set parameter successful")
    assert ros2("param", "get", "/emotion_node", "context_turns").stdout.strip() == "Integer value is: 1"
    assert "parameter context_turns = 1 applied" in node.log()

    # A refused value: upstream `ros2 param set` says why on stderr and still exits 0.
    restart_only = ros2("param", "set", "/emotion_node", "threads", "2")
    assert "threads is read at start only" in restart_only.stderr, restart_only
    out_of_range = ros2("param", "set", "/emotion_node", "frames_per_utterance", "999")
    assert out_of_range.stderr.startswith("Setting parameter failed"), out_of_range
    assert "Set parameter successful" not in restart_only.stdout + out_of_range.stdout
    assert ros2("param", "get", "/emotion_node", "threads").stdout.strip() == "Integer value is: 1"


def test_topic_pub_transcript_gets_an_emotion_on_topic_echo(node: NodeProcess) -> None:
    echo = subprocess.Popen(
        ["ros2", "topic", "echo", "--once", "--timeout", "60", "/emotion", "ddvlm_msgs/msg/EmotionState"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    values = (
        "{conversation_id: demo, utterance_id: u1, speaker: Ross, text: 'We were on a break!', "
        "is_final: true}"
    )
    # -w 1: publish once the node's subscription has matched (upstream option). The echo's own match with
    # the node's /emotion publisher can take seconds on a loaded machine and a volatile reader misses what
    # was published before it matched, so keep publishing, one Transcript a second, until echo has one.
    deadline = time.monotonic() + 60
    while echo.poll() is None and time.monotonic() < deadline:
        pub = ros2(
            "topic", "pub", "-w", "1", "--times", "1", "/transcript", "ddvlm_msgs/msg/Transcript", values
        )
        assert pub.returncode == 0, pub.stderr
        time.sleep(1.0)
    out, err = echo.communicate(timeout=90)
    assert echo.returncode == 0, err + node.log()
    state = yaml.safe_load(out.partition("---")[0])
    assert (state["conversation_id"], state["utterance_id"], state["speaker"]) == ("demo", "u1", "Ross")
    assert (
        state["emotion"] in state["labels"] and state["text_used"] is True and state["visual_used"] is False
    )
    assert abs(sum(state["probabilities"]) - 1.0) < 1e-4 and state["backend"] == "onnxruntime"
