"""message_filters stand-in with real rclpy publishers in another process, over loopback DDS."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
import rclpy
from message_filters import ApproximateTimeSynchronizer, Cache, Subscriber, TimeSynchronizer
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import FluidPressure, Temperature
from std_msgs.msg import String

pytestmark = [pytest.mark.dds]

ROUNDS = 5
LATE_NS = 20_000_000  # 'temp_late' stamps are 20 ms after 'temp'

PUBLISHER = textwrap.dedent(
    f"""
    import time
    import rclpy
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import FluidPressure, Temperature
    from std_msgs.msg import String

    rclpy.init()
    node = rclpy.create_node("mf_test_publisher")
    pubs = {{
        "temp": node.create_publisher(Temperature, "temp", 10),
        "temp_late": node.create_publisher(Temperature, "temp_late", 10),
        "fluid": node.create_publisher(FluidPressure, "fluid", 10),
        "chatter": node.create_publisher(String, "chatter", 10),
    }}
    deadline = time.monotonic() + 30
    while any(p.get_subscription_count() == 0 for p in pubs.values()):
        if time.monotonic() > deadline:
            raise SystemExit("no subscribers")
        time.sleep(0.05)
    time.sleep(0.5)
    for i in range({ROUNDS}):
        stamp = Time(sec=100 + i, nanosec=0)
        late = Time(sec=100 + i, nanosec={LATE_NS})
        t = Temperature(temperature=float(i)); t.header.stamp = stamp
        tl = Temperature(temperature=float(i)); tl.header.stamp = late
        f = FluidPressure(fluid_pressure=float(i)); f.header.stamp = stamp
        pubs["temp"].publish(t)
        pubs["fluid"].publish(f)
        pubs["temp_late"].publish(tl)
        pubs["chatter"].publish(String(data=f"hello {{i}}"))
        time.sleep(0.1)
    time.sleep(2.0)
    node.destroy_node()
    rclpy.shutdown()
    """
)


@pytest.fixture
def node(ros_domain: int) -> Iterator[Node]:
    context = rclpy.Context()
    rclpy.init(context=context)
    n = Node("mf_test_subscriber", context=context)
    try:
        yield n
    finally:
        n.destroy_node()
        rclpy.shutdown(context=context)


def test_synchronizers_over_loopback(node: Node) -> None:
    temp = Subscriber(node, Temperature, "temp")
    late = Subscriber(node, Temperature, "temp_late", qos_profile=10)
    fluid = Subscriber(node, FluidPressure, "fluid")
    chatter = Subscriber(node, String, "chatter")
    assert temp.getTopic() == "temp"
    assert temp.getSubscriber() is temp.sub and temp.topic_name == "/temp"  # attribute delegation

    exact: list[tuple[int, int]] = []
    TimeSynchronizer([temp, fluid], 10).registerCallback(
        lambda t, f: exact.append((Time.from_msg(t.header.stamp).nanoseconds, int(f.fluid_pressure)))
    )
    approx: list[tuple[int, int]] = []
    ApproximateTimeSynchronizer([temp, late], 10, slop=0.05).registerCallback(
        lambda a, b: approx.append(
            (Time.from_msg(a.header.stamp).nanoseconds, Time.from_msg(b.header.stamp).nanoseconds)
        )
    )
    too_tight: list[object] = []
    ApproximateTimeSynchronizer([temp, late], 10, slop=0.01).registerCallback(lambda *m: too_tight.append(m))
    temp_cache = Cache(temp, cache_size=3)
    chat_cache = Cache(chatter, cache_size=10, allow_headerless=True)

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    start = node.get_clock().now()
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER])
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and (
            len(exact) < ROUNDS or len(approx) < ROUNDS or len(chat_cache.cache_msgs) < ROUNDS
        ):
            executor.spin_once(timeout_sec=0.1)
        end = node.get_clock().now()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        executor.remove_node(node)
        executor.shutdown()

    base = 100 * 10**9
    assert exact == [(base + i * 10**9, i) for i in range(ROUNDS)]
    assert approx == [(base + i * 10**9, base + i * 10**9 + LATE_NS) for i in range(ROUNDS)]
    assert too_tight == []
    # Cache keeps the newest 3 temperature messages, queried by stamp
    ros = start.clock_type
    assert temp_cache.getOldestTime() == Time(seconds=102, clock_type=ros)
    assert temp_cache.getLastestTime() == Time(seconds=104, clock_type=ros)
    window = temp_cache.getInterval(Time(seconds=101, clock_type=ros), Time(seconds=103, clock_type=ros))
    assert [m.temperature for m in window] == [2.0, 3.0]  # 101 was evicted
    assert temp_cache.getElemBeforeTime(Time(seconds=103.5, clock_type=ros)).temperature == 3.0
    # headerless messages are stamped with the node clock on arrival
    assert [m.data for m in chat_cache.cache_msgs] == [f"hello {i}" for i in range(ROUNDS)]
    assert start <= chat_cache.getOldestTime() <= chat_cache.getLastestTime() <= end
