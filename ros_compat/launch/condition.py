"""Base class of conditions attached to actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .launch_context import LaunchContext


class Condition:
    """Wraps a predicate evaluated with the launch context."""

    def __init__(self, *, predicate: Callable[[LaunchContext], bool] | None = None) -> None:
        self._predicate = predicate

    def describe(self) -> str:
        return f"{type(self).__name__}()"

    def evaluate(self, context: LaunchContext) -> bool:
        if self._predicate is None:
            raise NotImplementedError
        return bool(self._predicate(context))
