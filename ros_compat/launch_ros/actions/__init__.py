"""Actions of upstream `launch_ros.actions` (subset): Node, PushRosNamespace."""

from .node import Node
from .push_ros_namespace import PushRosNamespace

__all__ = ["Node", "PushRosNamespace"]
