"""launch / launch_ros API subset: substitutions, conditions, arguments, scoping, Node command lines.

Behaviour compared with the upstream launch documentation (ros2/launch, ros2/launch_ros, Jazzy).
No processes with DDS here; see test_launch_processes.py for those.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

ROS_COMPAT = Path(__file__).resolve().parents[1]
if str(ROS_COMPAT) not in sys.path:  # the repo's launch/ folder must not shadow the package in-process
    sys.path.insert(0, str(ROS_COMPAT))

from launch import LaunchContext, LaunchDescription, LaunchService  # noqa: E402
from launch.actions import (  # noqa: E402
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    LogInfo,
    SetEnvironmentVariable,
    SetLaunchConfiguration,
)
from launch.conditions import IfCondition, InvalidConditionExpressionError, UnlessCondition  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch.substitutions import (  # noqa: E402
    EnvironmentVariable,
    LaunchConfiguration,
    PathJoinSubstitution,
    SubstitutionFailure,
    TextSubstitution,
)
from launch_ros.actions import Node, PushRosNamespace  # noqa: E402
from launch_ros.substitutions import FindPackageShare  # noqa: E402
from test_launch_support import make_ament_prefix  # noqa: E402


def test_launch_is_the_ros_compat_package() -> None:
    import launch

    assert launch.__file__ == str(ROS_COMPAT / "launch" / "__init__.py")


def _ctx(**configs: str) -> LaunchContext:
    ctx = LaunchContext()
    ctx.launch_configurations.update(configs)
    return ctx


def test_text_and_launch_configuration() -> None:
    ctx = _ctx(a="1")
    assert TextSubstitution(text="x").perform(ctx) == "x"
    assert LaunchConfiguration("a").perform(ctx) == "1"
    assert LaunchConfiguration("b", default="d").perform(ctx) == "d"
    assert LaunchConfiguration("b", default=["p-", LaunchConfiguration("a")]).perform(ctx) == "p-1"
    with pytest.raises(SubstitutionFailure, match="launch configuration 'b' does not exist"):
        LaunchConfiguration("b").perform(ctx)


def test_path_join_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCH_TEST_DIR", "/data")
    ctx = _ctx(sub="cfg")
    path = PathJoinSubstitution(
        [EnvironmentVariable("LAUNCH_TEST_DIR"), LaunchConfiguration("sub"), "x.yaml"]
    )
    assert path.perform(ctx) == "/data/cfg/x.yaml"
    assert (path / "more").perform(ctx) == "/data/cfg/x.yaml/more"
    assert PathJoinSubstitution([["a", "b"], "c"]).perform(ctx) == "ab/c"
    assert EnvironmentVariable("LAUNCH_TEST_UNSET", default_value="dflt").perform(ctx) == "dflt"
    with pytest.raises(SubstitutionFailure, match="LAUNCH_TEST_UNSET"):
        EnvironmentVariable("LAUNCH_TEST_UNSET").perform(ctx)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("FALSE", False), ("0", False)],
)
def test_conditions(text: str, expected: bool) -> None:
    ctx = _ctx(flag=text)
    assert IfCondition(LaunchConfiguration("flag")).evaluate(ctx) is expected
    assert UnlessCondition(LaunchConfiguration("flag")).evaluate(ctx) is (not expected)


@pytest.mark.parametrize("text", ["yes", "", "2", "on"])
def test_condition_rejects_other_values(text: str) -> None:
    with pytest.raises(InvalidConditionExpressionError):
        IfCondition(text).evaluate(_ctx())


def _run(entities: list, **configs: str) -> LaunchContext:
    service = LaunchService()
    service.context.launch_configurations.update(configs)
    service.include_launch_description(LaunchDescription(entities))
    assert service.run() == 0
    return service.context


def test_declare_launch_argument_default_given_and_required(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = _run(
        [DeclareLaunchArgument("a", default_value="dflt"), DeclareLaunchArgument("b", default_value="x")],
        b="y",
    )
    assert ctx.launch_configurations == {"a": "dflt", "b": "y"}
    service = LaunchService()
    service.include_launch_description(LaunchDescription([DeclareLaunchArgument("needed")]))
    assert service.run() == 1
    assert "missing required argument 'needed'" in capsys.readouterr().err


def test_declare_launch_argument_choices(capsys: pytest.CaptureFixture[str]) -> None:
    _run([DeclareLaunchArgument("m", default_value="a", choices=["a", "b"])], m="b")
    service = LaunchService()
    service.context.launch_configurations["m"] = "c"
    service.include_launch_description(LaunchDescription([DeclareLaunchArgument("m", choices=["a", "b"])]))
    assert service.run() == 1
    assert "is not valid" in capsys.readouterr().err


def test_group_scoping_conditions_and_log(capsys: pytest.CaptureFixture[str]) -> None:
    ctx = _run(
        [
            SetLaunchConfiguration("outer", "1"),
            GroupAction(
                [
                    SetLaunchConfiguration("inner", "1"),
                    SetEnvironmentVariable("LAUNCH_GRP", "v"),
                    LogInfo(msg=["inner sees outer=", LaunchConfiguration("outer")]),
                ]
            ),
            GroupAction([SetLaunchConfiguration("leaky", "1")], scoped=False),
            GroupAction([LogInfo(msg="skipped")], condition=IfCondition("false")),
            GroupAction([LogInfo(msg="kept")], condition=UnlessCondition("false")),
            GroupAction(
                [LogInfo(msg=LaunchConfiguration("outer", default="not forwarded"))], forwarding=False
            ),
            GroupAction([LogInfo(msg=LaunchConfiguration("g"))], launch_configurations={"g": "set by group"}),
        ]
    )
    assert ctx.launch_configurations == {"outer": "1", "leaky": "1"}
    assert "LAUNCH_GRP" not in ctx.environment
    out = capsys.readouterr().out
    assert "[INFO] [launch.user]: inner sees outer=1" in out
    assert "skipped" not in out and "kept" in out
    assert "not forwarded" in out and "set by group" in out


def test_include_passes_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    child = tmp_path / "child.launch.py"
    child.write_text(
        "from launch import LaunchDescription\n"
        "from launch.actions import DeclareLaunchArgument, LogInfo\n"
        "from launch.substitutions import LaunchConfiguration\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([DeclareLaunchArgument('who'),\n"
        "        DeclareLaunchArgument('how', default_value='quietly'),\n"
        "        LogInfo(msg=['hello ', LaunchConfiguration('who'), ' ', LaunchConfiguration('how')])])\n"
    )
    ctx = _run(
        [
            DeclareLaunchArgument("name", default_value="world"),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(PathJoinSubstitution([str(tmp_path), "child.launch.py"])),
                launch_arguments={"who": LaunchConfiguration("name")}.items(),
            ),
        ],
        name="robot",
    )
    assert "hello robot quietly" in capsys.readouterr().out
    # Jazzy: IncludeLaunchDescription is not scoped, what the include and the child set stays visible
    assert ctx.launch_configurations["who"] == "robot" and ctx.launch_configurations["how"] == "quietly"


def test_get_launch_arguments_lists_groups_in_order() -> None:
    ld = LaunchDescription(
        [
            DeclareLaunchArgument("a", default_value="1", description="first"),
            GroupAction([DeclareLaunchArgument("b")], condition=IfCondition("true")),
        ]
    )
    args = ld.get_launch_arguments()
    assert [a.name for a in args] == ["a", "b"]
    assert args[0].description == "first" and args[1].default_value is None


def test_node_command_line_matches_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = make_ament_prefix(tmp_path, monkeypatch)
    params_file = tmp_path / "p.yaml"
    params_file.write_text("/**:\n  ros__parameters:\n    greeting: from-file\n")
    node = Node(
        package="launch_test_pkg",
        executable="param_talker",
        name=LaunchConfiguration("node_name"),
        namespace="robot",
        parameters=[
            str(params_file),
            {"count": LaunchConfiguration("count"), "flag": "true", "name": "", "l": [1, 2]},
        ],
        remappings=[("chatter", [LaunchConfiguration("topic"), "/out"])],
        arguments=["positional"],
        ros_arguments=["--log-level", "warn"],
    )
    ctx = _ctx(node_name="talker", count="7", topic="/remapped")
    cmd = node._expand_cmd(ctx)
    assert cmd[:4] == [
        str(prefix / "lib" / "launch_test_pkg" / "param_talker"),
        "positional",
        "--ros-args",
        "--log-level",
    ]
    assert cmd[4:9] == ["warn", "-r", "__node:=talker", "-r", "__ns:=/robot"]
    assert cmd[9:11] == ["--params-file", str(params_file)]
    assert cmd[11] == "--params-file" and cmd[13:] == ["-r", "chatter:=/remapped/out"]
    written = yaml.safe_load(Path(cmd[12]).read_text())
    # strings/substitutions become typed YAML values ('7' -> 7, 'true' -> True); '' stays a string (upstream)
    assert written == {"/**": {"ros__parameters": {"count": 7, "flag": True, "name": "", "l": [1, 2]}}}
    os.unlink(cmd[12])


def test_node_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match="package 'no_such_pkg' not found"):
        Node(package="no_such_pkg", executable="x")._expand_cmd(_ctx())
    with pytest.raises(RuntimeError, match="executable 'nope' not found"):
        Node(package="launch_test_pkg", executable="nope")._expand_cmd(_ctx())
    # upstream Node warns "Parameter file path is not a file" and leaves the file out
    node = Node(package="launch_test_pkg", executable="param_talker", parameters=["/no/such.yaml"])
    cmd = node._expand_cmd(_ctx())
    assert "--params-file" not in cmd
    with pytest.raises(TypeError):
        Node(package="launch_test_pkg", executable="param_talker", parameters={"a": 1})


def test_find_package_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = make_ament_prefix(tmp_path, monkeypatch)
    share = PathJoinSubstitution([FindPackageShare("launch_test_pkg"), "launch"]).perform(_ctx())
    assert share == str(prefix / "share" / "launch_test_pkg" / "launch")


def test_push_ros_namespace_prefixes_relative_node_namespaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    ctx = _ctx()
    PushRosNamespace("fleet").visit(ctx)
    PushRosNamespace("robot1").visit(ctx)
    relative = Node(package="launch_test_pkg", executable="param_talker", namespace="arm")._expand_cmd(ctx)
    absolute = Node(package="launch_test_pkg", executable="param_talker", namespace="/abs")._expand_cmd(ctx)
    bare = Node(package="launch_test_pkg", executable="param_talker")._expand_cmd(ctx)
    assert "__ns:=/fleet/robot1/arm" in relative
    assert "__ns:=/abs" in absolute
    assert "__ns:=/fleet/robot1" in bare
