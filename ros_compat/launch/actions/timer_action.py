"""TimerAction: run actions after a delay."""

from __future__ import annotations

from collections.abc import Iterable

from ..action import Action, LaunchDescriptionEntity
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class TimerAction(Action):
    """After `period` seconds, visit `actions` with the configurations of the scope the timer was in."""

    def __init__(
        self,
        *,
        period: float | SomeSubstitutionsType,
        actions: Iterable[LaunchDescriptionEntity],
        cancel_on_shutdown: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.period = period
        self.actions = list(actions)
        self.cancel_on_shutdown = cancel_on_shutdown

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return list(self.actions)

    def execute(self, context: LaunchContext) -> None:
        raw = self.period if isinstance(self.period, int | float) else evaluate(context, self.period)
        try:
            period = float(raw)
        except ValueError as exc:
            raise ValueError(f"TimerAction period must be a number of seconds, got {raw!r}") from exc
        if period < 0:
            raise ValueError(f"TimerAction period must be >= 0, got {period}")
        snap = context.snapshot()

        def fire() -> None:
            saved = context.snapshot()
            context.restore(snap)
            try:
                context.service.visit_all(self.actions)
            finally:
                context.restore(saved)

        context.service.add_timer(period, fire, self.cancel_on_shutdown)
        return None
