"""SetLaunchConfiguration: set a launch configuration in the current scope."""

from __future__ import annotations

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class SetLaunchConfiguration(Action):
    """name := value (both substitutions)."""

    def __init__(self, name: SomeSubstitutionsType, value: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name, self.value = name, value

    def execute(self, context: LaunchContext) -> None:
        context.launch_configurations[evaluate(context, self.name)] = evaluate(context, self.value)
