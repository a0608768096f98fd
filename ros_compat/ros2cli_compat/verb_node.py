"""Nodes in the ROS graph (`ros2 node list`)."""

from __future__ import annotations

import argparse
import time

import rclpy


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="node_verb", metavar="verb")
    sub.required = True
    lst = sub.add_parser("list", help="Output a list of available nodes")
    lst.add_argument("--spin-time", type=float, default=1.0, help="seconds to wait for discovery")


def main(args: argparse.Namespace) -> int:
    rclpy.init(args=[])  # the command line is ours, not rcl's (e.g. a `ros2 topic pub` value with :=)
    node = rclpy.create_node("_ros2cli_node", start_parameter_services=False)
    try:
        deadline = time.monotonic() + args.spin_time
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        own = node.get_fully_qualified_name()
        names = {
            (ns.rstrip("/") + "/" + name) for name, ns in node.get_node_names_and_namespaces()
        } - {own}
        for name in sorted(n for n in names if not n.rsplit("/", 1)[-1].startswith("_ros2cli")):
            print(name)
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
