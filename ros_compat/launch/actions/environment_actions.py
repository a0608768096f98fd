"""Environment actions: append to, unset, push/pop and reset the environment of launched processes."""

from __future__ import annotations

import os

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from .execute_process import _as_bool


class AppendEnvironmentVariable(Action):
    """Appends (or with prepend=True prepends) `value` to a variable, joined by `separator`."""

    def __init__(
        self,
        name: SomeSubstitutionsType,
        value: SomeSubstitutionsType,
        *,
        prepend: bool | SomeSubstitutionsType = False,
        separator: SomeSubstitutionsType = os.pathsep,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.name, self.value, self.prepend, self.separator = name, value, prepend, separator

    def describe(self) -> str:
        return f"AppendEnvironmentVariable(name={self.name!r})"

    def execute(self, context: LaunchContext) -> None:
        name, value = evaluate(context, self.name), evaluate(context, self.value)
        separator = evaluate(context, self.separator)
        current = context.environment.get(name)
        if not current:
            context.environment[name] = value
        elif _as_bool(context, self.prepend, "prepend"):
            context.environment[name] = value + separator + current
        else:
            context.environment[name] = current + separator + value


class UnsetEnvironmentVariable(Action):
    """Removes a variable from the environment of processes launched later (no error if unset)."""

    def __init__(self, name: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context: LaunchContext) -> None:
        context.environment.pop(evaluate(context, self.name), None)


class PushEnvironment(Action):
    """Saves the environment on a stack (PopEnvironment restores it)."""

    def execute(self, context: LaunchContext) -> None:
        context.__dict__.setdefault("_env_stack", []).append(dict(context.environment))


class PopEnvironment(Action):
    def execute(self, context: LaunchContext) -> None:
        stack = context.__dict__.get("_env_stack") or []
        if not stack:
            raise RuntimeError("PopEnvironment without a matching PushEnvironment")
        context.environment = stack.pop()


class ResetEnvironment(Action):
    """Resets the environment to the one the launch started with."""

    def execute(self, context: LaunchContext) -> None:
        context.environment = dict(os.environ)
