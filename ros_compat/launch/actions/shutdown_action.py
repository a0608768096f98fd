"""Shutdown: end the launch (used as on_exit=Shutdown() to make a process required)."""

from __future__ import annotations

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class Shutdown(Action):
    """Stops every launched process (SIGINT, then escalation) and ends the launch."""

    def __init__(self, *, reason: SomeSubstitutionsType = "reason not given", **kwargs) -> None:
        super().__init__(**kwargs)
        self.reason = reason

    def execute(self, context: LaunchContext) -> None:
        context.service.shutdown(evaluate(context, self.reason))
