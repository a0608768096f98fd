"""Upstream launch/launch_ros behaviours added for real launch files: the event system, OpaqueFunction,
computed substitutions, scoped ROS settings, argument listing, clear load errors, LifecycleNode over
DDS, and the composable-node fallback. Each test names the upstream behaviour it checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from launch import LaunchContext, LaunchDescription, LaunchService
from launch.actions import (
    AppendEnvironmentVariable,
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    GroupAction,
    LogInfo,
    OpaqueFunction,
    RegisterEventHandler,
    SetLaunchConfiguration,
    UnsetEnvironmentVariable,
    UnsetLaunchConfiguration,
)
from launch.conditions import IfCondition, LaunchConfigurationEquals, LaunchConfigurationNotEquals
from launch.event_handlers import OnProcessExit, OnProcessStart, OnShutdown
from launch.events import Shutdown
from launch.substitutions import (
    Command,
    EqualsSubstitution,
    FileContent,
    LaunchConfiguration,
    NotEqualsSubstitution,
    PythonExpression,
)
from launch_ros.actions import Node, PushROSNamespace, SetParameter, SetRemap
from launch_ros.descriptions import Parameter, ParameterValue
from test_launch_support import child_env, make_ament_prefix, ros2

pytestmark = pytest.mark.timeout(120)
PY = sys.executable


def _service(entities: list) -> LaunchService:
    service = LaunchService()
    service.include_launch_description(LaunchDescription(entities))
    return service


def _ctx() -> LaunchContext:
    service = LaunchService()
    return service.context


def test_process_events_chain_in_order_and_exit_code_stays_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """OnProcessStart/OnProcessExit run for their target only; a child's non-zero exit is an event
    (returncode on the ProcessExited), not a launch failure: run() returns 0 (upstream)."""
    first = ExecuteProcess(cmd=[PY, "-c", "print('first')"], output="screen", name="first")
    second = ExecuteProcess(cmd=[PY, "-c", "raise SystemExit(4)"], output="screen", name="second")
    service = _service(
        [
            RegisterEventHandler(
                OnProcessStart(target_action=first, on_start=[LogInfo(msg="first started")])
            ),
            RegisterEventHandler(OnProcessExit(target_action=first, on_exit=[second])),
            RegisterEventHandler(
                OnProcessExit(
                    target_action=second,
                    on_exit=lambda event, ctx: LogInfo(msg=f"second gave {event.returncode}"),
                )
            ),
            RegisterEventHandler(OnShutdown(on_shutdown=[LogInfo(msg="bye")])),
            first,
        ]
    )
    assert service.run() == 0
    out = capsys.readouterr().out
    order = [out.index(s) for s in ("first started", "[first-", "second gave 4", "bye")]
    assert order == sorted(order), out


def test_emit_shutdown_event_stops_running_processes(capsys: pytest.CaptureFixture[str]) -> None:
    """EmitEvent(Shutdown) stops every process (SIGINT) and OnShutdown sees the reason."""
    sleeper = ExecuteProcess(cmd=[PY, "-c", "import time; time.sleep(60)"], name="sleeper")
    service = _service(
        [
            RegisterEventHandler(
                OnShutdown(on_shutdown=lambda event, ctx: LogInfo(msg=f"reason={event.reason}"))
            ),
            RegisterEventHandler(
                OnProcessStart(target_action=sleeper, on_start=[EmitEvent(event=Shutdown(reason="done"))])
            ),
            sleeper,
        ]
    )
    assert service.run() == 0
    assert "reason=done" in capsys.readouterr().out


def test_opaque_function_sees_context_and_returns_actions(capsys: pytest.CaptureFixture[str]) -> None:
    def build(context: LaunchContext, suffix: str):
        return [LogInfo(msg=f"n={context.launch_configurations['n']}{suffix}")]

    service = _service(
        [DeclareLaunchArgument("n", default_value="3"), OpaqueFunction(function=build, args=["!"])]
    )
    assert service.run() == 0
    assert "n=3!" in capsys.readouterr().out


def test_computed_substitutions(tmp_path: Path) -> None:
    ctx = _ctx()
    ctx.launch_configurations.update({"n": "3", "flag": "True"})
    assert PythonExpression(["'", LaunchConfiguration("n"), "' * 2"]).perform(ctx) == "33"
    assert (
        PythonExpression(["sqrt(", LaunchConfiguration("n"), " * 3)"]).perform(ctx) == "3.0"
    )  # math names bare
    assert EqualsSubstitution(LaunchConfiguration("n"), 3).perform(ctx) == "true"
    assert EqualsSubstitution(LaunchConfiguration("flag"), True).perform(ctx) == "true"
    assert NotEqualsSubstitution(LaunchConfiguration("n"), "4").perform(ctx) == "true"
    assert Command([PY, " -c \"print('hi')\""]).perform(ctx) == "hi\n"  # parts concatenate
    assert Command(["echo ", "a", "b"]).perform(ctx) == "ab\n"  # upstream concatenates, no added spaces
    (tmp_path / "f.txt").write_text("content")
    assert FileContent(str(tmp_path / "f.txt")).perform(ctx) == "content"
    assert LaunchConfigurationEquals("n", "3").evaluate(ctx)
    assert LaunchConfigurationNotEquals("n", "4").evaluate(ctx)


def test_environment_and_configuration_actions() -> None:
    service = _service(
        [
            AppendEnvironmentVariable("DDVLM_T", "a"),
            AppendEnvironmentVariable("DDVLM_T", "b"),
            AppendEnvironmentVariable("DDVLM_T", "z", prepend=True),
            SetLaunchConfiguration("gone", "1"),
            UnsetLaunchConfiguration("gone"),
            UnsetEnvironmentVariable("HOME"),
        ]
    )
    assert service.run() == 0
    assert service.context.environment["DDVLM_T"] == "z:a:b"
    assert "HOME" not in service.context.environment
    assert "gone" not in service.context.launch_configurations


def test_argument_condition_is_honoured() -> None:
    """An argument with a false condition= is not processed: no 'missing required argument' error."""
    service = _service([DeclareLaunchArgument("needed", condition=IfCondition("false")), LogInfo(msg="x")])
    assert service.run() == 0
    service = _service([DeclareLaunchArgument("needed", condition=IfCondition("true"))])
    assert service.run() == 1


def test_scoped_ros_settings_reach_nodes_in_the_group_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SetParameter / SetRemap / PushROSNamespace apply to later Nodes of the same GroupAction."""
    make_ament_prefix(tmp_path, monkeypatch)
    inside = Node(
        package="launch_test_pkg",
        executable="param_talker",
        name="t",
        parameters=[{"p": ParameterValue("5", value_type=str)}, Parameter("q", "2.5")],
    )
    outside = Node(package="launch_test_pkg", executable="param_talker", name="u")
    ctx = _ctx()
    group = GroupAction([PushROSNamespace("robot"), SetParameter("use_sim_time", True), SetRemap("a", "b")])
    with ctx.scope():
        for action in group.actions:
            action.visit(ctx)
        cmd = inside._expand_cmd(ctx)
    assert "__ns:=/robot" in " ".join(cmd) and "a:=b" in cmd
    files = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--params-file"]
    params = [yaml.safe_load(Path(f).read_text())["/**"]["ros__parameters"] for f in files]
    assert params == [{"use_sim_time": True}, {"p": "5"}, {"q": 2.5}]
    cmd = outside._expand_cmd(ctx)
    assert "--params-file" not in cmd and "a:=b" not in cmd and "__ns:=/robot" not in " ".join(cmd)


