"""Cache of the last ``cache_size`` messages of an input filter, in arrival order (as upstream)."""

from __future__ import annotations

import threading
from typing import Any

from builtin_interfaces.msg import Time as TimeMsg
from rclpy.time import Time

from message_filters.simple_filter import SimpleFilter
from message_filters.stamps import clock_of, stamp_of, to_time


class Cache(SimpleFilter):
    """``Cache(f, cache_size=1, allow_headerless=False)``: stores messages, passes each one on."""

    def __init__(self, f: SimpleFilter, cache_size: int = 1, allow_headerless: bool = False) -> None:
        super().__init__()
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.cache_size = cache_size
        self.allow_headerless = allow_headerless
        self.cache_msgs: list[Any] = []
        self.cache_times: list[Time] = []
        self._lock = threading.Lock()
        self._clock = clock_of([f])
        self.connectInput(f)

    def connectInput(self, f: SimpleFilter) -> None:  # noqa: N802 - upstream name
        """Take input from filter ``f``."""
        self._clock = clock_of([f]) or self._clock
        self.incoming_connection = f.registerCallback(self.add)

    def add(self, msg: Any) -> None:
        """Append ``msg`` (arrival order, not stamp order: upstream's Python Cache does the same, so an
        out-of-order stamp changes getLast/getOldestTime/getInterval), drop the first beyond
        ``cache_size``, then signal it."""
        stamp = stamp_of(msg, self.allow_headerless, self._clock, "message_filters_cache")
        if stamp is None:
            return
        with self._lock:
            self.cache_times.append(stamp)
            self.cache_msgs.append(msg)
            while len(self.cache_msgs) > self.cache_size:
                del self.cache_msgs[0]
                del self.cache_times[0]
        self.signalMessage(msg)

    def _items(self) -> list[tuple[Any, Time]]:
        with self._lock:
            return list(zip(self.cache_msgs, self.cache_times, strict=True))

    def getInterval(self, from_stamp: Time | TimeMsg, to_stamp: Time | TimeMsg) -> list[Any]:  # noqa: N802 - upstream name
        """Messages with ``from_stamp <= stamp <= to_stamp`` (both ends inclusive), in arrival order.

        Stamps are ROS time; an ``rclpy.time.Time`` of another clock type raises TypeError, as in rclpy.
        """
        from_stamp, to_stamp = to_time(from_stamp), to_time(to_stamp)
        if from_stamp > to_stamp:
            raise ValueError("getInterval: from_stamp is after to_stamp")
        return [m for m, t in self._items() if from_stamp <= t <= to_stamp]

    def getElemAfterTime(self, stamp: Time | TimeMsg) -> Any | None:  # noqa: N802 - upstream name
        """The oldest message with stamp >= ``stamp``, or None."""
        stamp = to_time(stamp)
        newer = [m for m, t in self._items() if t >= stamp]
        return newer[0] if newer else None

    def getElemBeforeTime(self, stamp: Time | TimeMsg) -> Any | None:  # noqa: N802 - upstream name
        """The newest message with stamp <= ``stamp``, or None."""
        stamp = to_time(stamp)
        older = [m for m, t in self._items() if t <= stamp]
        return older[-1] if older else None

    def getLastestTime(self) -> Time | None:  # noqa: N802 - upstream name (sic)
        """Stamp of the last message to arrive, or None."""
        with self._lock:
            return self.cache_times[-1] if self.cache_times else None

    def getOldestTime(self) -> Time | None:  # noqa: N802 - upstream name
        """Stamp of the first cached message (arrival order), or None."""
        with self._lock:
            return self.cache_times[0] if self.cache_times else None

    def getLast(self) -> Any | None:  # noqa: N802 - upstream name
        """The last message to arrive, or None."""
        with self._lock:
            return self.cache_msgs[-1] if self.cache_msgs else None
