"""Subset of the upstream `launch_ros` package (Node, FindPackageShare) for pip-installed ROS 2."""

from . import actions, substitutions

__all__ = ["actions", "substitutions"]
