"""`ros2 launch ddvlm_ros emotion.launch.py` starts the node with its arguments and stops on SIGINT."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_node_harness import LIGHT_ENV, ROOT, Probe, model_dir, transcript_msg

from ddvlm_msgs.msg import EmotionState, Transcript

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(180)]


def launch_available() -> str | None:
    """Why `ros2 launch` cannot run here, or None when it can."""
    if shutil.which("ros2") is None:
        return "no ros2 command on PATH"
    # In a subprocess like `ros2 launch` itself: a launch/ folder on sys.path (e.g. colcon's
    # build/ddvlm_ros) can shadow an editable launch package as an empty namespace package.
    probe = subprocess.run(
        [sys.executable, "-c", "from launch import LaunchService\nfrom launch_ros.actions import Node"],
        cwd="/",
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"launch/launch_ros (real or ros_compat stand-in) do not import: {probe.stderr.strip()[-200:]}"
    if not (ROOT / "install" / "share" / "ddvlm_ros" / "launch" / "emotion.launch.py").exists():
        return "emotion.launch.py is not installed; run scripts/setup.sh"
    return None


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_launch_starts_node_with_arguments_and_stops_on_sigint(tmp_path: Path, ros_domain: int) -> None:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    log = open(tmp_path / "launch.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            "ros2",
            "launch",
            "ddvlm_ros",
            "emotion.launch.py",
            f"model_dir:={model_dir()}",
            "namespace:=/L",
            "transcript_topic:=asr/text",
            "emotion_topic:=mood",
            "log_level:=info",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **LIGHT_ENV},
        cwd=ROOT,
        start_new_session=True,
    )
    probe = Probe(namespace="/L")
    try:
        moods: list[EmotionState] = []
        mood_sub = probe.node.create_subscription(EmotionState, "mood", moods.append, 10)
        pub = probe.node.create_publisher(Transcript, "asr/text", 10)

        def matched() -> bool:  # both directions: a mood sent before our reader matched would be lost
            return pub.get_subscription_count() > 0 and mood_sub.get_publisher_count() > 0

        assert probe.spin_until(matched, 60), (
            f"node never matched /L/asr/text, /L/mood:\n{(tmp_path / 'launch.log').read_text()[-3000:]}"
        )
        probe.spin_until(lambda: False, 0.5)
        pub.publish(transcript_msg("c1", "u1", "We did it!", probe.now_ns(), 0))
        assert probe.spin_until(lambda: bool(moods), 15), "no EmotionState on /L/mood"
        assert moods[0].utterance_id == "u1" and moods[0].conversation_id == "c1"
        kids = children(proc.pid)
        assert kids, "ros2 launch has no child process"
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            pytest.fail("ros2 launch did not exit within 30 s of SIGINT")
        deadline = time.monotonic() + 5
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(k) for k in kids), "node process outlived ros2 launch"
        assert rc == 0, f"ros2 launch exited {rc}:\n{(tmp_path / 'launch.log').read_text()[-3000:]}"
    finally:
        probe.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
