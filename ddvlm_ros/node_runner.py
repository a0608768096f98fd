"""The main loop shared by emotion_node and emotion_lifecycle_node: spin until a signal, then shut down
in order."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ddvlm_ros.backends import BackendUnavailable, ModelError


def run(
    make_node: Callable[[], Node],
    args: list[str] | None = None,
    before_destroy: Callable[[Node], None] | None = None,
) -> int:
    """Spin `make_node()` until SIGINT/SIGTERM (also emotion_lifecycle_node's main loop).

    The signals only set a flag: rclpy's own handler would shut the context down while a callback may
    still be answering, so shutdown is done here, in order: stop dispatching, destroy the node
    (which stops the vision process), shut rclpy down.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = make_node()
    except (FileNotFoundError, ValueError, ModelError, BackendUnavailable) as err:
        rclpy.logging.get_logger("emotion_node").fatal(f"cannot start: {err}")
        rclpy.try_shutdown()
        return 1
    # One thread on purpose: every callback is short (face analysis runs in the vision process), and
    # rclpy's multi-threaded executor re-polls subscriptions whose callbacks are still queued, costing
    # CPU and GIL time that the transcript path needs.
    # (rclpy.experimental's EventsExecutor measured no faster here: benchmarks/node_latency.py.)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        node.get_logger().info("shutting down")
        if before_destroy is not None:
            before_destroy(node)
        executor.shutdown(timeout_sec=10.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
