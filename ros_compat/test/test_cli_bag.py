"""`ros2 bag record|play|info` between real processes over loopback DDS, for both storages."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from std_msgs.msg import String

from ddvlm_msgs.msg import Transcript

pytestmark = pytest.mark.dds

STORAGES = ["mcap", "sqlite3"]
BAG_START_NS = 1_700_000_000 * 10**9
PERIOD_NS = 100_000_000  # 10 Hz in the bag

# Prints "<monotonic time>\t<topic>\t<data>" per std_msgs/String received; exits `linger` s after the
# `expected`-th message, or at `timeout`.
SUBSCRIBER = """
import sys, time, rclpy
from std_msgs.msg import String
timeout, expected, linger, topics = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
rclpy.init()
node = rclpy.create_node("bag_test_listener")
received = []
def make_callback(topic):
    def callback(msg):
        received.append(topic)
        print(f"{time.monotonic():.4f}\\t{topic}\\t{msg.data}", flush=True)
    return callback
for topic in topics:
    node.create_subscription(String, topic, make_callback(topic), 100)
print("ready", file=sys.stderr, flush=True)
end = time.monotonic() + timeout
while time.monotonic() < end:
    if len(received) >= expected:
        end = min(end, time.monotonic() + linger)
    rclpy.spin_once(node, timeout_sec=0.05)
