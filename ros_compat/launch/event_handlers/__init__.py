"""Event handlers of upstream `launch.event_handlers` (subset)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..action import LaunchDescriptionEntity
from ..event import Event
from ..event_handler import BaseEventHandler, EventHandler, as_entity_list
from ..events import ExecutionComplete, IncludeLaunchDescription, Shutdown
from ..events.process import ProcessExited, ProcessIO, ProcessStarted

if TYPE_CHECKING:
    from ..launch_context import LaunchContext


def _action_matcher(target_action: Any) -> Callable[[Any], bool]:
    """None: any action; an action; a predicate over actions; or an iterable of actions."""
    if target_action is None:
        return lambda action: True
    if isinstance(target_action, LaunchDescriptionEntity):
        return lambda action: action is target_action
    if callable(target_action):
        return lambda action: bool(target_action(action))
    if isinstance(target_action, Iterable):
        targets = list(target_action)
        return lambda action: any(action is t for t in targets)
    raise TypeError(
        f"target_action must be an action, a predicate or a list of actions, got {target_action!r}"
    )


class OnActionEventBase(BaseEventHandler):
    """Events of one type about a target action; `on_event` is entities or f(event, context) -> entities."""

    event_type: type = Event

    def __init__(
        self,
        *,
        action_matcher: Any = None,
        on_event: Any,
        target_action: Any = None,
        matcher: Callable[[Event], bool] | None = None,
        handle_once: bool = False,
    ) -> None:
        which = _action_matcher(target_action if target_action is not None else action_matcher)
        event_type = self.event_type
        super().__init__(
            matcher=matcher
            or (lambda event: isinstance(event, event_type) and which(getattr(event, "action", None))),
            handle_once=handle_once,
        )
        self.__target = target_action
        if callable(on_event) and not isinstance(on_event, LaunchDescriptionEntity):
            self.__callback = on_event
            self.__entities: list[LaunchDescriptionEntity] | None = None
        else:
            self.__callback = None
            self.__entities = as_entity_list(on_event)

    @property
    def handler_description(self) -> str:
        if self.__callback is not None:
            return f"<function {getattr(self.__callback, '__name__', 'callback')}>"
        return f"<actions {[type(e).__name__ for e in self.__entities or []]}>"

    @property
    def matcher_description(self) -> str:
        return f"event == {self.event_type.__name__} and action == {self.__target!r}"

    def describe(self) -> tuple[str, list[LaunchDescriptionEntity]]:
        text, _ = super().describe()
        return text, list(self.__entities or [])

    def handle(self, event: Event, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        super().handle(event, context)
        if self.__callback is not None:
            return as_entity_list(self.__callback(event, context))
        return list(self.__entities or [])


class OnProcessExit(OnActionEventBase):
    """A target ExecuteProcess exited; `on_exit` gets the ProcessExited event (returncode, pid, ...)."""

    event_type = ProcessExited

    def __init__(self, *, target_action: Any = None, on_exit: Any, **kwargs: Any) -> None:
        super().__init__(target_action=target_action, on_event=on_exit, **kwargs)


class OnProcessStart(OnActionEventBase):
    """A target ExecuteProcess started."""

    event_type = ProcessStarted

    def __init__(self, *, target_action: Any = None, on_start: Any, **kwargs: Any) -> None:
        super().__init__(target_action=target_action, on_event=on_start, **kwargs)


class OnExecutionComplete(OnActionEventBase):
    """A target action finished executing."""

    event_type = ExecutionComplete

    def __init__(self, *, target_action: Any = None, on_completion: Any, **kwargs: Any) -> None:
        super().__init__(target_action=target_action, on_event=on_completion, **kwargs)


class OnProcessIO(OnActionEventBase):
    """Output of a target process: on_stdout/on_stderr callables get the ProcessIO event."""

    event_type = ProcessIO

    def __init__(
        self,
        *,
        target_action: Any = None,
        on_stdin: Callable | None = None,
        on_stdout: Callable | None = None,
        on_stderr: Callable | None = None,
        **kwargs: Any,
    ) -> None:
        def dispatch(event: ProcessIO, context: LaunchContext) -> Any:
            if event.from_stdout and on_stdout is not None:
                return on_stdout(event)
            if event.from_stderr and on_stderr is not None:
                return on_stderr(event)
            return None

        super().__init__(target_action=target_action, on_event=dispatch, **kwargs)


class OnShutdown(BaseEventHandler):
    """The launch is shutting down (Shutdown event: user request, ^C, idle); `on_shutdown` as above."""

    def __init__(self, *, on_shutdown: Any, **kwargs: Any) -> None:
        super().__init__(matcher=lambda event: isinstance(event, Shutdown), **kwargs)
        if callable(on_shutdown) and not isinstance(on_shutdown, LaunchDescriptionEntity):
            self.__callback = on_shutdown
            self.__entities: list[LaunchDescriptionEntity] = []
        else:
            self.__callback = None
            self.__entities = as_entity_list(on_shutdown)

    @property
    def matcher_description(self) -> str:
        return "event == Shutdown"

    def describe(self) -> tuple[str, list[LaunchDescriptionEntity]]:
        text, _ = super().describe()
        return text, list(self.__entities)

    def handle(self, event: Event, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        super().handle(event, context)
        if self.__callback is not None:
            return as_entity_list(self.__callback(event, context))
        return list(self.__entities)


class OnIncludeLaunchDescription(EventHandler):
    """A launch description was included (mostly for debugging)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("entities", None)
        super().__init__(matcher=lambda event: isinstance(event, IncludeLaunchDescription), **kwargs)


__all__ = [
    "BaseEventHandler",
    "EventHandler",
    "OnActionEventBase",
    "OnExecutionComplete",
    "OnIncludeLaunchDescription",
    "OnProcessExit",
    "OnProcessIO",
    "OnProcessStart",
    "OnShutdown",
]
