"""A literal string."""

from __future__ import annotations

from ..launch_context import LaunchContext
from ..substitution import Substitution


class TextSubstitution(Substitution):
    """Performs to the text it was given."""

    def __init__(self, *, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"TextSubstitution text must be str, got {type(text).__name__}")
        self.text = text

    def perform(self, context: LaunchContext) -> str:
        return self.text

    def describe(self) -> str:
        return repr(self.text)
