"""OpaqueFunction: call a Python function with the launch context while the launch runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..action import Action, LaunchDescriptionEntity
from ..event_handler import as_entity_list
from ..launch_context import LaunchContext


class OpaqueFunction(Action):
    """`function(context, *args, **kwargs)` may return entities, which are then visited (upstream)."""

    def __init__(
        self,
        *,
        function: Callable[..., Any],
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        **left_over_kwargs: Any,
    ) -> None:
        super().__init__(**left_over_kwargs)
        if not callable(function):
            raise TypeError(f"OpaqueFunction function must be callable, got {function!r}")
        self.function = function
        self.args = list(args or [])
        self.kwargs = dict(kwargs or {})

    def describe(self) -> str:
        return f"OpaqueFunction(function={getattr(self.function, '__name__', self.function)!r})"

    def execute(self, context: LaunchContext) -> list[LaunchDescriptionEntity] | None:
        return as_entity_list(self.function(context, *self.args, **self.kwargs)) or None
