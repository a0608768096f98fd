"""Exact and approximate time synchronizers over several input filters (upstream algorithms)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from functools import reduce
from typing import Any

from rclpy.duration import Duration

from message_filters.simple_filter import SimpleFilter
from message_filters.stamps import clock_of, stamp_of, to_time


class TimeSynchronizer(SimpleFilter):
    """Signals one message per input when all inputs hold a message with the identical stamp."""

    def __init__(self, fs: Sequence[SimpleFilter], queue_size: int) -> None:
        super().__init__()
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.queue_size = queue_size
        self.lock = threading.Lock()
        self.connectInput(fs)

    def connectInput(self, fs: Sequence[SimpleFilter]) -> None:  # noqa: N802 - upstream name
        """One queue ({stamp_ns: msg}) per input filter."""
        self.queues: list[dict[int, Any]] = [{} for _ in fs]
        self.input_connections = [
            f.registerCallback(self.add, q, i) for i, (f, q) in enumerate(zip(fs, self.queues, strict=True))
        ]

    @staticmethod
    def _push(queue: dict[int, Any], stamp_ns: int, msg: Any, queue_size: int) -> None:
        queue[stamp_ns] = msg
        while len(queue) > queue_size:
            del queue[min(queue)]

    def add(self, msg: Any, my_queue: dict[int, Any], my_queue_index: int | None = None) -> None:
        """Queue ``msg``; signal every stamp now present in all queues, oldest first."""
        stamp = to_time(msg.header.stamp)
        ready: list[list[Any]] = []
        with self.lock:
            self._push(my_queue, stamp.nanoseconds, msg, self.queue_size)
            common = reduce(set.intersection, [set(q) for q in self.queues])
            for t in sorted(common):
                ready.append([q[t] for q in self.queues])
                for q in self.queues:
                    del q[t]
        for msgs in ready:
            self.signalMessage(*msgs)


class ApproximateTimeSynchronizer(TimeSynchronizer):
    """Signals a set (one per input) whose stamps span less than ``slop`` seconds."""

    def __init__(
        self, fs: Sequence[SimpleFilter], queue_size: int, slop: float, allow_headerless: bool = False
    ) -> None:
        super().__init__(fs, queue_size)
        self.slop = Duration(seconds=slop)
        self.allow_headerless = allow_headerless
        self._clock = clock_of(fs)

    def add(self, msg: Any, my_queue: dict[int, Any], my_queue_index: int | None = None) -> None:
        """Queue ``msg``; signal the closest set that includes it, as upstream's search does."""
        stamp = stamp_of(msg, self.allow_headerless, self._clock, "message_filters_approx")
        if stamp is None:
            return
        stamp_ns = stamp.nanoseconds
        slop_ns = self.slop.nanoseconds
        matched: list[Any] | None = None
        with self.lock:
            self._push(my_queue, stamp_ns, msg, self.queue_size)
            if my_queue_index is None:
                search_queues = self.queues
            else:
                search_queues = self.queues[:my_queue_index] + self.queues[my_queue_index + 1 :]
            candidates: list[list[int]] = []
            for queue in search_queues:
                near = sorted((abs(s - stamp_ns), s) for s in queue if abs(s - stamp_ns) <= slop_ns)
                if not near:
                    return
                candidates.append([s for _, s in near])
            for combo in itertools.product(*candidates):
                stamps = list(combo)
                if my_queue_index is not None:
                    stamps.insert(my_queue_index, stamp_ns)
                pairs = list(zip(self.queues, stamps, strict=True))
                if max(stamps) - min(stamps) < slop_ns and all(t in q for q, t in pairs):
                    matched = [q[t] for q, t in pairs]
                    for q, t in pairs:
                        del q[t]
                    break
        if matched is not None:
            self.signalMessage(*matched)
