"""Message stamps as ``rclpy.time.Time``, shared by Cache and the synchronizers."""

from __future__ import annotations

from typing import Any

import rclpy.logging
from rclpy.clock import Clock, ROSClock
from rclpy.time import Time

_HEADERLESS_WARNING = (
    "can not use message filters for messages without timestamp information when "
    "'allow_headerless' is disabled; enable 'allow_headerless' to stamp headerless "
    "messages with the current ROS time"
)


def has_stamp(msg: Any) -> bool:
    """True when ``msg`` carries ``header.stamp`` (what upstream checks)."""
    return hasattr(msg, "header") and hasattr(msg.header, "stamp")


def to_time(stamp: Any) -> Time:
    """``builtin_interfaces/Time`` or ``rclpy.time.Time`` -> ``rclpy.time.Time`` (ROS time)."""
    if isinstance(stamp, Time):
        return stamp
    return Time.from_msg(stamp)


def stamp_of(msg: Any, allow_headerless: bool, clock: Clock | None, logger_name: str) -> Time | None:
    """The message's stamp; the clock's now() for headerless ones if allowed, else None (warned)."""
    if has_stamp(msg):
        return to_time(msg.header.stamp)
    if not allow_headerless:
        rclpy.logging.get_logger(logger_name).warning(_HEADERLESS_WARNING)
        return None
    return (clock or ROSClock()).now()


def clock_of(filters: Any) -> Clock | None:
    """The node clock of the first input that is a ``Subscriber`` (headerless stamps), else None."""
    for f in filters:
        node = getattr(f, "node", None)
        if node is not None and hasattr(node, "get_clock"):
            return node.get_clock()
    return None
