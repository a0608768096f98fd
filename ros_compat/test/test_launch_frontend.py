"""XML and YAML launch files (launch_xml / launch_yaml syntax) build the same actions as Python ones:
arguments, let, if/unless, groups with push-ros-namespace, includes with args, executables with env,
nodes with params/remaps, set_env, timers and the $(...) substitutions. Unknown tags are errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.frontend_substitutions import FrontendSyntaxError, parse_substitutions
from launch.launch_description_sources import (
    AnyLaunchDescriptionSource,
    InvalidLaunchFileError,
    load_launch_file,
)
from launch.some_substitutions_type import evaluate
from launch_ros.actions import Node
from test_launch_support import make_ament_prefix

XML = """<launch>
  <arg name="who" default="world" description="whom to greet"/>
  <arg name="mode" default="a"><choice value="a"/><choice value="b"/></arg>
  <let name="greeting" value="hello $(var who)"/>
  <log message="$(var greeting)"/>
  <log message="skipped" if="$(eval &quot;'$(var mode)' == 'b'&quot;)"/>
  <log message="unless-shown" unless="false"/>
  <set_env name="DDVLM_FRONTEND" value="$(var who)"/>
  <executable cmd="$(env PYEXE) -c 'import os; e = os.environ;
                   print(e[&quot;DDVLM_FRONTEND&quot;], e[&quot;EXTRA&quot;])'"
              output="screen" name="printer">
    <env name="EXTRA" value="x$(var mode)"/>
  </executable>
  <group>
    <push-ros-namespace namespace="robot"/>
    <let name="inner" value="1"/>
    <node pkg="launch_test_pkg" exec="param_talker" name="talker" if="false">
      <param name="greeting" value="hi"/>
    </node>
  </group>
  <timer period="0.2"><log message="timer fired $(var who)"/></timer>
</launch>
"""

YAML = """launch:
  - arg: {name: who, default: yaml}
  - let: {name: n, value: "2"}
  - log: {message: "yaml says $(var who) $(eval '$(var n) * 3')"}
  - group:
      scoped: true
      children:
        - push-ros-namespace: {namespace: ns}
        - let: {name: scoped_only, value: "1"}
        - log: {message: "in group"}
"""


def _run(path: Path, **configs: str) -> LaunchService:
    service = LaunchService()
    service.context.launch_configurations.update(configs)
    service.include_launch_description(IncludeLaunchDescription(AnyLaunchDescriptionSource(str(path))))
    assert service.run() == 0
    return service


def test_xml_launch_file_runs_like_python(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("PYEXE", sys.executable)
    path = tmp_path / "t.launch.xml"
    path.write_text(XML)
    service = _run(path, who="robot")
    out = capfd.readouterr().out
    assert "hello robot" in out and "skipped" not in out and "unless-shown" in out
    assert "[printer-1] robot xa" in out  # set_env reached the process, <env> added to it
    assert "timer fired robot" in out
    assert "inner" not in service.context.launch_configurations  # the group is scoped
    arguments = load_launch_file(str(path)).get_launch_arguments()
    assert [(a.name, a.choices) for a in arguments] == [("who", None), ("mode", ["a", "b"])]
    assert arguments[0].description == "whom to greet"


def test_yaml_launch_file_and_scoped_group(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.launch.yaml"
    path.write_text(YAML)
    service = _run(path)
    out = capfd.readouterr().out
    assert "yaml says yaml 6" in out and "in group" in out
    assert "scoped_only" not in service.context.launch_configurations


def test_xml_node_params_remaps_and_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    path = tmp_path / "n.launch.xml"
    path.write_text(
        '<launch><group><push-ros-namespace namespace="robot"/>'
        '<node pkg="launch_test_pkg" exec="param_talker" name="talker" args="--flag">'
        '<param name="count" value="7"/><param name="nested"><param name="x" value="true"/></param>'
        '<param from="$(find-pkg-share launch_test_pkg)/config/params.yaml"/>'
        '<remap from="chatter" to="out"/></node></group></launch>'
    )
    (group,) = load_launch_file(str(path)).entities
    node = group.actions[1]
    assert isinstance(node, Node)
    service = LaunchService()
    with service.context.scope():
        group.actions[0].visit(service.context)
        cmd = node._expand_cmd(service.context)
    assert cmd[1] == "--flag" and "__node:=talker" in cmd and "__ns:=/robot" in cmd and "chatter:=out" in cmd
    assert cmd.count("--params-file") == 2


def test_substitution_syntax() -> None:
    service = LaunchService()
    context = service.context
    context.launch_configurations["x"] = "v"
    assert evaluate(context, parse_substitutions("a$(var x)b")) == "avb"
    assert evaluate(context, parse_substitutions("$(var missing 'dflt value')")) == "dflt value"
    assert evaluate(context, parse_substitutions("$(eval \"'$(var x)' * 2\")")) == "vv"
    assert evaluate(context, parse_substitutions("$(optenv DDVLM_NOT_SET fallback)")) == "fallback"
    with pytest.raises(FrontendSyntaxError, match="unknown substitution"):
        parse_substitutions("$(nope a)")
    with pytest.raises(FrontendSyntaxError, match="unterminated"):
        parse_substitutions("$(var x")


def test_unknown_tag_or_attribute_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.launch.xml"
    path.write_text('<launch><frobnicate x="1"/></launch>')
    with pytest.raises(InvalidLaunchFileError, match="unsupported launch tag <frobnicate>"):
        load_launch_file(str(path))
    path.write_text('<launch><log message="m" colour="red"/></launch>')
    with pytest.raises(InvalidLaunchFileError, match="unsupported attribute"):
        load_launch_file(str(path))
    assert isinstance(LaunchDescription(), LaunchDescription)
