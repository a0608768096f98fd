"""`ros2 param set|get|list|dump` against a real node whose on-set callback validates values."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

NODE = r"""
import rclpy
import rclpy.executors
from rcl_interfaces.msg import SetParametersResult
rclpy.init()
node = rclpy.create_node("validator")
node.declare_parameter("rate_hz", 5.0)
node.declare_parameter("label", "neutral")
def check(params):
    for p in params:
        if p.name == "rate_hz" and not 0.0 <= p.value <= 30.0:
            return SetParametersResult(successful=False, reason="rate_hz must be in [0, 30]")
    return SetParametersResult(successful=True)
node.add_on_set_parameters_callback(check)
try:
    rclpy.spin(node)
except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
    pass
"""


def ros2(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def validator(ros_domain: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", NODE])
    try:
        deadline = time.monotonic() + 20
        while ros2("param", "list", "/validator", "--timeout", "2").returncode != 0:
            assert time.monotonic() < deadline, "validator node did not come up"
        yield
    finally:
        # The validator is scaffolding (its own clean shutdown is not under test): a DDS teardown that
        # stalls on a loaded machine must not fail a test about `ros2 param`.
        proc.terminate()
        try:
            proc.wait(timeout=3)  # it exits in ~0.2 s; a stalled DDS teardown is not under test
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_set_accepted_then_get(validator: None) -> None:
    result = ros2("param", "set", "/validator", "rate_hz", "12.5")
    assert (result.returncode, result.stdout.strip()) == (0, "Set parameter successful")
    assert ros2("param", "get", "/validator", "rate_hz").stdout.strip() == "Double value is: 12.5"


def test_set_rejected_prints_node_reason(validator: None) -> None:
    """Upstream ros2 param set prints the failure and the node's reason to stderr and exits 0."""
    result = ros2("param", "set", "/validator", "rate_hz", "99.0")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr.strip() == "Setting parameter failed: rate_hz must be in [0, 30]"
    assert ros2("param", "get", "/validator", "rate_hz").stdout.strip() == "Double value is: 5.0"


def test_list_and_dump(validator: None) -> None:
    listing = ros2("param", "list", "validator").stdout.split()
    assert {"label", "rate_hz"} <= set(listing)
    dump = ros2("param", "dump", "/validator").stdout
    assert "label: neutral" in dump and "rate_hz: 5.0" in dump


@pytest.mark.slow
def test_node_list_shows_validator(validator: None) -> None:
    listing = ros2("node", "list", "--spin-time", "3")
    assert "/validator" in listing.stdout.splitlines(), listing


def test_get_unknown_parameter_is_a_message_not_a_crash(validator: None) -> None:
    result = ros2("param", "get", "/validator", "no_such_param")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Parameter not set" in result.stderr


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("'5'", "string_value", "5"),  # YAML quotes are removed (upstream)
        ("5", "integer_value", 5),
        ("5.0", "double_value", 5.0),
        ("true", "bool_value", True),
        ("[1, 2]", "integer_array_value", [1, 2]),
        ("[1.0, 2.5]", "double_array_value", [1.0, 2.5]),
        ("[a, b]", "string_array_value", ["a", "b"]),
        ("[1, 2.0]", "string_value", "[1, 2.0]"),  # mixed list: the text as given
        ("~", "string_value", "~"),
        ("{a: 1}", "string_value", "{a: 1}"),
        ("", "string_value", ""),
    ],
)
def test_set_value_typing_matches_upstream(text: str, field: str, expected: object) -> None:
    from ros2cli_compat.verb_param import value_from_string

    value = getattr(value_from_string(text), field)
    assert (list(value) if not isinstance(value, bool | int | float | str) else value) == expected
