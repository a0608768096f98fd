"""builtin_interfaces/Time ↔ integer nanoseconds: the one place stamps are converted."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time

from ddvlm_ros.alignment import NS_PER_S, seconds_to_ns


def stamp_ns(t: Time) -> int:
    """builtin_interfaces/Time → integer nanoseconds."""
    return int(t.sec) * NS_PER_S + int(t.nanosec)


def to_stamp(ns: int) -> Time:
    """Integer nanoseconds → builtin_interfaces/Time."""
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def seconds_to_stamp(seconds: float) -> Time:
    """Float seconds → builtin_interfaces/Time (rounded to the nearest nanosecond)."""
    return to_stamp(seconds_to_ns(seconds))


def header_seconds(msg: Any) -> float:
    """A stamped message's header stamp in float seconds (for reports and plots)."""
    return stamp_ns(msg.header.stamp) / NS_PER_S
