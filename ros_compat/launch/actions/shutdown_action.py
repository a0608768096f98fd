"""Shutdown: end the launch (used as on_exit=Shutdown() to make a process required)."""

from __future__ import annotations

from ..events import Shutdown as ShutdownEvent
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from .event_actions import EmitEvent


class Shutdown(EmitEvent):
    """Emits a Shutdown event: OnShutdown handlers run, then every launched process is stopped."""

    def __init__(self, *, reason: SomeSubstitutionsType = "reason not given", **kwargs) -> None:
        super().__init__(event=ShutdownEvent(), **kwargs)
        self.reason = reason

    def describe(self) -> str:
        return f"Shutdown(reason={self.reason!r})"

    def execute(self, context: LaunchContext) -> None:
        context.emit_event_sync(ShutdownEvent(reason=evaluate(context, self.reason)))
