"""The filter base class: a list of callbacks that every output message is passed to."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class SimpleFilter:
    """Base of every filter; outputs go to the callbacks registered with ``registerCallback``."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self._next_connection = 0

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:  # noqa: N802 - upstream name
        """Call ``cb(*msgs, *args)`` on every output; returns the connection id (0, 1, ...)."""
        connection = self._next_connection
        self._next_connection += 1
        self.callbacks[connection] = (cb, args)
        return connection

    def signalMessage(self, *msg: Any) -> None:  # noqa: N802 - upstream name
        """Pass ``msg`` (one message, or one per input for synchronizers) to all callbacks."""
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))
