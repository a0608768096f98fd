"""RegisterEventHandler, UnregisterEventHandler and EmitEvent: the launch event system's actions."""

from __future__ import annotations

from ..action import Action, LaunchDescriptionEntity
from ..event import Event
from ..event_handler import BaseEventHandler
from ..launch_context import LaunchContext


class RegisterEventHandler(Action):
    """Registers the handler when visited; it then runs for each matching event."""

    def __init__(self, event_handler: BaseEventHandler, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(event_handler, BaseEventHandler):
            raise TypeError(f"RegisterEventHandler needs an event handler, got {event_handler!r}")
        self.__event_handler = event_handler

    @property
    def event_handler(self) -> BaseEventHandler:
        return self.__event_handler

    def describe(self) -> str:
        return f"RegisterEventHandler({self.__event_handler.describe()[0]})"

    def describe_conditional_sub_entities(self) -> list[tuple[str, list[LaunchDescriptionEntity]]]:
        text, entities = self.__event_handler.describe()
        return [(text, entities)] if entities else []

    def execute(self, context: LaunchContext) -> None:
        context.register_event_handler(self.__event_handler)


class UnregisterEventHandler(Action):
    """Removes a registered handler (an error if it is not registered, as upstream)."""

    def __init__(self, event_handler: BaseEventHandler, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__event_handler = event_handler

    @property
    def event_handler(self) -> BaseEventHandler:
        return self.__event_handler

    def execute(self, context: LaunchContext) -> None:
        context.unregister_event_handler(self.__event_handler)


class EmitEvent(Action):
    """Emits `event` (e.g. Shutdown, ShutdownProcess, launch_ros ChangeState) when visited."""

    def __init__(self, *, event: Event, **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(event, Event):
            raise TypeError(f"EmitEvent needs an Event, got {event!r}")
        self.__event = event

    @property
    def event(self) -> Event:
        return self.__event

    def describe(self) -> str:
        return f"EmitEvent(event={type(self.__event).__name__})"

    def execute(self, context: LaunchContext) -> None:
        context.emit_event_sync(self.__event)
