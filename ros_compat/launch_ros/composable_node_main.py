"""Runs one Python composable node class as a process: python -m launch_ros.composable_node_main
<module:Class> --ros-args ... (the fallback of ComposableNodeContainer without rclcpp_components)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from launch_ros.actions.composable_nodes import UnsupportedComposableNodeError, resolve_python_plugin
    from rclpy.executors import ExternalShutdownException

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: composable_node_main <module:Class> [--ros-args ...]", file=sys.stderr)
        return 2
    try:
        cls = resolve_python_plugin(args[0])
    except UnsupportedComposableNodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rclpy.init(args=[sys.argv[0], *args[1:]])
    node = None
    try:
        try:
            node = cls()
        except TypeError:
            node = cls(cls.__name__.lower())  # classes whose __init__ takes the node name
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
