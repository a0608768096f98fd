"""Substitutions of the upstream `launch.substitutions` module (subset)."""

from ..substitution import Substitution, SubstitutionFailure
from .environment_variable import EnvironmentVariable
from .launch_configuration import LaunchConfiguration
from .path_join_substitution import PathJoinSubstitution
from .text_substitution import TextSubstitution

__all__ = [
    "EnvironmentVariable",
    "LaunchConfiguration",
    "PathJoinSubstitution",
    "Substitution",
    "SubstitutionFailure",
    "TextSubstitution",
]
