"""Inspect and use topics (`ros2 topic list|echo|pub|hz`), with upstream syntax and output."""

from __future__ import annotations

import argparse
import sys
import time

import rclpy
import yaml
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from ._msgtools import get_message_class, set_fields, to_plain, to_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="topic_verb", metavar="verb")
    sub.required = True
    lst = sub.add_parser("list", help="Output a list of available topics")
    lst.add_argument("-t", "--show-types", action="store_true")
    echo = sub.add_parser("echo", help="Output messages from a topic")
    echo.add_argument("topic_name")
    echo.add_argument("message_type", nargs="?")
    echo.add_argument("--once", action="store_true")
    echo.add_argument("--field", default=None, help="dotted field to print")
    echo.add_argument("--qos-reliability", choices=["reliable", "best_effort"], default=None)
    echo.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    pub = sub.add_parser("pub", help="Publish a message to a topic")
    pub.add_argument("topic_name")
    pub.add_argument("message_type")
    values = pub.add_mutually_exclusive_group()
    values.add_argument("values", nargs="?", default="{}", help="field values in YAML")
    values.add_argument("--stdin", action="store_true", help="read the field values (YAML) from stdin")
    pub.add_argument("-r", "--rate", type=_positive_float, default=1.0, help="publishing rate in Hz")
    pub.add_argument("-p", "--print", type=int, default=1, metavar="N", help="print every N-th message")
    times = pub.add_mutually_exclusive_group()
    times.add_argument("-1", "--once", action="store_true", help="publish one message and exit")
    times.add_argument("-t", "--times", type=_nonnegative_int, default=0, help="publish N times and exit")
    pub.add_argument(
        "-w",
        "--wait-matching-subscriptions",
        type=_nonnegative_int,
        default=None,
        help="wait for N matching subscriptions (default 1 with --once/--times, else 0)",
    )
    pub.add_argument("--max-wait-time-secs", type=_positive_float, default=None)
    pub.add_argument(
        "--keep-alive",
        type=_positive_float,
        default=0.1,
        metavar="N",
        help="keep the node alive N seconds after the last message",
    )
    pub.add_argument("-n", "--node-name", default=None, help="name of the publishing node")
    pub.add_argument("--qos-profile", choices=sorted(_QOS_PROFILES), default="default")
    pub.add_argument("--qos-depth", type=int, default=-1)
    pub.add_argument("--qos-history", choices=["keep_last", "keep_all", "system_default"], default=None)
    pub.add_argument("--qos-reliability", choices=["reliable", "best_effort", "system_default"], default=None)
    pub.add_argument(
        "--qos-durability", choices=["transient_local", "volatile", "system_default"], default=None
    )
    hz = sub.add_parser("hz", help="Print the average publishing rate")
    hz.add_argument("topic_name")
    hz.add_argument("--window", "-w", type=int, default=10000)
    hz.add_argument("--duration", type=float, default=None, help="stop after this many seconds")


_QOS_PROFILES = {
    "default": "qos_profile_system_default",
    "system_default": "qos_profile_system_default",
    "sensor_data": "qos_profile_sensor_data",
    "services_default": "qos_profile_services_default",
    "parameters": "qos_profile_parameters",
    "parameter_events": "qos_profile_parameter_events",
    "action_status_default": "qos_profile_action_status_default",
}


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _pub_qos(args: argparse.Namespace) -> QoSProfile:
    """--qos-profile (upstream's `default` is reliable/volatile/keep_last 10), then the overrides."""
    import copy

    from rclpy import qos as rqos

    if args.qos_profile == "default":
        profile = QoSProfile(depth=10)
    else:
        profile = copy.copy(getattr(rqos, _QOS_PROFILES[args.qos_profile]))
    if args.qos_reliability:
        profile.reliability = rqos.ReliabilityPolicy.get_from_short_key(args.qos_reliability)
    if args.qos_durability:
        profile.durability = rqos.DurabilityPolicy.get_from_short_key(args.qos_durability)
    if args.qos_history:
        profile.history = rqos.HistoryPolicy.get_from_short_key(args.qos_history)
    if args.qos_depth >= 0:
        profile.depth = args.qos_depth
    return profile


