"""emotion_node as a managed lifecycle node, launched with `ros2 launch ddvlm_ros emotion.launch.py
lifecycle:=true` and driven over loopback DDS through its lifecycle services (once with `ros2 lifecycle
set`, as a user would; the CLI itself is tested in ros_compat/test): configure loads the model, activate
answers, deactivate stops answering (counted in /diagnostics), cleanup frees the model; autostart
(default true) gives a working node without lifecycle tooling."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from test_launch_emotion import launch_available
from test_node_harness import LIGHT_ENV, ROOT, Probe, model_dir, transcript_msg

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(240)]
NODE = "/LC/emotion_node"


def ros2(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=90, cwd=ROOT)


def _launch(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, object]:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    if not (ROOT / "install" / "lib" / "ddvlm_ros" / "emotion_lifecycle_node").exists():
        pytest.skip("emotion_lifecycle_node is not installed; run scripts/setup.sh")
    log = open(tmp_path / "launch.log", "w")  # noqa: SIM115 - closed by _stop
    proc = subprocess.Popen(
        [
            "ros2",
            "launch",
            "ddvlm_ros",
            "emotion.launch.py",
            f"model_dir:={model_dir()}",
            "namespace:=/LC",
            "lifecycle:=true",
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **LIGHT_ENV},
        cwd=ROOT,
        start_new_session=True,
    )
    return proc, log


def _stop(proc: subprocess.Popen, log: object, tmp_path: Path) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    log.close()
    return (tmp_path / "launch.log").read_text()


class Lifecycle:
    """The node's ~/get_state and ~/change_state services, called from the probe (no CLI process each)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def state(self, timeout: float = 60.0) -> str:
        s = self.probe.call(GetState, f"{NODE}/get_state", GetState.Request(), timeout).current_state
        return f"{s.label} [{s.id}]"

    def set(self, transition: int, timeout: float = 60.0) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition
        return bool(self.probe.call(ChangeState, f"{NODE}/change_state", request, timeout).success)


def _answers(probe: Probe, pub, moods: list, utterance: str) -> bool:
    before = len(moods)
    pub.publish(transcript_msg("c1", utterance, "We did it!", probe.now_ns(), 0))
    return probe.spin_until(lambda: len(moods) > before, 8)


def test_managed_transitions_over_dds(tmp_path: Path, ros_domain: int) -> None:
    proc, log = _launch(tmp_path, "autostart:=false")
    probe = Probe(namespace="/LC")
    diagnostics: list[DiagnosticArray] = []
    probe.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    pub, moods = probe.transcripts, probe.emotions
    lifecycle = Lifecycle(probe)
    try:
        assert lifecycle.state() == "unconfigured [1]", _stop(proc, log, tmp_path)[-3000:]
        assert pub.get_subscription_count() == 0  # nothing subscribed before activation
        set_ = ros2("lifecycle", "set", NODE, "configure")
        assert set_.stdout.strip() == "Transitioning successful", set_.stderr
        assert lifecycle.state() == "inactive [2]"
        assert lifecycle.set(Transition.TRANSITION_ACTIVATE)
        assert lifecycle.state() == "active [3]"
        assert probe.spin_until(
            lambda: pub.get_subscription_count() > 0 and probe.emotion_sub.get_publisher_count() > 0, 30
        )
        probe.spin_until(lambda: False, 0.5)
        assert _answers(probe, pub, moods, "u1"), "active node did not answer"
        assert lifecycle.set(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.state() == "inactive [2]"

        def ignored() -> int:
            for array in diagnostics:
                for status in array.status:
                    for kv in status.values:
                        if kv.key == "count.transcripts_ignored_inactive":
                            return int(kv.value)
            return 0

        answered = len(moods)
        pub.publish(transcript_msg("c1", "u2", "We did it!", probe.now_ns(), 0))
        assert probe.spin_until(lambda: ignored() >= 1, 8), "ignored transcript not counted"
        probe.spin_until(lambda: False, 0.5)  # an answer, had there been one, came before the count
        assert len(moods) == answered, "inactive node answered"
        assert lifecycle.set(Transition.TRANSITION_ACTIVATE)
        assert _answers(probe, pub, moods, "u3"), "re-activated node did not answer"
        assert lifecycle.set(Transition.TRANSITION_DEACTIVATE)
        assert lifecycle.set(Transition.TRANSITION_CLEANUP)
        assert lifecycle.state() == "unconfigured [1]"
    finally:
        probe.close()
        output = _stop(proc, log, tmp_path)
    assert "model freed" in output and proc.returncode == 0, output[-3000:]


def test_autostart_default_gives_an_answering_node(tmp_path: Path, ros_domain: int) -> None:
    proc, log = _launch(tmp_path)
    probe = Probe(namespace="/LC")
    try:
        assert probe.spin_until(
            lambda: (
                probe.transcripts.get_subscription_count() > 0 and probe.emotion_sub.get_publisher_count() > 0
            ),
            90,
        ), _stop(proc, log, tmp_path)[-3000:]
        assert Lifecycle(probe).state() == "active [3]"
        probe.spin_until(lambda: False, 0.5)
        assert _answers(probe, probe.transcripts, probe.emotions, "u1")
    finally:
        probe.close()
        output = _stop(proc, log, tmp_path)
    assert proc.returncode == 0, output[-3000:]


def test_lifecycle_node_sets_up_every_attribute_emotion_node_does() -> None:
    """The lifecycle node borrows EmotionNode's callbacks, so it must create the same state (its
    __init__ + on_configure + activation vs EmotionNode.__init__): a new attribute there, missing here,
    would make a borrowed callback fail at run time."""
    import ast
    import inspect

    from ddvlm_ros import emotion_node, lifecycle_node

    def assigned(function) -> set[str]:
        tree = ast.parse(inspect.getsource(function).lstrip().replace("\n    ", "\n"))
        return {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        }

    needed = assigned(emotion_node.EmotionNode.__init__)
    lc = lifecycle_node.LifecycleEmotionNode
    provided = set().union(
        *(assigned(f) for f in (lc.__init__, lc.on_configure, lc.on_activate, lc._make_subscriptions))
    )
    assert needed - provided == set()
