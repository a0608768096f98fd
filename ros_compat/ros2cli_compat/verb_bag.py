"""Record, play and inspect rosbag2 bags (`ros2 bag record|play|info`), with upstream syntax and output.

Storage is done by the pure-Python `rosbags` library (mcap or sqlite3, rosbag2 format version 9), and
messages pass through as raw CDR bytes (rclpy raw subscriptions / raw publishing), so nothing is
converted between recording and playback.

Differences from upstream rosbag2 (Jazzy), kept on purpose small:
- `play` waits up to `--wait-for-subscribers` seconds (default 2.0 s) for every publisher to match a
  subscriber (+0.25 s for the match to complete on the subscriber side) before sending the first
  message (upstream sends at once, losing the first messages of short bags to DDS discovery, which
  takes about 2 s with Fast DDS on localhost; a volatile subscriber only gets what is sent after it
  has matched), keeps a publisher history of 100 instead of 10, and at the end waits up to
  `--wait-for-all-acked` ms (default 1000 ms) for reliable subscribers to acknowledge everything
  before the process exits.
- `record` stores receive times from the node clock (system time); no services, compression, splitting.
"""

from __future__ import annotations

import argparse
import datetime
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rclpy
import yaml
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.topic_or_service_is_hidden import topic_or_service_is_hidden

from ._msgtools import get_message_class

_STORAGES = ("mcap", "sqlite3")
_PLAY_DEPTH = 100
_MATCH_SETTLE_S = 0.25  # after the player's writers see their readers, let the readers see the writers


