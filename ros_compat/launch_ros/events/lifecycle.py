"""Lifecycle events: ChangeState (request a transition) and StateTransition (a node changed state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from launch.event import Event


class ChangeState(Event):
    """Ask the LifecycleNode(s) selected by `lifecycle_node_matcher(action)` to take `transition_id`."""

    name = "launch_ros.events.lifecycle.ChangeState"

    def __init__(self, *, lifecycle_node_matcher: Callable[[Any], bool], transition_id: int) -> None:
        self.lifecycle_node_matcher = lifecycle_node_matcher
        self.transition_id = transition_id


class StateTransition(Event):
    """A LifecycleNode published a TransitionEvent: labels of transition, start and goal state."""

    name = "launch_ros.events.lifecycle.StateTransition"

    def __init__(self, *, action: Any, msg: Any) -> None:
        self.action = action
        self.msg = msg
        self.timestamp = msg.timestamp
        self.transition = msg.transition.label
        self.start_state = msg.start_state.label
        self.goal_state = msg.goal_state.label


__all__ = ["ChangeState", "StateTransition"]
