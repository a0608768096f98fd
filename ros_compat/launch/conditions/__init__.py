"""IfCondition / UnlessCondition with upstream's strict true/false parsing."""

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


__all__ = ["Condition", "IfCondition", "InvalidConditionExpressionError", "UnlessCondition"]
