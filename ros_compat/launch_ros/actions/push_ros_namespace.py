"""PushROSNamespace (older name: PushRosNamespace): prefix the namespace of later Nodes in the scope."""

from __future__ import annotations

from launch.action import Action
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate


class PushROSNamespace(Action):
    """Sets the `ros_namespace` launch configuration that Node prepends to relative namespaces."""

    def __init__(self, namespace: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace

    def execute(self, context: LaunchContext) -> None:
        pushed = evaluate(context, self.namespace).strip("/")
        if not pushed:
            return None
        base = context.launch_configurations.get("ros_namespace", "").rstrip("/")
        absolute = evaluate(context, self.namespace).startswith("/")
        context.launch_configurations["ros_namespace"] = (
            "/" + pushed if absolute or not base else f"{base}/{pushed}"
        )
        return None


class PushRosNamespace(PushROSNamespace):
    """The name used before Jazzy; same behaviour."""


__all__ = ["PushROSNamespace", "PushRosNamespace"]
