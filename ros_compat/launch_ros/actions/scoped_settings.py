"""SetParameter, SetParametersFromFile, SetRemap, SetUseSimTime: settings applied to every Node that
follows in the same scope (GroupAction), stored in launch configurations as upstream does."""

from __future__ import annotations

from typing import Any

from launch.action import Action
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate

from .parameters import evaluate_parameter_value


def _extend(context: LaunchContext, key: str, item: Any) -> None:
    # a new list each time: a GroupAction's saved copy must not see additions made inside it
    context.launch_configurations[key] = [*context.launch_configurations.get(key, []), item]


class SetParameter(Action):
    """Sets a parameter for all Nodes launched later in this scope."""

    def __init__(self, name: SomeSubstitutionsType, value: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.value = name, value

    def describe(self) -> str:
        return f"SetParameter(name={self.name!r})"

    def execute(self, context: LaunchContext) -> None:
        _extend(
            context,
            "global_params",
            (evaluate(context, self.name), evaluate_parameter_value(context, self.value)),
        )


class SetUseSimTime(SetParameter):
    """use_sim_time for all Nodes launched later in this scope."""

    def __init__(self, value: Any, **kwargs) -> None:
        super().__init__("use_sim_time", value, **kwargs)


class SetParametersFromFile(Action):
    """A parameters file passed to all Nodes launched later in this scope."""

    def __init__(self, filename: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.filename = filename

    def execute(self, context: LaunchContext) -> None:
        _extend(context, "global_params", evaluate(context, self.filename))


class SetRemap(Action):
    """A remapping rule for all Nodes launched later in this scope."""

    def __init__(self, src: SomeSubstitutionsType, dst: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.src, self.dst = src, dst

    def execute(self, context: LaunchContext) -> None:
        _extend(context, "ros_remaps", (evaluate(context, self.src), evaluate(context, self.dst)))
