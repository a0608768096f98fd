"""Event handlers of upstream `launch_ros.event_handlers`: OnStateTransition."""

from __future__ import annotations

from typing import Any

from launch.event_handler import EventHandler

from ..events.lifecycle import StateTransition


class OnStateTransition(EventHandler):
    """Matches StateTransition events of a target LifecycleNode, filtered by transition/state labels."""

    def __init__(
        self,
        *,
        entities: Any,
        target_lifecycle_node: Any = None,
        transition: str | None = None,
        start_state: str | None = None,
        goal_state: str | None = None,
        matcher: Any = None,
        **kwargs: Any,
    ) -> None:
        def matches(event: Any) -> bool:
            if not isinstance(event, StateTransition):
                return False
            if target_lifecycle_node is not None and event.action is not target_lifecycle_node:
                return False
            return (
                (transition is None or event.transition == transition)
                and (start_state is None or event.start_state == start_state)
                and (goal_state is None or event.goal_state == goal_state)
            )

        super().__init__(matcher=matcher or matches, entities=entities, **kwargs)


__all__ = ["OnStateTransition"]
