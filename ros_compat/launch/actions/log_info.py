"""LogInfo: print a message from the launch file."""

from __future__ import annotations

from .. import logging as launch_logging
from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class LogInfo(Action):
    """Prints `[INFO] [launch.user]: msg` like upstream."""

    def __init__(self, *, msg: SomeSubstitutionsType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.msg = msg

    def execute(self, context: LaunchContext) -> None:
        launch_logging.log("INFO", "launch.user", evaluate(context, self.msg))
