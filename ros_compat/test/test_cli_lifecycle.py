"""`ros2 lifecycle nodes|get|list|set` against a real rclpy lifecycle node over loopback DDS
(outputs as upstream: `<label> [<id>]`, `- <transition> [<id>]`, "Transitioning successful")."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

NODE = r"""
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn


class Managed(LifecycleNode):
    def on_configure(self, state):
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        return super().on_activate(state)

    def on_cleanup(self, state):
        return TransitionCallbackReturn.FAILURE  # so that a failed transition can be seen


rclpy.init()
node = Managed("managed", namespace="/robot")
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def ros2(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def managed(ros_domain: int) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", NODE])
    try:
        deadline = time.monotonic() + 30
        while ros2("lifecycle", "get", "/robot/managed", "--timeout", "2").returncode != 0:
            assert time.monotonic() < deadline, "lifecycle node did not come up"
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=3)  # it exits in ~0.2 s; a stalled DDS teardown is not under test
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_lifecycle_get_set_list_nodes(managed: None) -> None:
    assert ros2("lifecycle", "get", "/robot/managed").stdout.strip() == "unconfigured [1]"
    listing = ros2("lifecycle", "list", "/robot/managed").stdout
    assert "- configure [1]\n\tStart: unconfigured\n\tGoal: configuring" in listing
    result = ros2("lifecycle", "set", "/robot/managed", "configure")
    assert (result.returncode, result.stdout.strip()) == (0, "Transitioning successful")
    assert ros2("lifecycle", "get", "/robot/managed").stdout.strip() == "inactive [2]"
    result = ros2("lifecycle", "set", "/robot/managed", "3")  # by id: activate
    assert result.returncode == 0
    assert ros2("lifecycle", "get", "/robot/managed").stdout.strip() == "active [3]"
    unknown = ros2("lifecycle", "set", "/robot/managed", "configure")  # not available when active
    assert unknown.returncode == 1 and "Unknown transition requested" in unknown.stderr
    assert "- deactivate [4]" in unknown.stderr
    assert ros2("lifecycle", "set", "/robot/managed", "deactivate").returncode == 0
    failed = ros2("lifecycle", "set", "/robot/managed", "cleanup")  # on_cleanup returns FAILURE
    assert failed.returncode == 1 and "Transitioning failed" in failed.stderr
    # without a daemon, `nodes` lists what discovery found within --spin-time: on a loaded machine a
    # fresh process can need more than one try to see all of the node's services
    deadline = time.monotonic() + 30
    while True:
        nodes = ros2("lifecycle", "nodes", "--spin-time", "2")
        if "/robot/managed" in nodes.stdout.splitlines() or time.monotonic() > deadline:
            break
    assert nodes.returncode == 0 and nodes.stdout.splitlines() == ["/robot/managed"], nodes


def test_lifecycle_get_of_a_missing_node_is_a_message(ros_domain: int) -> None:
    result = ros2("lifecycle", "get", "/nobody", "--timeout", "1")
    assert (
        result.returncode == 1 and "Traceback" not in result.stderr and "/nobody/get_state" in result.stderr
    )
