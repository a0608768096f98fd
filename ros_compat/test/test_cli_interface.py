"""`ros2 interface show` prints the installed definition, as upstream does."""

from __future__ import annotations

import subprocess


def ros2(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=60)


def test_show_emotion_state_prints_public_fields() -> None:
    result = ros2("interface", "show", "ddvlm_msgs/msg/EmotionState")
    assert result.returncode == 0, result.stderr
    for line in ("string emotion", "float32[] probabilities", "uint32 frames_used", "string NEUTRAL=neutral"):
        assert line in result.stdout


def test_show_accepts_short_form_and_std_types() -> None:
    result = ros2("interface", "show", "std_msgs/String")
    assert result.returncode == 0, result.stderr
    assert "string data" in result.stdout


def test_unknown_type_fails_with_message() -> None:
    result = ros2("interface", "show", "ddvlm_msgs/msg/NoSuchType")
    assert result.returncode == 1
    assert "NoSuchType" in result.stderr


def test_list_includes_ddvlm_msgs() -> None:
    result = ros2("interface", "list")
    assert result.returncode == 0
    assert "ddvlm_msgs/msg/Transcript" in result.stdout.splitlines()
