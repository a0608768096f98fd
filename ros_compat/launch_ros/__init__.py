"""Subset of the upstream `launch_ros` package for pip-installed ROS 2 (see each module)."""

from . import actions, descriptions, event_handlers, events, substitutions

__all__ = ["actions", "descriptions", "event_handlers", "events", "substitutions"]
