"""Subset of the upstream ROS 2 `launch` package (same module paths and signatures) for pip-installed ROS.

Installed only where the real `launch` cannot be imported. Only Python launch files are supported.
"""

from . import actions, conditions, launch_description_sources, substitutions
from .action import Action, LaunchDescriptionEntity
from .condition import Condition
from .launch_context import LaunchContext
from .launch_description import LaunchDescription
from .launch_service import LaunchService
from .some_substitutions_type import SomeSubstitutionsType
from .substitution import Substitution

__all__ = [
    "Action",
    "Condition",
    "LaunchContext",
    "LaunchDescription",
    "LaunchDescriptionEntity",
    "LaunchService",
    "SomeSubstitutionsType",
    "Substitution",
    "actions",
    "conditions",
    "launch_description_sources",
    "substitutions",
]
