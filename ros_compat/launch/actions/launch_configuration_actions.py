"""Launch-configuration actions: unset, push/pop and reset launch configurations."""

from __future__ import annotations

import copy

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class UnsetLaunchConfiguration(Action):
    """Removes a launch configuration (no error if it is not set, as upstream)."""

    def __init__(self, name: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context: LaunchContext) -> None:
        context.launch_configurations.pop(evaluate(context, self.name), None)


class PushLaunchConfigurations(Action):
    """Saves the launch configurations on a stack (PopLaunchConfigurations restores them)."""

    def execute(self, context: LaunchContext) -> None:
        context.__dict__.setdefault("_config_stack", []).append(copy.copy(context.launch_configurations))


class PopLaunchConfigurations(Action):
    def execute(self, context: LaunchContext) -> None:
        stack = context.__dict__.get("_config_stack") or []
        if not stack:
            raise RuntimeError("PopLaunchConfigurations without a matching PushLaunchConfigurations")
        context.launch_configurations = stack.pop()


class ResetLaunchConfigurations(Action):
    """Clears the launch configurations, then sets `launch_configurations` (evaluated before clearing)."""

    def __init__(self, launch_configurations: dict | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.launch_configurations = dict(launch_configurations or {})

    def execute(self, context: LaunchContext) -> None:
        values = {evaluate(context, k): evaluate(context, v) for k, v in self.launch_configurations.items()}
        context.launch_configurations = values
