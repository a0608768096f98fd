"""Subset of the upstream ROS 2 `launch` package (same module paths and signatures) for pip-installed ROS.

Installed only where the real `launch` cannot be imported. Python, XML and YAML launch files.
"""

from collections.abc import Iterable as _Iterable

from . import actions, conditions, event_handlers, events, launch_description_sources, substitutions
from .action import Action, LaunchDescriptionEntity
from .condition import Condition
from .event import Event
from .event_handler import BaseEventHandler, EventHandler
from .launch_context import LaunchContext
from .launch_description import LaunchDescription
from .launch_description_sources import LaunchDescriptionSource
from .launch_introspector import LaunchIntrospector
from .launch_service import LaunchService
from .some_substitutions_type import SomeSubstitutionsType
from .substitution import Substitution

SomeActionsType = LaunchDescriptionEntity | _Iterable[LaunchDescriptionEntity]
SomeEntitiesType = SomeActionsType

__all__ = [
    "Action",
    "BaseEventHandler",
    "Condition",
    "Event",
    "EventHandler",
    "LaunchContext",
    "LaunchDescription",
    "LaunchDescriptionEntity",
    "LaunchDescriptionSource",
    "LaunchIntrospector",
    "LaunchService",
    "SomeActionsType",
    "SomeEntitiesType",
    "SomeSubstitutionsType",
    "Substitution",
    "actions",
    "conditions",
    "event_handlers",
    "events",
    "launch_description_sources",
    "substitutions",
]
