"""`ros2 topic pub` → `ros2 topic echo` between real processes over loopback DDS."""

from __future__ import annotations

import subprocess
import time

import yaml


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["ros2", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def echo_once_while_publishing(topic: str, msg_type: str, values: str) -> dict:
    echo = start("topic", "echo", "--once", "--timeout", "40", topic, msg_type)
    time.sleep(1.0)
    pub = subprocess.run(
        ["ros2", "topic", "pub", "--times", "20", "-r", "5", topic, msg_type, values],
        capture_output=True, text=True, timeout=60,
    )
    out, err = echo.communicate(timeout=60)
    assert pub.returncode == 0, pub.stderr
    assert echo.returncode == 0, err
    document, separator, _ = out.partition("---")
    assert separator, out
    return yaml.safe_load(document)


def test_pub_echo_std_string(ros_domain: int) -> None:
    assert echo_once_while_publishing("/chatter", "std_msgs/msg/String", "{data: hello robot}") == {
        "data": "hello robot"
    }


def test_pub_echo_transcript_nested_fields(ros_domain: int) -> None:
    values = (
        "{header: {frame_id: mic}, conversation_id: c1, utterance_id: u3, "
        "text: 'Oh. My. God.', is_final: true}"
    )
    echoed = echo_once_while_publishing("transcript", "ddvlm_msgs/msg/Transcript", values)
    assert echoed["header"]["frame_id"] == "mic"
    assert (echoed["utterance_id"], echoed["text"], echoed["is_final"]) == ("u3", "Oh. My. God.", True)


def test_pub_rejects_unknown_field(ros_domain: int) -> None:
    result = subprocess.run(
        ["ros2", "topic", "pub", "--once", "/x", "std_msgs/msg/String", "{nope: 1}"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 1
    assert "no field 'nope'" in result.stderr


def test_list_shows_publisher_topic_with_type(ros_domain: int) -> None:
    pub = start("topic", "pub", "-r", "5", "/listed_topic", "std_msgs/msg/String", "{data: x}")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            listing = subprocess.run(
                ["ros2", "topic", "list", "-t"], capture_output=True, text=True, timeout=30
            )
            if "/listed_topic [std_msgs/msg/String]" in listing.stdout.splitlines():
                return
        raise AssertionError(f"topic not listed: {listing.stdout}")
    finally:
        pub.terminate()
        pub.wait(timeout=10)


def test_hz_reports_the_publishing_rate(ros_domain: int) -> None:
    pub = start("topic", "pub", "-r", "10", "/ticks", "std_msgs/msg/String", "{data: tick}")
    try:
        time.sleep(1.0)
        hz = subprocess.run(
            ["ros2", "topic", "hz", "--duration", "4", "/ticks"], capture_output=True, text=True, timeout=60
        )
    finally:
        pub.terminate()
        pub.wait(timeout=10)
    assert hz.returncode == 0, hz.stderr
    rates = [float(line.split(":")[1]) for line in hz.stdout.splitlines() if line.startswith("average rate:")]
    assert rates, hz.stdout
    assert 7.0 < rates[-1] < 13.0, hz.stdout  # 10 Hz from a Python timer loop on a busy 2-core machine