def _discover_type(node: Node, topic: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, types in node.get_topic_names_and_types():
            if name == topic and types:
                return types[0]
        rclpy.spin_once(node, timeout_sec=0.1)
    raise ValueError(f"Could not determine the type for the passed topic '{topic}'")


def _qos(reliability: str | None, node: Node, topic: str) -> QoSProfile:
    if reliability is None:  # match the publishers: best effort if any of them is
        infos = node.get_publishers_info_by_topic(topic)
        best = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
        return qos_profile_sensor_data if best else QoSProfile(depth=10)
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    return QoSProfile(depth=10, reliability=policy)


def _resolve(node: Node, topic: str) -> str:
    return node.resolve_topic_name(topic)


def _list(node: Node, args: argparse.Namespace) -> int:
    time.sleep(0.5)
    for _ in range(10):
        rclpy.spin_once(node, timeout_sec=0.05)
    for name, types in sorted(node.get_topic_names_and_types()):
        print(f"{name} [{', '.join(types)}]" if args.show_types else name)
    return 0


def _check_field(msg_class: type, field: str) -> None:
    """Fail before subscribing when --field names no field of the type (upstream: an error, exit 1)."""
    value: object = to_plain(msg_class())
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            known = ", ".join(value) if isinstance(value, dict) else "none (not a message)"
            raise ValueError(
                f"Invalid field value '{field}': '{part}' is not a field of the message "
                f"(fields there: {known})"
            )
        value = value[part]


def _echo(node: Node, args: argparse.Namespace) -> int:
    topic = _resolve(node, args.topic_name)
    type_name = args.message_type or _discover_type(node, topic)
    msg_class = get_message_class(type_name)
    received: list[object] = []
    if args.field:
        _check_field(msg_class, args.field)

    def on_message(msg: object) -> None:
        received.append(msg)
        if args.field:
            value = to_plain(msg)
            for part in args.field.split("."):
                value = value[part]
            print(yaml.safe_dump(value, allow_unicode=True).rstrip().removesuffix("\n..."))
        else:
            sys.stdout.write(to_yaml(msg))
        print("---", flush=True)

    node.create_subscription(msg_class, topic, on_message, _qos(args.qos_reliability, node, topic))
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    while not (args.once and received):
        if deadline is not None and time.monotonic() > deadline:
            return 1 if args.once else 0
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0


def _matches_durability(node: Node, topic: str, profile: QoSProfile) -> bool:
    """False when a transient-local subscription exists that a volatile publisher can never match."""
    from rclpy.qos import DurabilityPolicy

    if profile.durability != DurabilityPolicy.VOLATILE:
        return True
    return not any(
        info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
        for info in node.get_subscriptions_info_by_topic(topic)
    )


def _pub(node: Node, args: argparse.Namespace) -> int:
    from rclpy.qos import DurabilityPolicy

    msg_class = get_message_class(args.message_type)
    text = sys.stdin.read() if args.stdin else args.values
    msg = set_fields(msg_class(), yaml.safe_load(text) or {})
    qos = _pub_qos(args)
    topic = _resolve(node, args.topic_name)
    publisher = node.create_publisher(msg_class, topic, qos)
    wait_for = args.wait_matching_subscriptions
    if wait_for is None:
        wait_for = 1 if (args.once or args.times) else 0
    limit = 1 if args.once else args.times
    deadline = None if args.max_wait_time_secs is None else time.monotonic() + args.max_wait_time_secs
    warned = False
    while publisher.get_subscription_count() < wait_for:
        if deadline is not None and time.monotonic() > deadline:
            print(f"Timed out waiting for subscriptions on '{topic}'", file=sys.stderr)
            return 1
        if args.qos_durability is None and not _matches_durability(node, topic, qos):
            # A transient-local reader never matches a volatile writer: publish transient-local
            # instead of waiting forever (an explicit --qos-durability is left as given).
            qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
            node.destroy_publisher(publisher)
            publisher = node.create_publisher(msg_class, topic, qos)
            if not warned:
                print(
                    "publisher: a transient_local subscription is waiting: publishing transient_local",
                    file=sys.stderr,
                )
                warned = True
        rclpy.spin_once(node, timeout_sec=0.05)
    print("publisher: beginning loop", flush=True)
    count = 0
    while True:
        publisher.publish(msg)
        count += 1
        if args.print > 0 and (count - 1) % args.print == 0:
            print(f"publishing #{count}: {msg}\n", flush=True)
        if limit and count >= limit:
            break
        time.sleep(1.0 / args.rate)
    # Before the process (and its writer history) goes away: a reader the writer already sees may not
    # have matched the writer yet (loopback discovery is not symmetric), and gets the samples on resend.
    if qos.reliability == ReliabilityPolicy.RELIABLE:
        publisher.wait_for_all_acked(Duration(seconds=5.0))
    time.sleep(args.keep_alive)
    return 0


def _hz(node: Node, args: argparse.Namespace) -> int:
    topic = _resolve(node, args.topic_name)
    msg_class = get_message_class(_discover_type(node, topic))
    stamps: list[float] = []

    def on_message(_: object) -> None:
        stamps.append(time.monotonic())
        del stamps[: -args.window]

    node.create_subscription(msg_class, topic, on_message, _qos(None, node, topic))
    start = last_print = time.monotonic()
    while args.duration is None or time.monotonic() - start < args.duration:
        rclpy.spin_once(node, timeout_sec=0.05)
        if time.monotonic() - last_print >= 1.0 and len(stamps) > 1:
            last_print = time.monotonic()
            gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            mean = sum(gaps) / len(gaps)
            std = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
            print(
                f"average rate: {1.0 / mean:.3f}\n\tmin: {min(gaps):.3f}s max: {max(gaps):.3f}s "
                f"std dev: {std:.5f}s window: {len(stamps)}",
                flush=True,
            )
    return 0


def main(args: argparse.Namespace) -> int:
    handlers = {"list": _list, "echo": _echo, "pub": _pub, "hz": _hz}
    rclpy.init(args=[])  # the command line is ours, not rcl's (e.g. a `ros2 topic pub` value with :=)
    name = getattr(args, "node_name", None) or f"_ros2cli_{args.topic_verb}"
    node = rclpy.create_node(name, start_parameter_services=False)
    try:
        return handlers[args.topic_verb](node, args)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
