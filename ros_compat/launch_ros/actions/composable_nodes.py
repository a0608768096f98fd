"""ComposableNodeContainer and LoadComposableNodes without a C++ component container.

pip-installed ROS has no rclcpp_components (component_container) and no composition_interfaces, so
components cannot be loaded into one process. Documented fallback: each ComposableNode whose plugin
names a Python rclpy Node class ('package.module:Class' or 'package.module.Class') runs as its own
process (same name, namespace, parameters, remappings); any other plugin (a C++ class such as
'image_proc::RectifyNode') makes the action fail with a message naming the plugin.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Any

from launch.action import Action, LaunchDescriptionEntity
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate

from ..descriptions import ComposableNode
from .node import Node


class UnsupportedComposableNodeError(RuntimeError):
    """A composable node's plugin is not a Python node class (C++ components need a container)."""


def resolve_python_plugin(plugin: str) -> type:
    """'pkg.module:Class' / 'pkg.module.Class' -> the class, if it is an rclpy Node subclass."""
    if "::" in plugin:
        raise UnsupportedComposableNodeError(
            f"composable node plugin '{plugin}' is a C++ component: loading it needs rclcpp_components' "
            "component_container, which pip-installed ROS 2 does not have; only Python node classes "
            "('package.module:Class') can run here"
        )
    module_name, sep, class_name = plugin.partition(":")
    if not sep:
        module_name, _, class_name = plugin.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UnsupportedComposableNodeError(
            f"composable node plugin '{plugin}' is not an importable Python class ({exc}); "
            "C++ components cannot be loaded without rclcpp_components"
        ) from exc
    from rclpy.node import Node as RclpyNode

    if not (isinstance(cls, type) and issubclass(cls, RclpyNode)):
        raise UnsupportedComposableNodeError(f"composable node plugin '{plugin}' is not an rclpy Node class")
    return cls


def _as_process(description: ComposableNode, context: LaunchContext, container: str) -> Node:
    plugin = evaluate(context, description.node_plugin)
    resolve_python_plugin(plugin)
    return Node(
        executable=sys.executable,
        arguments=["-m", "launch_ros.composable_node_main", plugin],
        name=description.node_name,
        namespace=description.node_namespace,
        parameters=description.parameters,
        remappings=description.remappings,
        exec_name=f"{container}.{plugin.rpartition(':')[2] or plugin}",
        output="screen",
    )


def _start_all(context: LaunchContext, descriptions: list[ComposableNode], container: str) -> list[Node]:
    nodes = []
    for description in descriptions:
        if description.condition is not None and not description.condition.evaluate(context):
            continue
        nodes.append(_as_process(description, context, container))  # raises before anything starts
    return nodes


class ComposableNodeContainer(Node):
    """Upstream signature; runs the Python composable nodes as processes (no container process)."""

    def __init__(
        self,
        *,
        name: SomeSubstitutionsType,
        namespace: SomeSubstitutionsType,
        composable_node_descriptions: Iterable[ComposableNode] | None = None,
        package: SomeSubstitutionsType | None = None,
        executable: SomeSubstitutionsType = "component_container",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, namespace=namespace, package=package, executable=executable, **kwargs)
        self.composable_node_descriptions = list(composable_node_descriptions or [])

    def describe(self) -> str:
        plugins = [getattr(d.node_plugin, "text", d.node_plugin) for d in self.composable_node_descriptions]
        return f"ComposableNodeContainer(name={self.node_name!r}, plugins={plugins!r})"

    def execute(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        name = evaluate(context, self.node_name)
        return list(_start_all(context, self.composable_node_descriptions, name)) or None


class LoadComposableNodes(Action):
    """Upstream signature; same fallback as ComposableNodeContainer."""

    def __init__(
        self,
        *,
        composable_node_descriptions: Iterable[ComposableNode],
        target_container: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.composable_node_descriptions = list(composable_node_descriptions)
        self.target_container = target_container

    def execute(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        target = self.target_container
        name = target.node_name if isinstance(target, Node) else target
        container = evaluate(context, name) if name is not None else "container"
        return list(_start_all(context, self.composable_node_descriptions, container.strip("/"))) or None


__all__ = ["ComposableNodeContainer", "LoadComposableNodes", "UnsupportedComposableNodeError"]
