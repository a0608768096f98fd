"""LaunchDescription: an ordered list of entities, and the launch arguments it declares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .action import LaunchDescriptionEntity

if TYPE_CHECKING:
    from .actions.declare_launch_argument import DeclareLaunchArgument
    from .launch_context import LaunchContext


class LaunchDescription(LaunchDescriptionEntity):
    """Visiting it yields its entities in order (upstream semantics)."""

    def __init__(
        self,
        initial_entities: Iterable[LaunchDescriptionEntity] | None = None,
        *,
        deprecated_reason: str | None = None,
    ) -> None:
        self.__entities = list(initial_entities or [])
        self.deprecated_reason = deprecated_reason
        for entity in self.__entities:
            if not isinstance(entity, LaunchDescriptionEntity):
                raise TypeError(f"LaunchDescription entries must be launch actions, got {entity!r}")

    @property
    def entities(self) -> list[LaunchDescriptionEntity]:
        return self.__entities

    def add_entity(self, entity: LaunchDescriptionEntity) -> None:
        self.__entities.append(entity)

    def add_action(self, action: LaunchDescriptionEntity) -> None:
        self.add_entity(action)

    def visit(self, context: LaunchContext) -> list[LaunchDescriptionEntity]:
        return list(self.__entities)

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return list(self.__entities)

    def describe(self) -> str:
        return f"LaunchDescription({len(self.__entities)} entities)"

    def get_launch_arguments(self, conditional_inclusion: bool = False) -> list[DeclareLaunchArgument]:
        """Declared arguments of this description, its groups and the files it includes, in order.

        An included file's argument is left out when the include passes a value for it; arguments
        under an action with a condition are marked conditionally included (as upstream).
        """
        from .actions.declare_launch_argument import DeclareLaunchArgument
        from .actions.include_launch_description import IncludeLaunchDescription

        found: list[DeclareLaunchArgument] = []

        def walk(entities: list[LaunchDescriptionEntity], conditional: bool, given: set[str]) -> None:
            for entity in entities:
                if isinstance(entity, DeclareLaunchArgument):
                    if entity.name in given:
                        continue
                    entity._conditionally_included = conditional or entity.condition is not None
                    if entity.name not in [a.name for a in found]:
                        found.append(entity)
                    continue
                cond = conditional or getattr(entity, "condition", None) is not None
                inner_given = given
                if isinstance(entity, IncludeLaunchDescription):
                    inner_given = entity.given_argument_names()
                walk(entity.describe_sub_entities(), cond, inner_given)

        walk(self.__entities, conditional_inclusion, set())
        return found
