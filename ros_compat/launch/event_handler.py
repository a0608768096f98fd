"""Event handlers: a matcher deciding which events they take, and what to do with a matching one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .action import LaunchDescriptionEntity
from .event import Event

if TYPE_CHECKING:
    from .launch_context import LaunchContext


def as_entity_list(entities: Any) -> list[LaunchDescriptionEntity]:
    """None, one entity or an iterable of entities -> list (upstream's SomeEntitiesType)."""
    if entities is None:
        return []
    if isinstance(entities, LaunchDescriptionEntity):
        return [entities]
    if isinstance(entities, Iterable) and not isinstance(entities, str | bytes):
        items = list(entities)
        for item in items:
            if not isinstance(item, LaunchDescriptionEntity):
                raise TypeError(f"event handlers must return launch entities, got {item!r}")
        return items
    raise TypeError(f"event handlers must return launch entities, got {entities!r}")


class BaseEventHandler:
    """`matcher(event) -> bool`; `handle` puts the event in context.locals.event and returns entities."""

    def __init__(self, *, matcher: Callable[[Event], bool], handle_once: bool = False) -> None:
        self.__matcher = matcher
        self.__handle_once = handle_once

    @property
    def handle_once(self) -> bool:
        return self.__handle_once

    @property
    def handler_description(self) -> str:
        return "<handler>"

    @property
    def matcher_description(self) -> str:
        return "<matcher>"

    def describe(self) -> tuple[str, list[LaunchDescriptionEntity]]:
        return (
            f"{type(self).__name__}(matcher='{self.matcher_description}', "
            f"handler='{self.handler_description}', handle_once={self.handle_once})",
            [],
        )

    def matches(self, event: Event) -> bool:
        return bool(self.__matcher(event))

    def handle(self, event: Event, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        context.extend_locals({"event": event})
        if self.__handle_once:
            context.unregister_event_handler(self)
        return None


class EventHandler(BaseEventHandler):
    """A matcher plus fixed entities to visit when it matches."""

    def __init__(
        self,
        *,
        matcher: Callable[[Event], bool],
        entities: Any = None,
        handle_once: bool = False,
    ) -> None:
        super().__init__(matcher=matcher, handle_once=handle_once)
        self.__entities = as_entity_list(entities)

    @property
    def entities(self) -> list[LaunchDescriptionEntity]:
        return self.__entities

    def describe(self) -> tuple[str, list[LaunchDescriptionEntity]]:
        text, _ = super().describe()
        return text, list(self.__entities)

    def handle(self, event: Event, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        super().handle(event, context)
        return list(self.__entities)
