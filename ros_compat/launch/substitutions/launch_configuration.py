"""The value of a launch argument / launch configuration."""

from __future__ import annotations

from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution, SubstitutionFailure


class LaunchConfiguration(Substitution):
    """Performs to context.launch_configurations[name], else `default`, else fails (as upstream)."""

    def __init__(self, variable_name: SomeSubstitutionsType, *, default: SomeSubstitutionsType | None = None):
        self.variable_name = variable_name
        self.default = default

    def perform(self, context: LaunchContext) -> str:
        name = evaluate(context, self.variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.default is not None:
            return evaluate(context, self.default)
        raise SubstitutionFailure(f"launch configuration '{name}' does not exist")

    def describe(self) -> str:
        return f"LaunchConfig({self.variable_name!r})"