class BagError(Exception):
    """A user error: printed on stderr, exit code 1."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_verb", metavar="verb")
    sub.required = True

    rec = sub.add_parser("record", help="Record ROS data to a bag")
    rec.add_argument("topics", nargs="*", default=[], help="List of topics to record.")
    rec.add_argument("-a", "--all", "--all-topics", dest="all", action="store_true",
                     help="Record all topics (new topics are picked up as they appear).")
    rec.add_argument("-o", "--output", default=None,
                     help="Destination of the bagfile to create, defaults to a timestamped folder "
                          "in the current directory (rosbag2_YYYY_MM_DD-HH_MM_SS).")
    rec.add_argument("-s", "--storage", choices=_STORAGES, default="mcap",
                     help="Storage identifier to be used, defaults to 'mcap'.")
    rec.add_argument("--include-hidden-topics", action="store_true",
                     help="Record also hidden topics (names with a component starting with '_').")
    rec.add_argument("--include-unpublished-topics", action="store_true",
                     help="Also subscribe to topics that have no publisher (type from subscribers).")
    rec.add_argument("-p", "--polling-interval", type=int, default=100,
                     help="Time in ms to wait between querying the ROS graph for new topics.")

    play = sub.add_parser("play", help="Play back ROS data from a bag")
    play.add_argument("bag_path", help="Bag to open (directory with metadata.yaml, or .mcap/.db3 file)")
    play.add_argument("-s", "--storage", choices=_STORAGES, default=None,
                      help="Storage implementation of the bag (detected when not given).")
    play.add_argument("-r", "--rate", type=float, default=1.0, help="Rate at which to play back messages.")
    play.add_argument("--topics", nargs="+", default=None, help="Topics to replay, separated by space.")
    play.add_argument("--clock", type=float, nargs="?", const=40.0, default=0.0, metavar="HZ",
                      help="Publish to /clock at a specific frequency in Hz (default 40 when given "
                           "without a value).")
    play.add_argument("-l", "--loop", action="store_true", help="Enables loop playback.")
    play.add_argument("--start-offset", type=float, default=0.0,
                      help="Start the playback player this many seconds into the bag file.")
    play.add_argument("-m", "--remap", "--remap-topics", dest="remap", nargs="+", default=[],
                      metavar="FROM:=TO", help="List of topics to be remapped: from:=to.")
    play.add_argument("-d", "--delay", type=float, default=0.0,
                      help="Sleep duration in seconds before play (after the subscriber wait).")
    play.add_argument("--wait-for-subscribers", type=float, default=2.0, metavar="S",
                      help="Wait up to S seconds for each publisher to match a subscriber before "
                           "playing (compat extension, default 2.0; 0 disables).")
    play.add_argument("--wait-for-all-acked", type=int, default=1000, metavar="TIMEOUT_MS",
                      help="At the end, wait up to this many ms until reliable subscribers have "
                           "acknowledged all messages (0 = wait forever, negative = don't wait).")
    play.add_argument("--disable-keyboard-controls", action="store_true", help="(accepted, no effect)")

    info = sub.add_parser("info", help="Print information about a bag to the screen")
    info.add_argument("bag_path", help="Bag to open (directory with metadata.yaml, or .mcap/.db3 file)")
    info.add_argument("-s", "--storage", choices=_STORAGES, default=None, help="(detected when not given)")
    info.add_argument("-t", "--topic-name", action="store_true", help="Only display topic names.")
    info.add_argument("-v", "--verbose", action="store_true",
                      help="Display request/response information for services")


# --------------------------------------------------------------------------------------- types / QoS


def _msg_text_from_class(type_name: str) -> str:
    """A .msg definition rebuilt from the generated Python class (when no .msg file is installed)."""
    msg_class = get_message_class(type_name)
    base = {"boolean": "bool", "octet": "byte", "float": "float32", "double": "float64",
            "long double": "float64"}

    def convert(idl: str) -> str:
        if m := re.fullmatch(r"sequence<(.+?)(?:, (\d+))?>", idl):
            return f"{convert(m[1])}[{'<=' + m[2] if m[2] else ''}]"
        if m := re.fullmatch(r"(.+)\[(\d+)\]", idl):
            return f"{convert(m[1])}[{m[2]}]"
        if m := re.fullmatch(r"(w?string)<(\d+)>", idl):
            return f"{m[1]}<={m[2]}"
        return base.get(idl, idl)

    fields = msg_class.get_fields_and_field_types()
    return "".join(f"{convert(t)} {name}\n" for name, t in fields.items())


def _msg_text(type_name: str) -> str:
    package, _, name = type_name.split("/")
    try:
        from ament_index_python import get_package_share_directory

        path = Path(get_package_share_directory(package)) / "msg" / f"{name}.msg"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except (ImportError, LookupError, ValueError):
        pass
    return _msg_text_from_class(type_name)


def _referenced_types(desc: tuple) -> list[str]:
    from rosbags.interfaces import Nodetype

    kind, rest = desc
    if kind == Nodetype.NAME:
        return [rest]
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return _referenced_types(rest[0])
    return []


def ensure_type(typestore: Any, type_name: str) -> None:
    """Register type_name (and the types it uses) in the rosbags typestore, from .msg or Python class."""
    from rosbags.typesys import get_types_from_msg

    type_name = _full_type_name(type_name)
    if type_name in typestore.fielddefs:
        return
    try:
        types = get_types_from_msg(_msg_text(type_name), type_name)
    except ValueError as exc:
        raise BagError(
            f"Unknown message type '{type_name}': not in the rosbags typestore, no .msg file found "
            f"and its Python module is not importable"
        ) from exc
    for _name, (_consts, fields) in types.items():
        for _field, desc in fields:
            for ref in _referenced_types(desc):
                ensure_type(typestore, ref)
    typestore.register(types)


def _full_type_name(type_name: str) -> str:
    parts = type_name.strip("/").split("/")
    return "/".join([parts[0], "msg", parts[1]]) if len(parts) == 2 else type_name.strip("/")


def _message_class_or_error(type_name: str, topic: str) -> type:
    try:
        return get_message_class(type_name)
    except ValueError:
        raise BagError(
            f"Unknown message type '{type_name}' of topic '{topic}': its Python package is not "
            f"installed/importable (is the workspace sourced?)"
        ) from None


def _duration_to_bag(duration: Duration) -> Any:
    from rosbags.interfaces import QosTime

    ns = max(0, int(duration.nanoseconds))
    return QosTime(ns // 10**9, ns % 10**9)


def _qos_to_bag(profile: QoSProfile) -> Any:
    """rclpy QoSProfile → rosbags Qos (enum values are the rmw ones on both sides)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability

    def enum(cls: Any, value: Any) -> Any:
        try:
            return cls(int(value))
        except ValueError:
            return cls.UNKNOWN

    return Qos(
        enum(QosHistory, profile.history), int(profile.depth),
        enum(QosReliability, profile.reliability), enum(QosDurability, profile.durability),
        _duration_to_bag(profile.deadline), _duration_to_bag(profile.lifespan),
        enum(QosLiveliness, profile.liveliness), _duration_to_bag(profile.liveliness_lease_duration),
        bool(profile.avoid_ros_namespace_conventions),
    )


