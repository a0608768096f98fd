"""message_filters stand-in, driven by signalMessage, against upstream ros2/message_filters semantics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import message_filters
import pytest
from message_filters import ApproximateTimeSynchronizer, Cache, SimpleFilter, TimeSynchronizer
from rclpy.clock import ROSClock
from rclpy.clock_type import ClockType
from rclpy.time import Time
from sensor_msgs.msg import FluidPressure, Temperature
from std_msgs.msg import String

# Checks of what the stand-in adds beyond upstream (clear errors, sorted cache) are skipped when the
# real message_filters of a ROS install is the one imported; everything else holds for both.
standin_only = pytest.mark.skipif(
    "ros_compat" not in Path(message_filters.__file__).parts, reason="stand-in extension, not upstream"
)


def _temp(seconds: float, value: float = 0.0) -> Temperature:
    msg = Temperature(temperature=value)
    msg.header.stamp = Time(nanoseconds=round(seconds * 1e9)).to_msg()
    return msg


def _fluid(seconds: float) -> FluidPressure:
    msg = FluidPressure()
    msg.header.stamp = Time(nanoseconds=round(seconds * 1e9)).to_msg()
    return msg


def _secs(msg: Any) -> float:
    return Time.from_msg(msg.header.stamp).nanoseconds / 1e9


class Sink:
    """Collects what a filter signals."""

    def __init__(self, f: SimpleFilter) -> None:
        self.calls: list[tuple[Any, ...]] = []
        f.registerCallback(lambda *msgs: self.calls.append(msgs))

    def stamps(self) -> list[tuple[float, ...]]:
        return [tuple(_secs(m) for m in call) for call in self.calls]


def test_simple_filter_connection_ids_and_extra_args() -> None:
    f = SimpleFilter()
    got: list[tuple[Any, ...]] = []
    assert f.registerCallback(lambda *a: got.append(("first",) + a)) == 0
    assert f.registerCallback(lambda *a: got.append(("second",) + a), "x", 2) == 1
    f.signalMessage("m1", "m2")
    assert got == [("first", "m1", "m2"), ("second", "m1", "m2", "x", 2)]


# ---------------------------------------------------------------- TimeSynchronizer


def test_time_synchronizer_pairs_only_identical_stamps() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    sync = TimeSynchronizer([a, b], queue_size=10)
    sink = Sink(sync)
    a.signalMessage(_temp(1.0))
    b.signalMessage(_fluid(1.000000001))  # 1 ns off: no exact match
    assert sink.calls == []
    b.signalMessage(_fluid(1.0))
    assert sink.stamps() == [(1.0, 1.0)]
    assert isinstance(sink.calls[0][0], Temperature) and isinstance(sink.calls[0][1], FluidPressure)
    # out-of-order arrival still matches, and the matched stamps are consumed
    b.signalMessage(_fluid(3.0))
    b.signalMessage(_fluid(2.0))
    a.signalMessage(_temp(3.0))
    a.signalMessage(_temp(2.0))
    assert sink.stamps() == [(1.0, 1.0), (3.0, 3.0), (2.0, 2.0)]
    a.signalMessage(_temp(1.0))  # its partner was consumed
    assert len(sink.calls) == 3


def test_time_synchronizer_three_inputs() -> None:
    fs = [SimpleFilter() for _ in range(3)]
    sink = Sink(TimeSynchronizer(fs, 5))
    fs[0].signalMessage(_temp(5.0))
    fs[2].signalMessage(_temp(5.0))
    assert sink.calls == []
    fs[1].signalMessage(_temp(5.0))
    assert sink.stamps() == [(5.0, 5.0, 5.0)]


def test_time_synchronizer_queue_size_evicts_oldest() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    sink = Sink(TimeSynchronizer([a, b], queue_size=2))
    for t in (1.0, 2.0, 3.0):
        a.signalMessage(_temp(t))
    b.signalMessage(_fluid(1.0))  # stamp 1.0 was evicted from a's queue
    assert sink.calls == []
    b.signalMessage(_fluid(2.0))
    assert sink.stamps() == [(2.0, 2.0)]
    b.signalMessage(_fluid(3.0))
    assert sink.stamps() == [(2.0, 2.0), (3.0, 3.0)]


# ---------------------------------------------------------------- ApproximateTimeSynchronizer


def test_approximate_within_slop_matches() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    sink = Sink(ApproximateTimeSynchronizer([a, b], queue_size=10, slop=0.05))
    a.signalMessage(_temp(1.0))
    b.signalMessage(_fluid(1.06))  # 60 ms > slop
    assert sink.calls == []
    b.signalMessage(_fluid(1.04))
    assert sink.stamps() == [(1.0, 1.04)]


def test_approximate_slop_boundary_is_exclusive() -> None:
    """Upstream keeps a set only when max - min < slop (strictly)."""
    a, b = SimpleFilter(), SimpleFilter()
    sink = Sink(ApproximateTimeSynchronizer([a, b], 10, slop=0.5))
    a.signalMessage(_temp(10.0))
    b.signalMessage(_fluid(10.5))
    assert sink.calls == []
    b.signalMessage(_fluid(10.499999999))
    assert sink.stamps() == [(10.0, 10.499999999)]


def test_approximate_picks_closest_candidate() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    sink = Sink(ApproximateTimeSynchronizer([a, b], 10, slop=0.1))
    a.signalMessage(_temp(1.00, value=0))
    a.signalMessage(_temp(1.03, value=1))
    b.signalMessage(_fluid(1.04))
    assert sink.stamps() == [(1.03, 1.04)]
    assert sink.calls[0][0].temperature == 1
    b.signalMessage(_fluid(1.02))  # the remaining 1.00 is within slop
    assert sink.stamps() == [(1.03, 1.04), (1.0, 1.02)]


def test_approximate_three_inputs_needs_all_within_slop() -> None:
    fs = [SimpleFilter() for _ in range(3)]
    sink = Sink(ApproximateTimeSynchronizer(fs, 10, slop=0.1))
    fs[0].signalMessage(_temp(2.0))
    fs[1].signalMessage(_temp(2.09))
    fs[2].signalMessage(_temp(1.92))  # within slop of 2.0 but 0.17 from 2.09
    assert sink.calls == []
    fs[2].signalMessage(_temp(2.05))
    assert sink.stamps() == [(2.0, 2.09, 2.05)]


def test_approximate_queue_size_evicts_oldest() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    sink = Sink(ApproximateTimeSynchronizer([a, b], queue_size=2, slop=0.01))
    for t in (1.0, 2.0, 3.0):
        a.signalMessage(_temp(t))
    b.signalMessage(_fluid(1.0))
    assert sink.calls == []
    b.signalMessage(_fluid(2.0))
    assert sink.stamps() == [(2.0, 2.0)]


def test_approximate_headerless() -> None:
    a, b = SimpleFilter(), SimpleFilter()
    strict = Sink(ApproximateTimeSynchronizer([a, b], 10, slop=5.0))
    a.signalMessage(String(data="x"))
    b.signalMessage(String(data="y"))
    assert strict.calls == []  # dropped (warned), as upstream does without allow_headerless

    c, d = SimpleFilter(), SimpleFilter()
    sync = ApproximateTimeSynchronizer([c, d], 10, slop=5.0, allow_headerless=True)
    got: list[tuple[Any, ...]] = []
    sync.registerCallback(lambda *m: got.append(m))
    before = ROSClock().now().nanoseconds
    c.signalMessage(String(data="x"))
    d.signalMessage(String(data="y"))
    after = ROSClock().now().nanoseconds
    assert [(m1.data, m2.data) for m1, m2 in got] == [("x", "y")]
    # the stamps used are the ROS time of arrival
    assert all(before <= t <= after for q in sync.queues for t in q) and all(not q for q in sync.queues)


@standin_only
def test_invalid_sizes_rejected() -> None:
    with pytest.raises(ValueError, match="queue_size"):
        TimeSynchronizer([SimpleFilter()], 0)
    with pytest.raises(ValueError, match="cache_size"):
        Cache(SimpleFilter(), cache_size=0)


# ---------------------------------------------------------------- Cache


def _t(seconds: float) -> Time:
    return Time(nanoseconds=round(seconds * 1e9), clock_type=ClockType.ROS_TIME)


def _filled_cache(size: int = 3) -> tuple[SimpleFilter, Cache, Sink]:
    src = SimpleFilter()
    cache = Cache(src, cache_size=size)
    sink = Sink(cache)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        src.signalMessage(_temp(t))
    return src, cache, sink


def test_cache_keeps_newest_and_passes_messages_on() -> None:
    _, cache, sink = _filled_cache(3)
    assert sink.stamps() == [(1.0,), (2.0,), (3.0,), (4.0,), (5.0,)]
    assert [_secs(m) for m in cache.cache_msgs] == [3.0, 4.0, 5.0]
    assert cache.getOldestTime() == _t(3.0)
    assert cache.getLastestTime() == _t(5.0)
    assert _secs(cache.getLast()) == 5.0


def test_cache_interval_boundaries_inclusive() -> None:
    _, cache, _ = _filled_cache(3)
    assert [_secs(m) for m in cache.getInterval(_t(3.0), _t(5.0))] == [3.0, 4.0, 5.0]
    assert [_secs(m) for m in cache.getInterval(_t(3.0), _t(3.0))] == [3.0]
    assert [_secs(m) for m in cache.getInterval(_t(3.000000001), _t(4.999999999))] == [4.0]
    assert cache.getInterval(_t(4.1), _t(4.9)) == []
    assert [_secs(m) for m in cache.getInterval(_t(0.0), _t(100.0))] == [3.0, 4.0, 5.0]
    assert cache.getInterval(_t(1.0), _t(2.0)) == []  # evicted
    # mixing clock types is an error, as in rclpy
    with pytest.raises(TypeError, match="clock types"):
        cache.getInterval(Time(seconds=0), Time(seconds=9))


@standin_only
def test_cache_interval_extensions() -> None:
    _, cache, _ = _filled_cache(3)
    with pytest.raises(ValueError):
        cache.getInterval(_t(5.0), _t(3.0))
    # builtin_interfaces/Time stamps are accepted too
    assert [_secs(m) for m in cache.getInterval(_t(4.0).to_msg(), _t(5.0).to_msg())] == [4.0, 5.0]


def test_cache_elem_after_and_before() -> None:
    _, cache, _ = _filled_cache(3)
    assert _secs(cache.getElemAfterTime(_t(4.0))) == 4.0  # equal counts
    assert _secs(cache.getElemAfterTime(_t(3.5))) == 4.0
    assert _secs(cache.getElemAfterTime(_t(0.0))) == 3.0
    assert cache.getElemAfterTime(_t(5.000000001)) is None
    assert _secs(cache.getElemBeforeTime(_t(4.0))) == 4.0
    assert _secs(cache.getElemBeforeTime(_t(4.5))) == 4.0
    assert _secs(cache.getElemBeforeTime(_t(99.0))) == 5.0
    assert cache.getElemBeforeTime(_t(2.999999999)) is None


def test_cache_empty_returns_none() -> None:
    cache = Cache(SimpleFilter(), cache_size=4)
    assert cache.getLast() is None
    assert cache.getLastestTime() is None
    assert cache.getOldestTime() is None
    assert cache.getElemAfterTime(_t(0)) is None
    assert cache.getElemBeforeTime(_t(0)) is None
    assert cache.getInterval(_t(0), _t(1)) == []


def test_cache_keeps_arrival_order() -> None:
    """Upstream's Python Cache appends in arrival order: an out-of-order stamp is not sorted in, so
    getLast/getOldestTime/getInterval follow arrival, and the first to arrive is dropped first."""
    src = SimpleFilter()
    cache = Cache(src, cache_size=3)
    for t in (2.0, 1.0, 3.0):
        src.signalMessage(_temp(t))
    assert [_secs(m) for m in cache.getInterval(_t(0), _t(10))] == [2.0, 1.0, 3.0]
    assert cache.getOldestTime() == _t(2.0) and _secs(cache.getLast()) == 3.0
    src.signalMessage(_temp(0.5))
    assert [_secs(m) for m in cache.getInterval(_t(0), _t(10))] == [1.0, 3.0, 0.5]
    assert cache.getLastestTime() == _t(0.5) and _secs(cache.getElemAfterTime(_t(0.9))) == 1.0


def test_cache_headerless() -> None:
    src = SimpleFilter()
    strict = Cache(src, cache_size=2)
    sink = Sink(strict)
    src.signalMessage(String(data="x"))
    assert strict.getLast() is None and sink.calls == []

    lenient = Cache(SimpleFilter(), cache_size=2, allow_headerless=True)
    other = SimpleFilter()
    lenient.connectInput(other)
    before = ROSClock().now()
    other.signalMessage(String(data="y"))
    after = ROSClock().now()
    assert lenient.getLast().data == "y"
    assert before <= lenient.getLastestTime() <= after
