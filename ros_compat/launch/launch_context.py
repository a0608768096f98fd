"""State shared by actions while a launch runs: launch configurations, environment, locals, handlers."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .event import Event
    from .event_handler import BaseEventHandler
    from .substitution import Substitution


class Locals:
    """Attribute view of the context locals (`context.locals.event`), as upstream."""

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"context.locals has no attribute '{name}'") from None

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        return self._values.get(name, default)


Snapshot = tuple[dict[str, Any], dict[str, str], dict[str, Any]]


class LaunchContext:
    """Holds the scoped launch configurations, environment and locals (upstream names and methods)."""

    def __init__(self, argv: list[str] | None = None, noninteractive: bool = False) -> None:
        self.argv = list(argv or [])
        self.noninteractive = noninteractive
        self.launch_configurations: dict[str, Any] = {}
        self.environment: dict[str, str] = dict(os.environ)
        self._locals: dict[str, Any] = {}
        self._globals: dict[str, Any] = {}
        self.is_shutdown = False
        self.service: Any = None  # the LaunchService running this context
        self._event_handlers: list[tuple[BaseEventHandler, Snapshot]] = []

    # --- locals / globals -------------------------------------------------------------------
    @property
    def locals(self) -> Locals:
        return Locals({**self._globals, **self._locals})

    def extend_locals(self, extensions: dict[str, Any]) -> None:
        self._locals.update(extensions)

    def extend_globals(self, extensions: dict[str, Any]) -> None:
        self._globals.update(extensions)

    def get_locals_as_dict(self) -> dict[str, Any]:
        return {**self._globals, **self._locals}

    def perform_substitution(self, substitution: Substitution) -> str:
        return substitution.perform(self)

    # --- scopes -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def scope(self, forwarding: bool = True) -> Iterator[None]:
        """Run a block with configurations/environment/locals restored afterwards (GroupAction)."""
        saved = self.snapshot()
        if not forwarding:
            # upstream keeps the ROS scoping settings (namespace, global params, remaps) when not forwarding
            self.launch_configurations = {
                k: v
                for k, v in self.launch_configurations.items()
                if k in ("ros_namespace", "global_params", "ros_remaps")
            }
        try:
            yield
        finally:
            self.restore(saved)

    def snapshot(self) -> Snapshot:
        return (
            copy.copy(self.launch_configurations),
            dict(self.environment),
            dict(self._locals),
        )

    def restore(self, snap: Snapshot) -> None:
        self.launch_configurations = copy.copy(snap[0])
        self.environment = dict(snap[1])
        self._locals = dict(snap[2])

    # --- events -----------------------------------------------------------------------------
    @property
    def event_handlers(self) -> list[BaseEventHandler]:
        return [handler for handler, _ in self._event_handlers]

    def register_event_handler(self, event_handler: BaseEventHandler, append: bool = False) -> None:
        """Newest first (upstream), unless append; handlers run with the scope they were registered in."""
        item = (event_handler, self.snapshot())
        if append:
            self._event_handlers.append(item)
        else:
            self._event_handlers.insert(0, item)

    def unregister_event_handler(self, event_handler: BaseEventHandler) -> None:
        for item in self._event_handlers:
            if item[0] is event_handler:
                self._event_handlers.remove(item)
                return
        raise ValueError(f"event handler {event_handler!r} is not registered")

    def emit_event_sync(self, event: Event) -> None:
        self.service.emit_event(event)

    def emit_event(self, event: Event) -> None:
        """Queue an event (upstream's is a coroutine; here it just queues)."""
        self.service.emit_event(event)
