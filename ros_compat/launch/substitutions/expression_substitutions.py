"""Substitutions that compute: PythonExpression, equality, boolean logic and if/else."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution, SubstitutionFailure


def _text_to_bool(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise SubstitutionFailure(f"{what}: '{text}' is not a boolean (true/false/1/0)")


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


class PythonExpression(Substitution):
    """eval() of the concatenated text; `python_modules` (default math) are importable names, and
    math's own names may be used bare (upstream behaviour)."""

    def __init__(
        self, expression: SomeSubstitutionsType, python_modules: SomeSubstitutionsType | Iterable = ("math",)
    ) -> None:
        self.expression = expression
        self.python_modules = python_modules

    def describe(self) -> str:
        return f"PythonExpr({self.expression!r})"

    def perform(self, context: LaunchContext) -> str:
        text = evaluate(context, self.expression)
        modules = self.python_modules
        names = [modules] if isinstance(modules, str | Substitution) else list(modules)
        namespace: dict[str, object] = {}
        for entry in names:
            for module_name in evaluate(context, entry).replace(",", " ").split():
                module = importlib.import_module(module_name)
                if module_name == "math":
                    namespace.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
                namespace[module_name.split(".")[0]] = importlib.import_module(module_name.split(".")[0])
        try:
            return str(eval(text, {}, namespace))  # noqa: S307 - launch files are trusted code, as upstream
        except Exception as exc:
            raise SubstitutionFailure(
                f"PythonExpression {text!r} failed: {type(exc).__name__}: {exc}"
            ) from exc


def _comparable(text: str) -> object:
    """Bool-like, then numbers, then text (so '1' == 'true' and '1.0' == '1', as upstream compares)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return float(text)
    except ValueError:
        return text


class EqualsSubstitution(Substitution):
    """'true' when both sides are equal (booleans and numbers compared by value), else 'false'."""

    def __init__(self, left: SomeSubstitutionsType | object, right: SomeSubstitutionsType | object) -> None:
        self.left, self.right = left, right

    def _side(self, context: LaunchContext, side: object) -> object:
        if side is None:
            return ""
        if isinstance(side, bool):
            return side
        if isinstance(side, int | float):
            return float(side)
        return _comparable(evaluate(context, side))

    def _equal(self, context: LaunchContext) -> bool:
        left, right = self._side(context, self.left), self._side(context, self.right)
        if isinstance(left, bool) != isinstance(right, bool):
            # '1'/'0' against a boolean compare as booleans
            if isinstance(left, float) and left in (0.0, 1.0):
                left = bool(left)
            if isinstance(right, float) and right in (0.0, 1.0):
                right = bool(right)
        return left == right

    def describe(self) -> str:
        return f"EqualsSubstitution({self.left!r} {self.right!r})"

    def perform(self, context: LaunchContext) -> str:
        return _bool_text(self._equal(context))


class NotEqualsSubstitution(EqualsSubstitution):
    def perform(self, context: LaunchContext) -> str:
        return _bool_text(not self._equal(context))


class NotSubstitution(Substitution):
    def __init__(self, value: SomeSubstitutionsType) -> None:
        self.value = value

    def perform(self, context: LaunchContext) -> str:
        return _bool_text(not _text_to_bool(evaluate(context, self.value), "NotSubstitution"))


class AndSubstitution(Substitution):
    def __init__(self, left: SomeSubstitutionsType, right: SomeSubstitutionsType) -> None:
        self.left, self.right = left, right

    def perform(self, context: LaunchContext) -> str:
        return _bool_text(
            _text_to_bool(evaluate(context, self.left), "AndSubstitution")
            and _text_to_bool(evaluate(context, self.right), "AndSubstitution")
        )


class OrSubstitution(AndSubstitution):
    def perform(self, context: LaunchContext) -> str:
        return _bool_text(
            _text_to_bool(evaluate(context, self.left), "OrSubstitution")
            or _text_to_bool(evaluate(context, self.right), "OrSubstitution")
        )


class AnySubstitution(Substitution):
    def __init__(self, *args: SomeSubstitutionsType) -> None:
        self.args = list(args)

    def perform(self, context: LaunchContext) -> str:
        return _bool_text(any(_text_to_bool(evaluate(context, a), "AnySubstitution") for a in self.args))


class AllSubstitution(AnySubstitution):
    def perform(self, context: LaunchContext) -> str:
        return _bool_text(all(_text_to_bool(evaluate(context, a), "AllSubstitution") for a in self.args))


class IfElseSubstitution(Substitution):
    """if_value when the condition is true, else else_value."""

    def __init__(
        self,
        condition: SomeSubstitutionsType,
        if_value: SomeSubstitutionsType = "",
        else_value: SomeSubstitutionsType = "",
    ) -> None:
        self.condition, self.if_value, self.else_value = condition, if_value, else_value

    def perform(self, context: LaunchContext) -> str:
        chosen = (
            self.if_value
            if _text_to_bool(evaluate(context, self.condition), "IfElseSubstitution")
            else self.else_value
        )
        return evaluate(context, chosen)
