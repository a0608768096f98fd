"""One rclpy node inside the launch process, spun in a background thread (upstream: ROSAdapter).

Created on first use (lifecycle actions need it); shut down at exit.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

_LOCK = threading.Lock()
_ADAPTER: ROSAdapter | None = None


class ROSAdapter:
    """rclpy context + node + executor thread, private to the launch process."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node(f"launch_ros_{os.getpid()}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="launch_ros_adapter", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            while self.context.ok():
                self.executor.spin_once(timeout_sec=0.1)
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - the context was shut down
            return

    def shutdown(self) -> None:
        import rclpy

        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)


def get_ros_adapter() -> ROSAdapter:
    global _ADAPTER
    with _LOCK:
        if _ADAPTER is None:
            _ADAPTER = ROSAdapter()
            atexit.register(_ADAPTER.shutdown)
        return _ADAPTER


def get_ros_node(context: Any = None):
    """The launch process's rclpy node (upstream's launch_ros.ros_adapters.get_ros_node)."""
    return get_ros_adapter().node
