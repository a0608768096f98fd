"""Base class of actions: things a launch description does when it is visited."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .condition import Condition
    from .launch_context import LaunchContext


class LaunchDescriptionEntity:
    """Anything that can sit in a LaunchDescription."""

    def visit(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        raise NotImplementedError

    def describe(self) -> str:
        """One line saying what this entity is (upstream: used by `ros2 launch --print`)."""
        return f"{type(self).__name__}()"

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return []

    def describe_conditional_sub_entities(self) -> list[tuple[str, list[LaunchDescriptionEntity]]]:
        return []

    def get_asyncio_future(self) -> None:
        return None


class Action(LaunchDescriptionEntity):
    """An entity with an optional condition; `execute` returns sub-entities to visit next."""

    def __init__(self, *, condition: Condition | None = None) -> None:
        self.__condition = condition

    @property
    def condition(self) -> Condition | None:
        return self.__condition

    def describe(self) -> str:
        return f"Action('{type(self).__module__}.{type(self).__name__}')"

    def get_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return []

    def visit(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        if self.__condition is not None and not self.__condition.evaluate(context):
            return None
        return self.execute(context)

    def execute(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        return None
