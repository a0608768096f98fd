"""Events of upstream `launch.events` (subset): Shutdown, ExecutionComplete, TimerEvent, matches_action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..event import Event
from . import process


def matches_action(target_action: Any) -> Callable[[Event], bool]:
    """A matcher of actions: true for `target_action` itself (ChangeState's lifecycle_node_matcher,
    ShutdownProcess's process_matcher take it)."""
    return lambda action: action is target_action


class Shutdown(Event):
    """Asks the launch service to shut down; OnShutdown handlers see it first."""

    name = "launch.events.Shutdown"

    def __init__(self, *, reason: str = "reason not given", due_to_sigint: bool = False) -> None:
        self.reason = reason
        self.due_to_sigint = due_to_sigint


class ExecutionComplete(Event):
    """An action finished executing (emitted for OnExecutionComplete handlers)."""

    name = "launch.events.ExecutionComplete"

    def __init__(self, *, action: Any) -> None:
        self.action = action


class TimerEvent(Event):
    """A TimerAction's period elapsed."""

    name = "launch.events.TimerEvent"

    def __init__(self, *, timer_action: Any) -> None:
        self.timer_action = timer_action


class IncludeLaunchDescription(Event):
    """A launch description was included."""

    name = "launch.events.IncludeLaunchDescription"

    def __init__(self, launch_description: Any) -> None:
        self.launch_description = launch_description


__all__ = [
    "Event",
    "ExecutionComplete",
    "IncludeLaunchDescription",
    "Shutdown",
    "TimerEvent",
    "matches_action",
    "process",
]