def _subscription_qos(profiles: list[QoSProfile]) -> QoSProfile:
    """Match the publishers: best effort if any is, transient local only if all are."""
    best_effort = any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in profiles)
    latched = bool(profiles) and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in profiles)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10,
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def _playback_qos(offered: list[Any]) -> QoSProfile:
    """Upstream: the recorded publishers' reliability/durability when they all agree, else defaults.

    The history is deeper than upstream's 10 (_PLAY_DEPTH) so that slow reliable subscribers do not
    make the player drop unacknowledged messages in bursts.
    """
    qos = QoSProfile(depth=_PLAY_DEPTH)
    reliabilities = {q.reliability.value for q in offered}
    durabilities = {q.durability.value for q in offered}
    if len(reliabilities) == 1 and (value := reliabilities.pop()) in (1, 2):
        qos.reliability = ReliabilityPolicy(value)
    if len(durabilities) == 1 and (value := durabilities.pop()) in (1, 2):
        qos.durability = DurabilityPolicy(value)
    return qos


# --------------------------------------------------------------------------------------------- helpers


class _StopFlag:
    """SIGINT/SIGTERM set a flag (rclpy's own handlers are off), so the loops can close the bag cleanly."""

    def __init__(self) -> None:
        self.stopped = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, _signum: int, _frame: object) -> None:
        self.stopped = True


def _open_reader(path_text: str) -> Any:
    from rosbags.rosbag2 import Reader

    path = Path(path_text)
    if not path.exists():
        raise BagError(f"Bag path '{path_text}' does not exist")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        raise BagError(f"Bag path '{path_text}' has no metadata.yaml (is it a rosbag2 bag?)")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types for unreadable bags
        raise BagError(f"Could not open bag '{path_text}': {exc}") from exc
    return reader


def _log(node: Node | None, text: str, error: bool = False) -> None:
    if node is not None:
        (node.get_logger().error if error else node.get_logger().info)(text)
    else:
        print(f"[{'ERROR' if error else 'INFO'}] [ros2bag]: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- record


def _record(args: argparse.Namespace) -> int:
    from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
    from rosbags.typesys import Stores, get_typestore

    if args.all and args.topics:
        raise BagError("Invalid choice: Can not specify topics and --all at the same time.")
    if not args.all and not args.topics:
        raise BagError("Invalid choice: Must specify topic(s) or --all")
    output = Path(args.output or datetime.datetime.now().strftime("rosbag2_%Y_%m_%d-%H_%M_%S"))
    if output.exists():
        raise BagError(f"Output folder '{output}' already exists.")

    typestore = get_typestore(Stores.ROS2_JAZZY)
    stop = _StopFlag()
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # argv is ours
    node = rclpy.create_node("rosbag2_recorder", start_parameter_services=False)
    writer = Writer(output, version=Writer.VERSION_LATEST,
                    storage_plugin=StoragePlugin.MCAP if args.storage == "mcap" else StoragePlugin.SQLITE3)
    try:
        try:
            wanted = {node.resolve_topic_name(t) for t in args.topics}
        except Exception as exc:  # noqa: BLE001 - rclpy raises its own types for invalid names
            raise BagError(f"Invalid topic name in {args.topics}: {exc}") from exc
        try:
            writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"Could not create the bag '{output}': {exc}") from exc
        suffix = "mcap" if args.storage == "mcap" else "db3"
        _log(node, f"Opened bag '{output}' ({output / (output.name + '.' + suffix)}) for writing.")
        subscribed: dict[str, Any] = {}
        skipped: set[str] = set()
        _log(node, "Listening for topics...")

        def make_callback(connection: Any) -> Callable[[bytes], None]:
            def on_message(data: bytes) -> None:
                writer.write(connection, node.get_clock().now().nanoseconds, data)
            return on_message

        def discover() -> None:
            for topic, types in node.get_topic_names_and_types():
                if topic in subscribed or topic in skipped or not types:
                    continue
                if args.all:
                    if topic_or_service_is_hidden(topic) and not args.include_hidden_topics:
                        continue
                elif topic not in wanted:
                    continue
                publishers = node.get_publishers_info_by_topic(topic)
                if not publishers and not args.include_unpublished_topics:
                    continue
                type_name = types[0]
                if len(types) > 1:
                    _log(node, f"Topic '{topic}' has several types {types}, recording '{type_name}'")
                try:
                    msg_class = _message_class_or_error(type_name, topic)
                    ensure_type(typestore, type_name)
                except BagError as exc:
                    _log(node, f"Ignoring topic '{topic}': {exc}", error=True)
                    skipped.add(topic)
                    continue
                offered = [p.qos_profile for p in publishers]
                connection = writer.add_connection(
                    topic, _full_type_name(type_name), typestore=typestore,
                    offered_qos_profiles=[_qos_to_bag(q) for q in offered],
                )
                subscribed[topic] = node.create_subscription(
                    msg_class, topic, make_callback(connection), _subscription_qos(offered), raw=True
                )
                _log(node, f"Subscribed to topic '{topic}'")

        discover()
        _log(node, "Recording...")
        period = max(args.polling_interval, 1) / 1000.0
        next_discovery = time.monotonic() + period
        discovering = True
        while not stop.stopped:
            rclpy.spin_once(node, timeout_sec=0.05)
            if discovering and time.monotonic() >= next_discovery:
                next_discovery = time.monotonic() + period
                discover()
                if not args.all and wanted <= set(subscribed) | skipped:
                    _log(node, "All requested topics are subscribed. Stopping discovery...")
                    discovering = False
        for subscription in subscribed.values():
            node.destroy_subscription(subscription)
        if not any(writer.counts.values()):
            writer.min_timestamp = 0  # rosbags would store 2**63-1 as the start of an empty bag
        writer.close()
        _log(node, f"Recording stopped, {sum(writer.counts.values())} messages written to '{output}'")
        return 0
    except BaseException:
        if writer.storage is not None:
            writer.close()  # keep what was recorded readable
        raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# ------------------------------------------------------------------------------------------------ play


