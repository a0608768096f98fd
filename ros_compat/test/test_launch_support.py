"""Helpers for the launch/run tests: a throw-away ament prefix with a tiny rclpy package.

`launch_test_pkg` has executables `param_talker` (publishes its name, namespace and parameters on
the relative topic `chatter`) and `echo_args` (prints pid and argv, exits with code 5), and a
launch file `share/launch_test_pkg/launch/talker.launch.py` written the upstream way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "launch_test_pkg"
ROS_COMPAT = Path(__file__).resolve().parents[1]
REPO = ROS_COMPAT.parent

PARAM_TALKER = """
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import String


def main():
    rclpy.init()
    node = Node("param_talker")
    greeting = node.declare_parameter("greeting", "default").value
    count = node.declare_parameter("count", 0).value
    pub = node.create_publisher(String, "chatter", 10)
    text = f"{node.get_name()}|{node.get_namespace()}|{greeting}|{count}|{type(count).__name__}"
    node.create_timer(0.1, lambda: pub.publish(String(data=text)))
    print("param_talker up", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print("param_talker stopping", flush=True)


main()
"""

ECHO_ARGS = """
import os, sys
print("pid", os.getpid(), "argv", sys.argv[1:], flush=True)
sys.exit(5)
"""

TALKER_LAUNCH = """
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare
from launch.substitutions import PathJoinSubstitution


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("greeting", default_value="hello", description="greeting parameter"),
        DeclareLaunchArgument("topic", default_value="remapped_chatter", description="output topic"),
        Node(
            package="launch_test_pkg",
            executable="param_talker",
            name="talker",
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            parameters=[
                PathJoinSubstitution([FindPackageShare("launch_test_pkg"), "config", "params.yaml"]),
                {"greeting": LaunchConfiguration("greeting")},
            ],
            remappings=[("chatter", LaunchConfiguration("topic"))],
        ),
    ])
"""


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)


def make_ament_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Create <tmp>/prefix as an ament prefix holding launch_test_pkg; put it first on AMENT_PREFIX_PATH."""
    prefix = tmp_path / "prefix"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / PACKAGE).write_text("")
    lib = prefix / "lib" / PACKAGE
    lib.mkdir(parents=True)
    _script(lib / "param_talker", PARAM_TALKER)
    _script(lib / "echo_args", ECHO_ARGS)
    share = prefix / "share" / PACKAGE
    (share / "launch").mkdir(parents=True)
    (share / "config").mkdir()
    (share / "launch" / "talker.launch.py").write_text(TALKER_LAUNCH)
    (share / "config" / "params.yaml").write_text(
        "/**:\n  ros__parameters:\n    greeting: from-file\n    count: 7\n"
    )
    monkeypatch.setenv(
        "AMENT_PREFIX_PATH", os.pathsep.join(filter(None, [str(prefix), os.environ.get("AMENT_PREFIX_PATH")]))
    )
    return prefix


def child_env() -> dict[str, str]:
    """Environment for `ros2` subprocesses; ros_compat first on PYTHONPATH so that the repo's launch/
    folder (a namespace-package candidate) cannot shadow the `launch` package (see the import test)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROS_COMPAT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def ros2(*args: str, **kwargs) -> subprocess.Popen:
    """Start `ros2 ARGS` (the console script of this environment) with output captured."""
    return subprocess.Popen(
        ["ros2", *args],
        env=child_env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )
