"""os.path.join over substitutions."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution


class PathJoinSubstitution(Substitution):
    """Each element (itself SomeSubstitutionsType) is one path component."""

    def __init__(self, substitutions: Iterable[SomeSubstitutionsType]) -> None:
        if isinstance(substitutions, str | Substitution):
            raise TypeError("PathJoinSubstitution takes a list of path components")
        self.substitutions = list(substitutions)

    def perform(self, context: LaunchContext) -> str:
        return os.path.join(*[evaluate(context, part) for part in self.substitutions])

    def __truediv__(self, other: SomeSubstitutionsType) -> PathJoinSubstitution:
        return PathJoinSubstitution([*self.substitutions, other])