def _parse_remaps(rules: list[str]) -> dict[str, str]:
    remaps = {}
    for rule in rules:
        source, sep, target = rule.partition(":=")
        if not sep or not source or not target:
            raise BagError(f"Invalid remap rule '{rule}': expected from:=to")
        remaps["/" + source.lstrip("/")] = "/" + target.lstrip("/")
    return remaps


def _play(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        raise BagError(f"Invalid rate {args.rate}: must be > 0")
    if args.clock < 0:
        raise BagError(f"Invalid --clock frequency {args.clock}: must be >= 0")
    remaps = _parse_remaps(args.remap)
    reader = _open_reader(args.bag_path)
    try:
        return _play_reader(args, reader, remaps)
    finally:
        reader.close()


def _play_reader(args: argparse.Namespace, reader: Any, remaps: dict[str, str]) -> int:
    connections = list(reader.connections)
    if args.topics is not None:
        selected = {"/" + t.lstrip("/") for t in args.topics}
        connections = [c for c in connections if c.topic in selected]
    classes = {c.id: _message_class_or_error(c.msgtype, c.topic) for c in connections}
    clock_class = None
    if args.clock:
        try:
            from rosgraph_msgs.msg import Clock as clock_class
        except ImportError:
            raise BagError("--clock needs the rosgraph_msgs package (rosgraph_msgs.msg), "
                           "which is not importable") from None

    stop = _StopFlag()
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # argv is ours
    node = rclpy.create_node("rosbag2_player", start_parameter_services=False)
    try:
        publishers: dict[int, Any] = {}
        by_topic: dict[tuple[str, str], Any] = {}
        for c in connections:
            topic = remaps.get(c.topic, c.topic)
            key = (topic, c.msgtype)
            if key not in by_topic:
                offered = [q for other in connections if (other.topic, other.msgtype) == (c.topic, c.msgtype)
                           for q in other.ext.offered_qos_profiles]
                by_topic[key] = node.create_publisher(classes[c.id], topic, _playback_qos(offered))
            publishers[c.id] = by_topic[key]
        clock_pub = node.create_publisher(clock_class, "/clock", 10) if clock_class else None
        _log(node, f"Set rate to {args.rate:g}")

        deadline = time.monotonic() + max(args.wait_for_subscribers, 0.0)
        while not stop.stopped and time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in by_topic.values()):
                time.sleep(_MATCH_SETTLE_S)
                break
            rclpy.spin_once(node, timeout_sec=0.02)
        if args.delay > 0:
            time.sleep(args.delay)

        bag_start = reader.start_time + int(args.start_offset * 1e9)
        clock_period = 1.0 / args.clock if args.clock else None
        next_clock = time.monotonic()

        def wait_until(target: float, wall_start: float) -> None:
            nonlocal next_clock
            while not stop.stopped:
                now = time.monotonic()
                if clock_pub is not None and now >= next_clock:
                    stamp_ns = bag_start + int((now - wall_start) * args.rate * 1e9)
                    clock = clock_class()
                    clock.clock.sec, clock.clock.nanosec = divmod(stamp_ns, 10**9)
                    clock_pub.publish(clock)
                    next_clock = now + clock_period
                if now >= target:
                    return
                wake = target if clock_pub is None else min(target, next_clock)
                time.sleep(min(max(wake - now, 0.0), 0.05))

        count = 0
        while not stop.stopped:
            wall_start = time.monotonic()
            played = 0
            if connections:
                for connection, timestamp, data in reader.messages(connections, start=bag_start):
                    wait_until(wall_start + (timestamp - bag_start) / 1e9 / args.rate, wall_start)
                    if stop.stopped:
                        break
                    publishers[connection.id].publish(bytes(data))
                    played += 1
            count += played
            if not args.loop or not played:
                break
        if args.wait_for_all_acked >= 0:
            timeout = Duration(seconds=-1) if args.wait_for_all_acked == 0 else Duration(
                nanoseconds=args.wait_for_all_acked * 10**6)
            for publisher in by_topic.values():
                try:
                    publisher.wait_for_all_acked(timeout)
                except Exception:  # noqa: BLE001, S110 - best effort publishers may not support it
                    pass
        _log(node, f"Playback done, {count} messages published")
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# ------------------------------------------------------------------------------------------------ info


