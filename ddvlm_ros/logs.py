"""Logging the engine does without ROS: rclpy's node logger and logging.Logger both fit, throttled by key."""

from __future__ import annotations

import time
from typing import Any, Protocol

LOG_THROTTLE_S = 5.0


class Logger(Protocol):
    """What the engine logs through: rclpy's node logger and logging.Logger both fit."""

    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...
    def error(self, msg: str) -> Any: ...


class ThrottledLog:
    """Logger wrapper: a message with a key is logged at most once per LOG_THROTTLE_S per key."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self._last: dict[str, float] = {}

    def _due(self, key: str | None) -> bool:
        if key is None:
            return True
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < LOG_THROTTLE_S:
            return False
        self._last[key] = now
        return True

    def info(self, msg: str) -> None:
        self.logger.info(msg)

    def warning(self, msg: str, key: str | None = None) -> None:
        if self._due(key):
            self.logger.warning(msg)

    def error(self, msg: str, key: str | None = None) -> None:
        if self._due(key):
            self.logger.error(msg)
