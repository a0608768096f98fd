"""Base class of substitutions: values that are only known when the launch runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .launch_context import LaunchContext


class Substitution:
    """Something that `perform(context)`s to a string at launch time."""

    def perform(self, context: LaunchContext) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        return repr(self)


class SubstitutionFailure(RuntimeError):
    """A substitution could not be evaluated (missing launch configuration, env variable...)."""
