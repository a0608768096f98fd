"""Managed (lifecycle) nodes: `ros2 lifecycle nodes|get|list|set`, through the nodes' lifecycle services."""

from __future__ import annotations

import argparse
import sys
import time

import rclpy
from rclpy.node import Node

from ._services import call_service, node_fqn


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lifecycle_verb", metavar="verb")
    sub.required = True
    nodes = sub.add_parser("nodes", help="Output a list of nodes with lifecycle")
    nodes.add_argument("-a", "--all", action="store_true", help="Display all nodes even hidden ones")
    nodes.add_argument("--spin-time", type=float, default=1.0, help="seconds to wait for discovery")
    get = sub.add_parser("get", help="Get lifecycle state for one or more nodes")
    get.add_argument("node_name", nargs="?", help="Name of the ROS node (all lifecycle nodes if omitted)")
    lst = sub.add_parser("list", help="Output a list of available transitions")
    lst.add_argument("node_name")
    lst.add_argument("-a", "--all", action="store_true", help="Display all existing transitions")
    set_ = sub.add_parser("set", help="Trigger lifecycle state transition")
    set_.add_argument("node_name")
    set_.add_argument("transition", help="The lifecycle transition: its label (e.g. configure) or id")
    for p in (get, lst, set_):
        p.add_argument("--timeout", type=float, default=10.0, help="wait this long for the node's services")
        p.add_argument("--spin-time", type=float, default=1.0, help="seconds to wait for discovery")


def _call(node: Node, srv_type: type, service: str, request: object, timeout: float) -> object:
    return call_service(node, srv_type, service, request, timeout, "Node not found or not a lifecycle node")


def _discover(node: Node, spin_time: float) -> None:
    deadline = time.monotonic() + spin_time
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def lifecycle_node_names(node: Node, include_hidden: bool = False) -> list[str]:
    """Nodes that offer <node>/get_state of type lifecycle_msgs/srv/GetState."""
    found = set()
    for name, types in node.get_service_names_and_types():
        if name.endswith("/get_state") and "lifecycle_msgs/srv/GetState" in types:
            fqn = name[: -len("/get_state")]
            if include_hidden or not fqn.rsplit("/", 1)[-1].startswith("_"):
                found.add(fqn)
    return sorted(found)


def _get(node: Node, target: str, timeout: float) -> str:
    from lifecycle_msgs.srv import GetState

    state = _call(node, GetState, f"{target}/get_state", GetState.Request(), timeout).current_state
    return f"{state.label} [{state.id}]"


def _available(node: Node, target: str, timeout: float, all_transitions: bool) -> list:
    from lifecycle_msgs.srv import GetAvailableTransitions

    service = "get_transition_graph" if all_transitions else "get_available_transitions"
    response = _call(
        node, GetAvailableTransitions, f"{target}/{service}", GetAvailableTransitions.Request(), timeout
    )
    return list(response.available_transitions)


def _set(node: Node, target: str, transition: str, timeout: float) -> int:
    from lifecycle_msgs.srv import ChangeState

    available = _available(node, target, timeout, False)
    chosen = [t for t in available if t.transition.label == transition or str(t.transition.id) == transition]
    if not chosen:
        print("Unknown transition requested, available ones are:", file=sys.stderr)
        for t in available:
            print(f"- {t.transition.label} [{t.transition.id}]", file=sys.stderr)
        return 1
    request = ChangeState.Request()
    request.transition.id = chosen[0].transition.id
    request.transition.label = chosen[0].transition.label
    response = _call(node, ChangeState, f"{target}/change_state", request, timeout)
    if response.success:
        print("Transitioning successful")
        return 0
    print("Transitioning failed", file=sys.stderr)
    return 1


def main(args: argparse.Namespace) -> int:
    rclpy.init(args=[])
    node = rclpy.create_node("_ros2cli_lifecycle", start_parameter_services=False)
    try:
        if args.lifecycle_verb == "nodes":
            _discover(node, args.spin_time)
            for name in lifecycle_node_names(node, args.all):
                print(name)
            return 0
        if args.lifecycle_verb == "get":
            if args.node_name is None:
                _discover(node, args.spin_time)
                for name in lifecycle_node_names(node):
                    print(f"{name}: {_get(node, name, args.timeout)}")
            else:
                print(_get(node, node_fqn(args.node_name), args.timeout))
            return 0
        if args.lifecycle_verb == "list":
            for t in _available(node, node_fqn(args.node_name), args.timeout, args.all):
                print(
                    f"- {t.transition.label} [{t.transition.id}]\n\tStart: {t.start_state.label}"
                    f"\n\tGoal: {t.goal_state.label}"
                )
            return 0
        return _set(node, node_fqn(args.node_name), args.transition, args.timeout)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
