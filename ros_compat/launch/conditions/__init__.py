"""Conditions of upstream `launch.conditions`, with upstream's strict true/false parsing."""

from __future__ import annotations

from ..condition import Condition
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class InvalidConditionExpressionError(ValueError):
    """The expression is not one of true/false/1/0 (case-insensitive)."""


def evaluate_condition_expression(context: LaunchContext, expression: SomeSubstitutionsType) -> bool:
    """'true'/'1' -> True, 'false'/'0' -> False, anything else is an error (upstream semantics)."""
    text = evaluate(context, expression).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InvalidConditionExpressionError(
        f"condition expression {text!r} is not one of: true, false, 1, 0 (case-insensitive)"
    )


class IfCondition(Condition):
    """True when the expression evaluates to true."""

    def __init__(self, predicate_expression: SomeSubstitutionsType) -> None:
        super().__init__(predicate=lambda ctx: evaluate_condition_expression(ctx, predicate_expression))


class UnlessCondition(Condition):
    """True when the expression evaluates to false."""

    def __init__(self, predicate_expression: SomeSubstitutionsType) -> None:
        super().__init__(predicate=lambda ctx: not evaluate_condition_expression(ctx, predicate_expression))


def _expected_text(context: LaunchContext, expected_value: object) -> str | None:
    if expected_value is None:
        return None
    if isinstance(expected_value, bool):
        return "true" if expected_value else "false"
    return evaluate(context, expected_value)  # type: ignore[arg-type]


class LaunchConfigurationEquals(Condition):
    """The launch configuration equals the expected text (None: the configuration is not set).
    Booleans compare case-insensitively with true/false, as upstream."""

    def __init__(self, launch_configuration_name: str, expected_value: object) -> None:
        self.name, self.expected_value = launch_configuration_name, expected_value
        super().__init__(predicate=self._matches)

    def _matches(self, context: LaunchContext) -> bool:
        expected = _expected_text(context, self.expected_value)
        actual = context.launch_configurations.get(self.name)
        if expected is None or actual is None:
            return expected is actual
        if isinstance(self.expected_value, bool):
            return str(actual).lower() == expected
        return str(actual) == expected


class LaunchConfigurationNotEquals(LaunchConfigurationEquals):
    def _matches(self, context: LaunchContext) -> bool:
        return not super()._matches(context)


__all__ = [
    "Condition",
    "IfCondition",
    "InvalidConditionExpressionError",
    "LaunchConfigurationEquals",
    "LaunchConfigurationNotEquals",
    "UnlessCondition",
]
