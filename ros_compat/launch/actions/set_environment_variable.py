"""SetEnvironmentVariable: set a variable for processes launched later in the same scope."""

from __future__ import annotations

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class SetEnvironmentVariable(Action):
    """Changes the context environment (scoped by GroupAction), which ExecuteProcess passes on."""

    def __init__(self, name: SomeSubstitutionsType, value: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.value = name, value

    def execute(self, context: LaunchContext) -> None:
        context.environment[evaluate(context, self.name)] = evaluate(context, self.value)
