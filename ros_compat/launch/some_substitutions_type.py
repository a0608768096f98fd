"""Normalising the `SomeSubstitutionsType` argument that upstream launch accepts everywhere."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .substitution import Substitution

if TYPE_CHECKING:
    from .launch_context import LaunchContext

SomeSubstitutionsType = str | os.PathLike | Substitution | Iterable[str | os.PathLike | Substitution]


def normalize_to_list_of_substitutions(subs: SomeSubstitutionsType) -> list[Substitution]:
    """Turn a str, path, Substitution or iterable of them into a list of Substitutions (as upstream)."""
    from .substitutions.text_substitution import TextSubstitution

    def one(item: object) -> Substitution:
        if isinstance(item, Substitution):
            return item
        if isinstance(item, str | os.PathLike):
            return TextSubstitution(text=os.fspath(item))
        raise TypeError(f"expected str, path or Substitution, got {type(item).__name__}: {item!r}")

    if isinstance(subs, str | os.PathLike | Substitution):
        return [one(subs)]
    if isinstance(subs, Iterable):
        return [one(item) for item in subs]
    raise TypeError(f"expected str, path, Substitution or an iterable of them, got {type(subs).__name__}")


def perform_substitutions(context: LaunchContext, subs: list[Substitution]) -> str:
    """Evaluate each substitution and concatenate the results."""
    return "".join(sub.perform(context) for sub in subs)


def evaluate(context: LaunchContext, subs: SomeSubstitutionsType) -> str:
    """normalize + perform in one call."""
    return perform_substitutions(context, normalize_to_list_of_substitutions(subs))
