"""The value of an environment variable of the launch."""

from __future__ import annotations

from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution, SubstitutionFailure


class EnvironmentVariable(Substitution):
    """Performs to the variable's value; `default_value=None` makes an unset variable an error."""

    def __init__(self, name: SomeSubstitutionsType, *, default_value: SomeSubstitutionsType | None = None):
        self.name = name
        self.default_value = default_value

    def perform(self, context: LaunchContext) -> str:
        name = evaluate(context, self.name)
        if name in context.environment:
            return context.environment[name]
        if self.default_value is None:
            raise SubstitutionFailure(f"environment variable '{name}' does not exist")
        return evaluate(context, self.default_value)

    def describe(self) -> str:
        return f"EnvVar({self.name!r})"
