"""`ros2 topic pub` → `ros2 topic echo` between real processes over loopback DDS."""

from __future__ import annotations

import subprocess
import time

import pytest
import yaml


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["ros2", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def echo_once_while_publishing(topic: str, msg_type: str, values: str) -> dict:
    echo = start("topic", "echo", "--once", "--timeout", "40", topic, msg_type)
    time.sleep(1.0)
    pub = subprocess.run(
        ["ros2", "topic", "pub", "--times", "20", "-r", "5", topic, msg_type, values],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out, err = echo.communicate(timeout=60)
    assert pub.returncode == 0, pub.stderr
    assert echo.returncode == 0, err
    document, separator, _ = out.partition("---")
    assert separator, out
    return yaml.safe_load(document)


@pytest.mark.slow
def test_pub_echo_std_string(ros_domain: int) -> None:
    assert echo_once_while_publishing("/chatter", "std_msgs/msg/String", "{data: hello robot}") == {
        "data": "hello robot"
    }


@pytest.mark.slow
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
        capture_output=True,
        text=True,
        timeout=30,
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


@pytest.mark.slow
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


def test_pub_prints_every_message_and_honours_print_stdin_and_node_name(ros_domain: int) -> None:
    """Upstream prints `publishing #N: <msg>` for every N-th message (-p N), reads --stdin values,
    and names its node with -n."""
    result = subprocess.run(
        [
            "ros2",
            "topic",
            "pub",
            "-t",
            "3",
            "-r",
            "20",
            "-w",
            "0",
            "/counted",
            "std_msgs/msg/String",
            "{data: a}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("publishing")] == [
        "publishing #1",
        "publishing #2",
        "publishing #3",
    ]
    result = subprocess.run(
        [
            "ros2",
            "topic",
            "pub",
            "-t",
            "4",
            "-p",
            "2",
            "-r",
            "20",
            "-w",
            "0",
            "--stdin",
            "/counted",
            "std_msgs/msg/String",
        ],
        input="data: from stdin\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("publishing")]
    assert [line.split(":")[0] for line in lines] == ["publishing #1", "publishing #3"]
    assert "from stdin" in lines[0]
    pub = start("topic", "pub", "-n", "my_pub_node", "-r", "5", "/named", "std_msgs/msg/String", "{data: x}")
    try:
        deadline = time.monotonic() + 20
        listing = ""
        while time.monotonic() < deadline and "/my_pub_node" not in listing:
            listing = subprocess.run(
                ["ros2", "node", "list"], capture_output=True, text=True, timeout=30
            ).stdout
        assert "/my_pub_node" in listing.splitlines(), listing
    finally:
        pub.terminate()
        pub.wait(timeout=10)


def test_pub_once_reaches_a_transient_local_subscriber(ros_domain: int) -> None:
    """A transient-local reader never matches a volatile writer; pub --once must not wait forever."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("latched_listener", context=context)
    got: list[str] = []
    node.create_subscription(
        String,
        "/latched",
        lambda m: got.append(m.data),
        QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL),
    )
    try:
        pub = start("topic", "pub", "--once", "/latched", "std_msgs/msg/String", "{data: latched}")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and (pub.poll() is None or not got):
            _spin(node, context)
        out, err = pub.communicate(timeout=30)
        assert pub.returncode == 0, err
        assert got == ["latched"], (out, err)
        # an explicit --qos-durability is honoured as given (and then the wait is the user's choice)
        explicit = subprocess.run(
            [
                "ros2",
                "topic",
                "pub",
                "--once",
                "--qos-durability",
                "transient_local",
                "/latched",
                "std_msgs/msg/String",
                "{data: again}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert explicit.returncode == 0, explicit.stderr
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def _spin(node, context) -> None:
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.spin_once(timeout_sec=0.1)
    executor.remove_node(node)


def test_echo_bad_field_is_a_clear_error(ros_domain: int) -> None:
    result = subprocess.run(
        ["ros2", "topic", "echo", "--once", "--field", "nope", "/x", "std_msgs/msg/String"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Invalid field value 'nope'" in result.stderr and "data" in result.stderr
