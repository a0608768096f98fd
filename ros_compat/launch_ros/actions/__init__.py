"""Actions of upstream `launch_ros.actions` (subset)."""

from .composable_nodes import ComposableNodeContainer, LoadComposableNodes
from .lifecycle_node import LifecycleNode
from .node import Node
from .push_ros_namespace import PushROSNamespace, PushRosNamespace
from .scoped_settings import SetParameter, SetParametersFromFile, SetRemap, SetUseSimTime

__all__ = [
    "ComposableNodeContainer",
    "LifecycleNode",
    "LoadComposableNodes",
    "Node",
    "PushROSNamespace",
    "PushRosNamespace",
    "SetParameter",
    "SetParametersFromFile",
    "SetRemap",
    "SetUseSimTime",
]