def _format_size(size: float) -> str:
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    index = 0
    while size >= 1024 and index < 4:
        size /= 1024
        index += 1
    return f"{size:.{0 if index == 0 else 1}f} {units[index]}"


def _format_time(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    local = datetime.datetime.fromtimestamp(seconds)
    return f"{local.strftime('%b %e %Y %H:%M:%S')}.{rest:09d} ({seconds}.{rest:09d})"


def _info(args: argparse.Namespace) -> int:
    reader = _open_reader(args.bag_path)
    try:
        path = Path(args.bag_path)
        if path.is_dir():
            meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
            files = [str(f) for f in meta.get("relative_file_paths", [])]
            storage_id = meta.get("storage_identifier", "")
            bag_size = sum((path / f).stat().st_size for f in files if (path / f).exists())
        else:
            files = [path.name]
            storage_id = "mcap" if path.suffix == ".mcap" else "sqlite3"
            bag_size = path.stat().st_size
        if args.topic_name:  # upstream -t: the names only, one per line
            for name in sorted(reader.topics):
                print(name)
            return 0
        count = reader.message_count
        start = reader.start_time if count else 0
        duration = reader.duration - 1 if count else 0  # rosbags counts end - start + 1 ns
        pad = " " * 19
        lines = [
            "",
            "Files:             " + f"\n{pad}".join(files),
            f"Bag size:          {_format_size(bag_size)}",
            f"Storage id:        {storage_id}",
            f"ROS Distro:        {reader.ros_distro or 'unknown'}",
            f"Duration:          {duration // 10**9}.{duration % 10**9:09d}s",
            f"Start:             {_format_time(start)}",
            f"End:               {_format_time(start + duration)}",
            f"Messages:          {count}",
        ]
        topics = sorted(reader.topics.items())
        topic_lines = [
            f"Topic: {name} | Type: {info.msgtype} | Count: {info.msgcount} | Serialization Format: "
            f"{info.connections[0].ext.serialization_format if info.connections else 'cdr'}"
            for name, info in topics
        ]
        lines.append("Topic information: " + f"\n{pad}".join(topic_lines))
        # service events are not recorded by this implementation: 0 services, with or without -v
        lines.append("Service:           0")
        lines.append("Service information: ")
        print("\n".join(lines))
        return 0
    finally:
        reader.close()


def main(args: argparse.Namespace) -> int:
    handlers = {"record": _record, "play": _play, "info": _info}
    try:
        return handlers[args.bag_verb](args)
    except BagError as exc:
        print(f"[ERROR] [ros2bag]: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
