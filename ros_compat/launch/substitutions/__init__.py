"""Substitutions of the upstream `launch.substitutions` module (subset)."""

from ..substitution import Substitution, SubstitutionFailure
from .environment_variable import EnvironmentVariable
from .expression_substitutions import (
    AllSubstitution,
    AndSubstitution,
    AnySubstitution,
    EqualsSubstitution,
    IfElseSubstitution,
    NotEqualsSubstitution,
    NotSubstitution,
    OrSubstitution,
    PythonExpression,
)
from .launch_configuration import LaunchConfiguration
from .path_join_substitution import PathJoinSubstitution
from .system_substitutions import (
    AnonName,
    Command,
    FileContent,
    FindExecutable,
    LaunchLogDir,
    LocalSubstitution,
    PythonExecutable,
    ThisLaunchFile,
    ThisLaunchFileDir,
)
from .text_substitution import TextSubstitution

__all__ = [
    "AllSubstitution",
    "AndSubstitution",
    "AnonName",
    "AnySubstitution",
    "Command",
    "EnvironmentVariable",
    "EqualsSubstitution",
    "FileContent",
    "FindExecutable",
    "IfElseSubstitution",
    "LaunchConfiguration",
    "LaunchLogDir",
    "LocalSubstitution",
    "NotEqualsSubstitution",
    "NotSubstitution",
    "OrSubstitution",
    "PathJoinSubstitution",
    "PythonExecutable",
    "PythonExpression",
    "Substitution",
    "SubstitutionFailure",
    "TextSubstitution",
    "ThisLaunchFile",
    "ThisLaunchFileDir",
]
