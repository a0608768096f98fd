"""Calling another node's services from a CLI verb (param, lifecycle): one request, bounded waits."""

from __future__ import annotations

import rclpy
from rclpy.node import Node


def node_fqn(name: str) -> str:
    """A node name as given on the command line, made absolute as upstream's CLI does."""
    return name if name.startswith("/") else f"/{name}"


def call_service(
    node: Node, srv_type: type, service: str, request: object, timeout: float, missing: str = "Node not found"
) -> object:
    """The response, or LookupError naming the service when it is absent (`missing`) or does not answer."""
    client = node.create_client(srv_type, service)
    try:
        if not client.wait_for_service(timeout_sec=timeout):
            raise LookupError(f"{missing} (no service {service})")
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
        if future.result() is None:
            raise LookupError(f"Service call {service} timed out")
        return future.result()
    finally:
        node.destroy_client(client)
