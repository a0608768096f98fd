"""IncludeLaunchDescription: run another launch file with arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..action import Action, LaunchDescriptionEntity
from ..launch_context import LaunchContext
from ..launch_description import LaunchDescription
from ..launch_description_sources import LaunchDescriptionSource
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class IncludeLaunchDescription(Action):
    """Sets `launch_arguments` as launch configurations, then visits the included description.

    The arguments are evaluated in the including scope; the included file's configurations are
    scoped to it (as Jazzy's IncludeLaunchDescription does).
    """

    def __init__(
        self,
        launch_description_source: LaunchDescriptionSource | LaunchDescription,
        *,
        launch_arguments: Iterable[tuple[SomeSubstitutionsType, SomeSubstitutionsType]]
        | Mapping[SomeSubstitutionsType, SomeSubstitutionsType]
        | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.launch_description_source = launch_description_source
        if isinstance(launch_arguments, Mapping):
            launch_arguments = launch_arguments.items()
        self.launch_arguments = list(launch_arguments or [])

    def _description(self, context: LaunchContext) -> LaunchDescription:
        source = self.launch_description_source
        return source if isinstance(source, LaunchDescription) else source.get_launch_description(context)

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return []

    def execute(self, context: LaunchContext) -> None:
        values = [(evaluate(context, k), evaluate(context, v)) for k, v in self.launch_arguments]
        description = self._description(context)
        with context.scope():
            context.launch_configurations.update(values)
            context.service.visit_all([description])
        return None