"""


def ros2(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout)


def wait_for_text(path: Path, text: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        assert process.poll() is None, f"process exited early: {path.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not seen within {timeout} s: {path.read_text()}")


def write_bag(path: Path, storage: str, count: int) -> None:
    """/chatter and /other, `count` std_msgs/String each, 0.1 s apart."""
    typestore = get_typestore(Stores.ROS2_JAZZY)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        chatter = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=typestore)
        other = writer.add_connection("/other", "std_msgs/msg/String", typestore=typestore)
        for i in range(count):
            stamp = BAG_START_NS + i * PERIOD_NS
            writer.write(chatter, stamp, serialize_message(String(data=f"msg {i}")))
            writer.write(other, stamp + 1000, serialize_message(String(data=f"other {i}")))


@pytest.mark.slow
@pytest.mark.parametrize("storage", STORAGES)
def test_record_then_info_and_read_back(ros_domain: int, tmp_path: Path, storage: str) -> None:
    transcript = (
        "{header: {stamp: {sec: 12, nanosec: 34}, frame_id: mic}, conversation_id: c1, "
        "utterance_id: u3, text: 'Oh. My. God.', is_final: true, confidence: 0.5}"
    )
    publishers = [
        subprocess.Popen(["ros2", "topic", "pub", "-r", "10", *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for args in (["/chatter", "std_msgs/msg/String", "{data: hello bag}"],
                     ["transcript", "ddvlm_msgs/msg/Transcript", transcript])
    ]
    bag = tmp_path / "recorded"
    log = tmp_path / "record.log"
    started = time.time_ns()
    with log.open("w") as log_file:
        recorder = subprocess.Popen(
            ["ros2", "bag", "record", "-s", storage, "-o", str(bag), "/chatter", "transcript"],
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        wait_for_text(log, "All requested topics are subscribed", 30, recorder)
        time.sleep(1.5)
    finally:
        recorder.send_signal(signal.SIGINT)
        returncode = recorder.wait(timeout=20)
        for publisher in publishers:
            publisher.terminate()
            publisher.wait(timeout=10)
    output = log.read_text()
    assert returncode == 0, output
    assert "Subscribed to topic '/chatter'" in output and "Subscribed to topic '/transcript'" in output
    assert "Recording..." in output
    assert (bag / "metadata.yaml").is_file()

    info = ros2("bag", "info", str(bag))
    assert info.returncode == 0, info.stderr
    assert re.search(rf"^Storage id: +{storage}$", info.stdout, re.MULTILINE), info.stdout
    assert re.search(r"^Service: +0$", info.stdout, re.MULTILINE), info.stdout  # upstream's label
    names = ros2("bag", "info", "-t", str(bag))
    assert names.returncode == 0 and names.stdout.split() == ["/chatter", "/transcript"], names.stdout
    assert ros2("bag", "info", "-v", str(bag)).returncode == 0
    counts = {}
    expected_types = {"/chatter": "std_msgs/msg/String", "/transcript": "ddvlm_msgs/msg/Transcript"}
    for topic, msg_type in expected_types.items():
        match = re.search(
            rf"Topic: {topic} \| Type: {msg_type} \| Count: (\d+) \| Serialization Format: cdr", info.stdout
        )
        assert match, info.stdout
        counts[topic] = int(match[1])
        assert counts[topic] > 0

    with Reader(bag) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == expected_types
        read = {"/chatter": [], "/transcript": []}
        last_stamp = 0
        for connection, stamp, data in reader.messages():
            assert started <= stamp <= time.time_ns() and stamp >= last_stamp  # receive time, in order
            last_stamp = stamp
            msg_class = String if connection.topic == "/chatter" else Transcript
            read[connection.topic].append(deserialize_message(bytes(data), msg_class))
    assert {topic: len(msgs) for topic, msgs in read.items()} == counts
    assert {m.data for m in read["/chatter"]} == {"hello bag"}
    first = read["/transcript"][0]
    assert (first.header.stamp.sec, first.header.stamp.nanosec, first.header.frame_id) == (12, 34, "mic")
    assert (first.conversation_id, first.utterance_id, first.text) == ("c1", "u3", "Oh. My. God.")
    assert first.is_final and first.confidence == pytest.approx(0.5)


@pytest.mark.parametrize("storage", STORAGES)
def test_play_in_order_at_rate_with_topic_filter(ros_domain: int, tmp_path: Path, storage: str) -> None:
    count = 20  # 1.9 s of bag time on /chatter
    bag = tmp_path / "bag"
    write_bag(bag, storage, count)
    info = ros2("bag", "info", str(bag))
    assert info.returncode == 0 and "Duration:          1.900001000s" in info.stdout, info.stdout
    assert "Messages:          40" in info.stdout

    log = tmp_path / "listener.log"
    with log.open("w") as log_file:
        listener = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, "40", str(count), "1.0", "/chatter", "/other"],
            stdout=subprocess.PIPE, stderr=log_file, text=True,
        )
    try:
        wait_for_text(log, "ready", 20, listener)
        play = ros2("bag", "play", str(bag), "--topics", "/chatter", "-r", "2",
                    "--wait-for-subscribers", "15", timeout=60)
        out, _ = listener.communicate(timeout=45)
    finally:
        listener.kill()
    assert play.returncode == 0, play.stderr
    assert "Playback done" in play.stderr
    lines = [line.split("\t") for line in out.splitlines()]
    assert [(topic, data) for _, topic, data in lines] == [("/chatter", f"msg {i}") for i in range(count)]
    span = float(lines[-1][0]) - float(lines[0][0])
    assert 0.5 < span < 1.6, f"1.9 s of bag played at rate 2 took {span:.2f} s"  # ~0.95 s


def test_play_missing_bag_fails(ros_domain: int, tmp_path: Path) -> None:
    result = ros2("bag", "play", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "nope" in result.stderr


def test_record_refuses_existing_output(ros_domain: int, tmp_path: Path) -> None:
    (tmp_path / "existing").mkdir()
    result = ros2("bag", "record", "-o", str(tmp_path / "existing"), "/chatter")
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert list((tmp_path / "existing").iterdir()) == []


def test_record_needs_topics_or_all(ros_domain: int, tmp_path: Path) -> None:
    result = ros2("bag", "record", "-o", str(tmp_path / "b"))
    assert result.returncode == 1
    assert "Must specify topic(s) or --all" in result.stderr


def test_play_unknown_message_type_names_it(ros_domain: int, tmp_path: Path) -> None:
    typestore = get_typestore(Stores.ROS2_JAZZY)
    typestore.register(get_types_from_msg("string data\n", "no_such_msgs/msg/Thing"))
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/thing", "no_such_msgs/msg/Thing", typestore=typestore)
        writer.write(connection, BAG_START_NS, serialize_message(String(data="x")))
    result = ros2("bag", "play", str(tmp_path / "bag"))
    assert result.returncode == 1
    assert "no_such_msgs/msg/Thing" in result.stderr and "/thing" in result.stderr


def test_play_remap_and_start_offset(ros_domain: int, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_bag(bag, "mcap", 10)
    log = tmp_path / "listener.log"
    with log.open("w") as log_file:
        listener = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, "40", "5", "0.5", "/renamed", "/chatter"],
            stdout=subprocess.PIPE, stderr=log_file, text=True,
        )
    try:
        wait_for_text(log, "ready", 20, listener)
        play = ros2("bag", "play", str(bag), "--topics", "/chatter", "--remap", "/chatter:=/renamed",
                    "--start-offset", "0.5", "--wait-for-subscribers", "15", timeout=60)
        out, _ = listener.communicate(timeout=45)
    finally:
        listener.kill()
    assert play.returncode == 0, play.stderr
    received = [tuple(line.split("\t")[1:]) for line in out.splitlines()]
    assert received == [("/renamed", f"msg {i}") for i in range(5, 10)]


def test_play_clock_and_loop_until_sigint(ros_domain: int, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    write_bag(bag, "mcap", 10)
    echo = subprocess.Popen(
        ["ros2", "topic", "echo", "--once", "--timeout", "30", "/clock", "rosgraph_msgs/msg/Clock"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    player = subprocess.Popen(
        ["ros2", "bag", "play", str(bag), "--loop", "--clock", "20", "--wait-for-subscribers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        out, err = echo.communicate(timeout=40)
        assert echo.returncode == 0, err
        assert player.poll() is None, "a looping player must keep playing"
    finally:
        player.send_signal(signal.SIGINT)
        _, player_err = player.communicate(timeout=20)
    assert player.returncode == 0, player_err
    clock = yaml.safe_load(out.partition("---")[0])["clock"]
    stamp = clock["sec"] * 10**9 + clock["nanosec"]
    assert BAG_START_NS <= stamp <= BAG_START_NS + 10 * PERIOD_NS


def test_record_all_picks_up_new_topics(ros_domain: int, tmp_path: Path) -> None:
    bag = tmp_path / "all"
    log = tmp_path / "record.log"
    with log.open("w") as log_file:
        recorder = subprocess.Popen(["ros2", "bag", "record", "-a", "-o", str(bag)],
                                    stdout=log_file, stderr=subprocess.STDOUT)
    publisher = None
    try:
        wait_for_text(log, "Recording...", 20, recorder)
        publisher = subprocess.Popen(["ros2", "topic", "pub", "-r", "10", "/late", "std_msgs/msg/String",
                                      "{data: late}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_text(log, "Subscribed to topic '/late'", 30, recorder)
        time.sleep(1.0)
    finally:
        recorder.send_signal(signal.SIGTERM)
        returncode = recorder.wait(timeout=20)
        if publisher is not None:
            publisher.terminate()
            publisher.wait(timeout=10)
    assert returncode == 0, log.read_text()
    with Reader(bag) as reader:
        assert reader.topics["/late"].msgcount > 0
        assert all(not name.startswith("/_") for name in reader.topics)
