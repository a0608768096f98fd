"""XML and YAML launch files (launch_xml / launch_yaml syntax) turned into the same actions that
Python launch files use. Both formats are read into one small tree (FrontendEntity), and one set of
builders maps tags to actions; an unknown tag or attribute is an error naming it."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import yaml

from .action import Action, LaunchDescriptionEntity
from .frontend_substitutions import parse_substitutions
from .launch_description import LaunchDescription


class FrontendError(ValueError):
    """A launch file element that this frontend does not understand."""


class FrontendEntity:
    """A tag with string (or list) attributes and child entities, from XML or YAML."""

    def __init__(self, type_name: str, attrs: dict[str, Any], children: list[FrontendEntity]) -> None:
        self.type_name = type_name.replace("-", "_")
        self.attrs = attrs
        self.children = children
        self._read: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        for key in (name, name.replace("_", "-"), name.replace("-", "_")):
            if key in self.attrs:
                self._read.add(key)
                return self.attrs[key]
        return default

    def require(self, name: str) -> Any:
        value = self.get(name)
        if value is None:
            raise FrontendError(f"<{self.type_name}> needs the attribute '{name}'")
        return value

    def subs(self, kind: str) -> list[FrontendEntity]:
        kinds = {kind, kind.replace("-", "_")}
        return [c for c in self.children if c.type_name in kinds]

    def check_all_read(self) -> None:
        left = set(self.attrs) - self._read - {"if", "unless"}
        if left:
            raise FrontendError(f"<{self.type_name}>: unsupported attribute(s) {sorted(left)}")


# --- reading XML / YAML into FrontendEntity ------------------------------------------------------
def _from_xml(element: ET.Element) -> FrontendEntity:
    return FrontendEntity(element.tag, dict(element.attrib), [_from_xml(child) for child in element])


_YAML_CHILD_KEYS = {"children", "param", "remap", "env", "arg", "choice", "composable_node"}


def _from_yaml(type_name: str, body: Any) -> FrontendEntity:
    if body is None:
        body = {}
    if isinstance(body, list):  # e.g. `launch: [...]`, `group: [...]`
        return FrontendEntity(type_name, {}, [_yaml_item(item) for item in body])
    if not isinstance(body, dict):
        raise FrontendError(f"'{type_name}' must be a mapping or a list, got {body!r}")
    attrs: dict[str, Any] = {}
    children: list[FrontendEntity] = []
    for key, value in body.items():
        if key == "children":
            children += [_yaml_item(item) for item in value or []]
        elif (
            key.replace("-", "_") in _YAML_CHILD_KEYS
            and isinstance(value, list)
            and (not value or isinstance(value[0], dict))
        ):
            children += [_from_yaml(key, item) for item in value]
        elif isinstance(value, bool):
            attrs[key] = "true" if value else "false"
        elif isinstance(value, int | float):
            attrs[key] = str(value)
        else:
            attrs[key] = value
    return FrontendEntity(type_name, attrs, children)


def _yaml_item(item: Any) -> FrontendEntity:
    if not isinstance(item, dict) or len(item) != 1:
        raise FrontendError(f"each YAML launch entry must be a one-key mapping, got {item!r}")
    ((key, value),) = item.items()
    return _from_yaml(key, value)


def read_frontend_file(path: str) -> FrontendEntity:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".xml"):
        root = _from_xml(ET.fromstring(text))
    else:
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or "launch" not in data:
            raise FrontendError(f"YAML launch file '{path}' must have a top-level 'launch' key")
        root = _from_yaml("launch", data["launch"])
    if root.type_name != "launch":
        raise FrontendError(f"the root of '{path}' must be <launch>, got <{root.type_name}>")
    return root


# --- building actions --------------------------------------------------------------------------
def _subst(value: Any) -> Any:
    if isinstance(value, str):
        return parse_substitutions(value)
    if isinstance(value, list):
        return [_subst(v) for v in value]
    return value


def _opt(entity: FrontendEntity, name: str) -> Any:
    value = entity.get(name)
    return None if value is None else _subst(value)


def _condition(entity: FrontendEntity) -> dict[str, Any]:
    from .conditions import IfCondition, UnlessCondition

    if "if" in entity.attrs:
        return {"condition": IfCondition(_subst(entity.attrs["if"]))}
    if "unless" in entity.attrs:
        return {"condition": UnlessCondition(_subst(entity.attrs["unless"]))}
    return {}


def _bool(entity: FrontendEntity, name: str, default: bool) -> bool:
    value = entity.get(name)
    if value is None:
        return default
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise FrontendError(f"<{entity.type_name}> {name} must be true or false, got {value!r}")
    return text == "true"


def _params(entity: FrontendEntity) -> list[Any]:
    """<param name= value=/>, <param from=file/>, nested <param name=><param .../></param>."""
    result: list[Any] = []
    inline: dict[str, Any] = {}

    def value_of(param: FrontendEntity) -> Any:
        nested = param.subs("param")
        if nested:
            return {p.require("name"): value_of(p) for p in nested}
        value = param.require("value")
        separator = param.get("value_sep")
        if separator is not None and isinstance(value, str):
            return [_subst(v) for v in value.split(separator)]
        return _subst(value) if isinstance(value, str) else value

    for param in entity.subs("param"):
        source = param.get("from")
        if source is not None:
            if inline:
                result.append(inline)
                inline = {}
            result.append(_subst(source))
            continue
        inline[param.require("name")] = value_of(param)
    if inline:
        result.append(inline)
    return result


def _remaps(entity: FrontendEntity) -> list[tuple[Any, Any]]:
    return [(_subst(r.require("from")), _subst(r.require("to"))) for r in entity.subs("remap")]


def _env(entity: FrontendEntity) -> dict[Any, Any] | None:
    pairs = {tuple(_subst(e.require("name"))): _subst(e.require("value")) for e in entity.subs("env")}
    return {list(k)[0] if len(k) == 1 else list(k): v for k, v in pairs.items()} if pairs else None


def _process_kwargs(entity: FrontendEntity) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for attr, key in (("output", "output"), ("cwd", "cwd"), ("launch_prefix", "prefix")):
        value = _opt(entity, attr)
        if value is not None:
            kwargs[key] = value
    for attr in ("respawn",):
        value = entity.get(attr)
        if value is not None:
            kwargs[attr] = _subst(value)
    delay = entity.get("respawn_delay")
    if delay is not None:
        kwargs["respawn_delay"] = float(delay)
    for attr in ("sigterm_timeout", "sigkill_timeout"):
        value = entity.get(attr)
        if value is not None:
            kwargs[attr] = _subst(value)
    env = _env(entity)
    if env:
        kwargs["additional_env"] = env
    return kwargs


def _node_kwargs(entity: FrontendEntity) -> dict[str, Any]:
    kwargs = _process_kwargs(entity)
    kwargs.update(
        executable=_subst(entity.require("exec")),
        package=_opt(entity, "pkg"),
        name=_opt(entity, "name"),
        namespace=_opt(entity, "namespace") if entity.get("namespace") is not None else _opt(entity, "ns"),
        exec_name=_opt(entity, "exec_name"),
        parameters=_params(entity),
        remappings=_remaps(entity),
    )
    args = entity.get("args")
    if args is not None:
        kwargs["arguments"] = (
            [_subst(a) for a in split_command(args)] if isinstance(args, str) else _subst(args)
        )
    ros_args = entity.get("ros_args")
    if ros_args is not None:
        kwargs["ros_arguments"] = [_subst(a) for a in split_command(ros_args)]
    return kwargs


def _build_arg(e: FrontendEntity) -> Action:
    from .actions import DeclareLaunchArgument

    choices = [c.require("value") for c in e.subs("choice")]
    return DeclareLaunchArgument(
        e.require("name"),
        default_value=_opt(e, "default"),
        description=e.get("description"),
        choices=choices or None,
        **_condition(e),
    )


def _build_node(e: FrontendEntity) -> Action:
    from launch_ros.actions import Node

    return Node(**_node_kwargs(e), **_condition(e))


def _build_lifecycle_node(e: FrontendEntity) -> Action:
    from launch_ros.actions import LifecycleNode

    kwargs = _node_kwargs(e)
    kwargs["namespace"] = kwargs.get("namespace") or ""
    return LifecycleNode(autostart=_bool(e, "autostart", False), **kwargs, **_condition(e))


def split_command(text: str) -> list[str]:
    """Split a command line on whitespace like a shell (quotes group, and are removed), keeping each
    $(...) substitution whole even when it contains spaces."""
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    depth = 0
    started = False
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("$(", i):
            depth += 1
            current.append("$(")
            started = True
            i += 2
            continue
        if depth:
            depth += char == "("
            depth -= char == ")"
            current.append(char)
        elif quote:
            if char == quote:
                quote = None
            else:
                current.append(char)
        elif char in "'\"":
            quote, started = char, True
        elif char.isspace():
            if started:
                words.append("".join(current))
                current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if quote or depth:
        raise FrontendError(f"unbalanced quote or $( in command {text!r}")
    if started:
        words.append("".join(current))
    return words


def _build_executable(e: FrontendEntity) -> Action:
    from .actions import ExecuteProcess

    cmd = e.require("cmd")
    return ExecuteProcess(
        cmd=[_subst(part) for part in split_command(cmd)],
        name=_opt(e, "name"),
        shell=_bool(e, "shell", False),
        **_process_kwargs(e),
        **_condition(e),
    )


def _build_include(e: FrontendEntity) -> Action:
    from .actions import IncludeLaunchDescription
    from .launch_description_sources import AnyLaunchDescriptionSource

    arguments = [(a.require("name"), _subst(a.require("value"))) for a in e.subs("arg")]
    return IncludeLaunchDescription(
        AnyLaunchDescriptionSource(_subst(e.require("file"))), launch_arguments=arguments, **_condition(e)
    )


def _build_group(e: FrontendEntity) -> Action:
    from .actions import GroupAction

    return GroupAction(
        _build_all(e.children),
        scoped=_bool(e, "scoped", True),
        forwarding=_bool(e, "forwarding", True),
        **_condition(e),
    )


def _build_timer(e: FrontendEntity) -> Action:
    from .actions import TimerAction

    return TimerAction(period=_subst(e.require("period")), actions=_build_all(e.children), **_condition(e))


def _simple(factory: Callable[[FrontendEntity], Action]) -> Callable[[FrontendEntity], Action]:
    return factory


def _build_container(e: FrontendEntity) -> Action:
    from launch_ros.actions import ComposableNodeContainer

    return ComposableNodeContainer(
        name=_subst(e.require("name")),
        namespace=_opt(e, "namespace") or "",
        package=_opt(e, "pkg"),
        executable=_subst(e.require("exec")),
        composable_node_descriptions=[_composable(c) for c in e.subs("composable_node")],
        **_condition(e),
    )


def _composable(e: FrontendEntity) -> Any:
    from launch_ros.descriptions import ComposableNode

    return ComposableNode(
        package=_subst(e.require("pkg")),
        plugin=_subst(e.require("plugin")),
        name=_opt(e, "name"),
        namespace=_opt(e, "namespace"),
        parameters=_params(e),
        remappings=_remaps(e),
        **_condition(e),
    )


def _build_load_composable(e: FrontendEntity) -> Action:
    from launch_ros.actions import LoadComposableNodes

    return LoadComposableNodes(
        composable_node_descriptions=[_composable(c) for c in e.subs("composable_node")],
        target_container=_subst(e.require("target")),
        **_condition(e),
    )


def _builders() -> dict[str, Callable[[FrontendEntity], Action]]:
    from launch_ros.actions import PushROSNamespace, SetParameter, SetParametersFromFile, SetRemap

    from . import actions as la

    return {
        "arg": _build_arg,
        "let": lambda e: la.SetLaunchConfiguration(
            e.require("name"), _subst(e.require("value")), **_condition(e)
        ),
        "node": _build_node,
        "lifecycle_node": _build_lifecycle_node,
        "executable": _build_executable,
        "include": _build_include,
        "group": _build_group,
        "timer": _build_timer,
        "log": lambda e: la.LogInfo(msg=_subst(e.require("message")), **_condition(e)),
        "set_env": lambda e: la.SetEnvironmentVariable(
            _subst(e.require("name")), _subst(e.require("value")), **_condition(e)
        ),
        "unset_env": lambda e: la.UnsetEnvironmentVariable(_subst(e.require("name")), **_condition(e)),
        "append_env": lambda e: la.AppendEnvironmentVariable(
            _subst(e.require("name")),
            _subst(e.require("value")),
            prepend=_bool(e, "prepend", False),
            separator=e.get("separator", os.pathsep),
            **_condition(e),
        ),
        "push_ros_namespace": lambda e: PushROSNamespace(_subst(e.require("namespace")), **_condition(e)),
        "push_namespace": lambda e: PushROSNamespace(_subst(e.require("namespace")), **_condition(e)),
        "set_parameter": lambda e: SetParameter(
            e.require("name"), _subst(e.require("value")), **_condition(e)
        ),
        "set_parameters_from_file": lambda e: SetParametersFromFile(
            _subst(e.require("filename")), **_condition(e)
        ),
        "set_remap": lambda e: SetRemap(_subst(e.require("from")), _subst(e.require("to")), **_condition(e)),
        "shutdown": lambda e: la.Shutdown(reason=e.get("reason", "reason not given"), **_condition(e)),
        "node_container": _build_container,
        "load_composable_node": _build_load_composable,
    }


def _build_all(entities: list[FrontendEntity]) -> list[LaunchDescriptionEntity]:
    builders = _builders()
    built = []
    for entity in entities:
        builder = builders.get(entity.type_name)
        if builder is None:
            raise FrontendError(
                f"unsupported launch tag <{entity.type_name}> (supported: {', '.join(sorted(builders))})"
            )
        built.append(builder(entity))
        entity.check_all_read()
    return built


def load_frontend_launch_file(path: str) -> LaunchDescription:
    """An XML / YAML launch file as a LaunchDescription; errors name the file and the element."""
    from .launch_description_sources import InvalidLaunchFileError

    try:
        root = read_frontend_file(path)
        root.get("version")  # <launch version="..."> is accepted
        return LaunchDescription(_build_all(root.children))
    except (FrontendError, ET.ParseError, yaml.YAMLError, ValueError) as exc:
        fmt = "xml" if path.endswith(".xml") else "yaml"
        raise InvalidLaunchFileError(
            f"Caught exception when trying to load file of format [{fmt}] '{path}': {exc}"
        ) from exc
