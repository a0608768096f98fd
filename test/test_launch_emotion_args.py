"""emotion.launch.py arguments through `ros2 launch`: readable --show-args, typed parameter overrides that
leave the config file's other values alone, the DDS profile reaching the node, respawn after a kill,
and clear errors for bad values."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from rcl_interfaces.srv import GetParameters
from rclpy.parameter import parameter_value_to_python
from test_launch_emotion import alive, children, launch_available
from test_node_harness import LIGHT_ENV, ROOT, Probe, model_dir, stop_group, transcript_msg

pytestmark = [pytest.mark.dds, pytest.mark.slow, pytest.mark.timeout(240)]

INSTALLED_CONFIG = ROOT / "install" / "share" / "ddvlm_ros" / "config"


def ros2_launch(*arguments: str, log: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        ["ros2", "launch", "ddvlm_ros", "emotion.launch.py", *arguments],
        stdout=open(log, "w") if log else subprocess.PIPE,  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env={**os.environ, **LIGHT_ENV},
        cwd=ROOT,
        start_new_session=True,
        text=True,
    )


def get_parameters(probe: Probe, node: str, names: list[str]) -> dict[str, object]:
    answer = probe.call(GetParameters, f"{node}/get_parameters", GetParameters.Request(names=names), 20)
    return {n: parameter_value_to_python(v) for n, v in zip(names, answer.values, strict=True)}


def answered(probe: Probe, utterance: str, timeout: float = 30) -> bool:
    """Publish one final transcript (again each second until matched and answered)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if probe.transcripts.get_subscription_count() > 0:
            probe.transcripts.publish(transcript_msg("c", utterance, "Great news!", probe.now_ns()))
        if probe.spin_until(lambda: any(e.utterance_id == utterance for e in probe.emotions), 1.0):
            return True
    return False


def test_show_args_lists_parameters_respawn_and_profile_with_plain_defaults() -> None:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    proc = ros2_launch("--show-args")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    for name in (
        "use_compressed",
        "face_detection_rate_hz",
        "respawn",
        "respawn_delay",
        "dds_profile",
        "config",
    ):
        assert f"'{name}':" in out, f"{name} is not a launch argument:\n{out}"
    defaults = re.findall(r"\(default: '(.*)'\)", out)
    assert defaults and not [d for d in defaults if "object at" in d or d.startswith("<")], out
    config_default = re.search(r"'config':\n.*\n\s+\(default: '(.*)'\)", out).group(1)
    assert Path(config_default).is_file(), config_default
    # The config's own value is shown next to each parameter argument.
    assert "config/emotion.yaml: 5.0" in out and "config/emotion.yaml: false" in out, out


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("face_detection_rate_hz:=fast", "face_detection_rate_hz:='fast' must be a float"),
        ("use_compressed:=yes", "use_compressed:='yes' must be true or false"),
        ("config:=/nonexistent/emotion.yaml", "config:='/nonexistent/emotion.yaml' is not a file"),
        ("dds_profile:=/nonexistent.xml", "dds_profile:='/nonexistent.xml'"),
        ("respawn_delay:=-1", "respawn_delay:=-1.0 must be >= 0"),
    ],
)
def test_bad_argument_values_stop_the_launch_naming_the_argument(argument: str, message: str) -> None:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    proc = ros2_launch(argument, f"model_dir:={model_dir()}")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and message in out, out


def test_overrides_profile_and_respawn(tmp_path: Path, ros_domain: int) -> None:
    reason = launch_available()
    if reason:
        pytest.skip(reason)
    config = yaml.safe_load((INSTALLED_CONFIG / "emotion.yaml").read_text())
    config["/**"]["ros__parameters"].update({"face_detection_rate_hz": 1.5, "visual_rate_hz": 0.5})
    config_path = tmp_path / "my_emotion.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log = tmp_path / "launch.log"
    proc = ros2_launch(
        f"config:={config_path}",
        f"model_dir:={model_dir()}",
        "face_detection_rate_hz:=2",  # an int on the command line for a double parameter
        "use_compressed:=true",
        "context_turns:=2",
        "dds_profile:=shm",
        "respawn:=true",
        "respawn_delay:=0.5",
        log=log,
    )
    probe = Probe()
    try:
        probe.wait_for_node(60)
        values = get_parameters(
            probe,
            "/emotion_node",
            ["face_detection_rate_hz", "use_compressed", "context_turns", "visual_rate_hz", "backend"],
        )
        assert values == {
            "face_detection_rate_hz": 2.0,
            "use_compressed": True,
            "context_turns": 2,
            "visual_rate_hz": 0.5,  # from the config file: not overridden by an unset argument
            "backend": config["/**"]["ros__parameters"]["backend"],
        }, values
        (node_pid,) = children(proc.pid)
        environ = dict(
            item.split("=", 1)
            for item in Path(f"/proc/{node_pid}/environ").read_text().split("\0")
            if "=" in item
        )
        profile = INSTALLED_CONFIG / "fastdds_shm.xml"
        assert Path(environ["FASTRTPS_DEFAULT_PROFILES_FILE"]).resolve() == profile.resolve()
        assert answered(probe, "before-kill"), log.read_text()[-3000:]

        os.kill(node_pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not [k for k in children(proc.pid) if k != node_pid]:
            time.sleep(0.1)
        assert not alive(node_pid)
        assert [k for k in children(proc.pid) if k != node_pid], (
            f"node not respawned:\n{log.read_text()[-3000:]}"
        )
        assert answered(probe, "after-respawn", timeout=60), log.read_text()[-3000:]
        kids = children(proc.pid)
        stop_group(proc)
        assert proc.returncode is not None
        time.sleep(0.5)
        assert not any(alive(k) for k in kids), "node outlived ros2 launch"
    finally:
        probe.close()
        stop_group(proc)