def _write(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_show_args_lists_included_arguments_without_added_quotes(tmp_path: Path) -> None:
    _write(
        tmp_path / "child.launch.py",
        "from launch import LaunchDescription\nfrom launch.actions import DeclareLaunchArgument\n"
        "from launch.substitutions import LaunchConfiguration\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([\n"
        "        DeclareLaunchArgument('child_arg', default_value='c', description='from child'),\n"
        "        DeclareLaunchArgument('given', default_value='g'),\n"
        "        DeclareLaunchArgument('derived', default_value=LaunchConfiguration('child_arg'))])\n",
    )
    parent = _write(
        tmp_path / "parent.launch.py",
        "import os\nfrom launch import LaunchDescription\n"
        "from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "def generate_launch_description():\n"
        "    child = os.path.join(os.path.dirname(__file__), 'child.launch.py')\n"
        "    return LaunchDescription([DeclareLaunchArgument('top', default_value='t'),\n"
        "        IncludeLaunchDescription(PythonLaunchDescriptionSource(child),\n"
        "                                 launch_arguments={'given': 'x'}.items())])\n",
    )
    out = subprocess.run(
        ["ros2", "launch", "-s", str(parent)], env=child_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "'top':" in out.stdout and "'child_arg':" in out.stdout and "from child" in out.stdout
    assert "'given':" not in out.stdout  # the include passes it
    assert "(default: LaunchConfig('child_arg'))" in out.stdout  # upstream: describe() without extra quotes
    assert "(default: 't')" in out.stdout


def test_import_error_in_launch_file_is_one_clear_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.launch.py", "import no_such_module_xyz\n")
    for extra in ([], ["-s"]):
        proc = ros2("launch", *extra, str(path))
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1, out
        assert "No module named 'no_such_module_xyz'" in out and "Traceback" not in out, out


def test_composable_cpp_plugin_fails_with_a_clear_message(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "comp.launch.py",
        "from launch import LaunchDescription\n"
        "from launch_ros.actions import ComposableNodeContainer\n"
        "from launch_ros.descriptions import ComposableNode\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([ComposableNodeContainer(\n"
        "        name='c', namespace='', package='rclcpp_components',\n"
        "        executable='component_container', composable_node_descriptions=[\n"
        "            ComposableNode(package='image_proc', plugin='image_proc::RectifyNode',\n"
        "                           name='rectify')])])\n",
    )
    proc = ros2("launch", str(path))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "image_proc::RectifyNode" in out and "component_container" in out and "Traceback" not in out, out


PY_COMPONENT = """
from rclpy.node import Node
from std_msgs.msg import String


class Talker(Node):
    def __init__(self):
        super().__init__("component_talker")
        pub = self.create_publisher(String, "chatter", 10)
        word = self.declare_parameter("word", "none").value
        self.create_timer(0.1, lambda: pub.publish(String(data=f"{self.get_fully_qualified_name()} {word}")))
"""

LIFECYCLE_NODE = """
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn


class Managed(LifecycleNode):
    def on_configure(self, state):
        print("configured", flush=True)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state):
        print("activated", flush=True)
        return TransitionCallbackReturn.SUCCESS


rclpy.init()
node = Managed("managed")
try:
    rclpy.spin(node)
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def test_python_composable_node_runs_as_its_own_process(tmp_path: Path, ros_domain: int) -> None:
    """Fallback: a ComposableNode whose plugin is a Python Node class runs with its name/ns/params."""
    (tmp_path / "pycomp.py").write_text(PY_COMPONENT)
    path = _write(
        tmp_path / "comp.launch.py",
        "from launch import LaunchDescription\n"
        "from launch.actions import ExecuteProcess, RegisterEventHandler, Shutdown\n"
        "from launch.event_handlers import OnProcessExit\n"
        "from launch_ros.actions import ComposableNodeContainer\n"
        "from launch_ros.descriptions import ComposableNode\n"
        "import sys\n"
        "def generate_launch_description():\n"
        "    listen = ExecuteProcess(\n"
        "        cmd=['ros2', 'topic', 'echo', '--once', '/robot/renamed', 'std_msgs/msg/String'],"
        " output='screen')\n"
        "    return LaunchDescription([ComposableNodeContainer(\n"
        "        name='c', namespace='robot', package='rclcpp_components',\n"
        "        executable='component_container', composable_node_descriptions=[\n"
        "            ComposableNode(package='x', plugin='pycomp:Talker', name='comp', namespace='robot',\n"
        "                           parameters=[{'word': 'hi'}], remappings=[('chatter', 'renamed')])]),\n"
        "        listen, RegisterEventHandler(OnProcessExit(target_action=listen, on_exit=[Shutdown()]))])\n",
    )
    env = child_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    proc = subprocess.Popen(
        ["ros2", "launch", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "data: /robot/comp hi" in out, out


def test_lifecycle_node_autostart_and_on_state_transition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ros_domain: int
) -> None:
    """LifecycleNode(autostart=True) configures then activates a real rclpy lifecycle node over DDS;
    OnStateTransition(goal_state='active') fires after the node reports the transition."""
    prefix = make_ament_prefix(tmp_path, monkeypatch)
    exe = prefix / "lib" / "launch_test_pkg" / "managed"
    exe.write_text(f"#!{sys.executable}\n{LIFECYCLE_NODE}")
    exe.chmod(0o755)
    path = _write(
        tmp_path / "lc.launch.py",
        "from launch import LaunchDescription\n"
        "from launch.actions import EmitEvent, LogInfo, RegisterEventHandler\n"
        "from launch.events import Shutdown\n"
        "from launch_ros.actions import LifecycleNode\n"
        "from launch_ros.event_handlers import OnStateTransition\n"
        "def generate_launch_description():\n"
        "    node = LifecycleNode(package='launch_test_pkg', executable='managed', name='managed',\n"
        "        namespace='ns',"
        " output='screen', autostart=True)\n"
        "    return LaunchDescription([RegisterEventHandler(OnStateTransition(target_lifecycle_node=node,\n"
        "        goal_state='active',\n"
        "        entities=[LogInfo(msg='node is active'), EmitEvent(event=Shutdown())])), node])\n",
    )
    proc = subprocess.Popen(
        ["ros2", "launch", str(path)],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert out.index("configured") < out.index("activated") < out.index("node is active"), out
