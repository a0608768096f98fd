"""GroupAction: actions sharing a condition and a scope of launch configurations."""

from __future__ import annotations

from collections.abc import Iterable

from ..action import Action, LaunchDescriptionEntity
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class GroupAction(Action):
    """With scoped=True (default) configurations/env set inside do not leak out; forwarding=False
    starts the group with no configurations; launch_configurations are set first."""

    def __init__(
        self,
        actions: Iterable[LaunchDescriptionEntity],
        *,
        scoped: bool = True,
        forwarding: bool = True,
        launch_configurations: dict[SomeSubstitutionsType, SomeSubstitutionsType] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.actions = list(actions)
        self.scoped, self.forwarding = scoped, forwarding
        self.launch_configurations = dict(launch_configurations or {})

    def get_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return list(self.actions)

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return list(self.actions)

    def execute(self, context: LaunchContext) -> None:
        values = {evaluate(context, k): evaluate(context, v) for k, v in self.launch_configurations.items()}
        if not self.scoped:
            context.launch_configurations.update(values)
            context.service.visit_all(self.actions)
            return None
        with context.scope(forwarding=self.forwarding):
            context.launch_configurations.update(values)
            context.service.visit_all(self.actions)
        return None
