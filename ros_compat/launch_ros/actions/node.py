"""launch_ros.actions.Node: ExecuteProcess of <prefix>/lib/<package>/<executable> with --ros-args."""

from __future__ import annotations

import atexit
import contextlib
import os
from collections.abc import Iterable
from typing import Any

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import ExecuteProcess
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate

from .parameters import parameter_arguments


def find_executable(package: str, executable: str) -> str:
    """The file upstream runs for Node(package=..., executable=...), with clear errors."""
    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError as exc:
        raise RuntimeError(
            f"package '{package}' not found (AMENT_PREFIX_PATH: {os.environ.get('AMENT_PREFIX_PATH', '')})"
        ) from exc
    path = os.path.join(prefix, "lib", package, executable)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(
            f"executable '{executable}' not found on the libexec directory "
            f"'{os.path.join(prefix, 'lib', package)}'"
        )
    return path


def _remove(paths: list[str]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


class Node(ExecuteProcess):
    """Command line: exe [arguments] --ros-args [ros_arguments] -r __node:=name -r __ns:=/ns
    --params-file f ... -r from:=to ... (upstream order)."""

    def __init__(
        self,
        *,
        executable: SomeSubstitutionsType,
        package: SomeSubstitutionsType | None = None,
        name: SomeSubstitutionsType | None = None,
        namespace: SomeSubstitutionsType | None = None,
        exec_name: SomeSubstitutionsType | None = None,
        parameters: Iterable[Any] | None = None,
        remappings: Iterable[tuple[SomeSubstitutionsType, SomeSubstitutionsType]] | None = None,
        ros_arguments: Iterable[SomeSubstitutionsType] | None = None,
        arguments: Iterable[SomeSubstitutionsType] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(cmd=[executable], name=exec_name, **kwargs)
        self.package, self.executable = package, executable
        self.node_name, self.node_namespace = name, namespace
        if parameters is not None and (
            isinstance(parameters, dict | str) or not isinstance(parameters, Iterable)
        ):
            raise TypeError("Node parameters must be a list of parameter files and/or dicts")
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.ros_arguments = list(ros_arguments or [])
        self.arguments = list(arguments or [])

    def _default_name(self, cmd: list[str]) -> str:
        return os.path.basename(cmd[0])

    def _expand_cmd(self, context: LaunchContext) -> list[str]:
        executable = evaluate(context, self.executable)
        if self.package is not None:
            executable = find_executable(evaluate(context, self.package), executable)
        cmd = [executable] + [evaluate(context, a) for a in self.arguments]
        cmd.append("--ros-args")
        cmd += [evaluate(context, a) for a in self.ros_arguments]
        if self.node_name is not None:
            name = evaluate(context, self.node_name)
            if not name or "/" in name:
                raise ValueError(f"node name {name!r} must be non-empty and must not contain '/'")
            cmd += ["-r", f"__node:={name}"]
        namespace = evaluate(context, self.node_namespace) if self.node_namespace is not None else ""
        base_ns = context.launch_configurations.get("ros_namespace", "")
        if base_ns and not namespace.startswith("/"):
            namespace = base_ns.rstrip("/") + "/" + namespace if namespace else base_ns
        if namespace:
            cmd += ["-r", f"__ns:={'/' + namespace.lstrip('/')}"]
        params, temp_files = parameter_arguments(context, self.parameters)
        atexit.register(_remove, temp_files)
        cmd += params
        for source, target in context.launch_configurations.get("ros_remaps", []):
            cmd += ["-r", f"{source}:={target}"]
        for source, target in self.remappings:
            cmd += ["-r", f"{evaluate(context, source)}:={evaluate(context, target)}"]
        self.expanded_node_namespace = "/" + namespace.strip("/") if namespace else "/"
        self.expanded_node_name = evaluate(context, self.node_name) if self.node_name is not None else None
        return cmd

    @property
    def node_package(self) -> SomeSubstitutionsType | None:
        return self.package

    @property
    def node_executable(self) -> SomeSubstitutionsType:
        return self.executable

    def is_node_name_fully_specified(self) -> bool:
        return self.node_name is not None

    @property
    def node_fully_qualified_name(self) -> str:
        """/namespace/name once the node was started (needed by lifecycle services)."""
        name = getattr(self, "expanded_node_name", None)
        if name is None:
            raise RuntimeError(
                "the node's name is only known after it was started, and only when name= is given"
            )
        namespace = getattr(self, "expanded_node_namespace", "/")
        return namespace.rstrip("/") + "/" + name

    def describe(self) -> str:
        return f"Node(package={self.package!r}, executable={self.executable!r}, name={self.node_name!r})"


__all__ = ["Node", "find_executable"]
