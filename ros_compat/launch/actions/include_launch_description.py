"""IncludeLaunchDescription: run another launch file with arguments."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ..action import Action, LaunchDescriptionEntity
from ..launch_context import LaunchContext
from ..launch_description import LaunchDescription
from ..launch_description_sources import AnyLaunchDescriptionSource, LaunchDescriptionSource
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class IncludeLaunchDescription(Action):
    """Sets `launch_arguments` as launch configurations, then visits the included description.

    Not scoped (Jazzy semantics): launch configurations set by the arguments and by the included
    file stay visible to the actions after the include; wrap it in a GroupAction to scope it.
    While the included file's entities are visited, ThisLaunchFile/ThisLaunchFileDir name it.
    """

    def __init__(
        self,
        launch_description_source: LaunchDescriptionSource | LaunchDescription | SomeSubstitutionsType,
        *,
        launch_arguments: Iterable[tuple[SomeSubstitutionsType, SomeSubstitutionsType]]
        | Mapping[SomeSubstitutionsType, SomeSubstitutionsType]
        | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(launch_description_source, LaunchDescriptionSource | LaunchDescription):
            launch_description_source = AnyLaunchDescriptionSource(launch_description_source)
        self.launch_description_source = launch_description_source
        if isinstance(launch_arguments, Mapping):
            launch_arguments = launch_arguments.items()
        self.launch_arguments = list(launch_arguments or [])

    def _description(self, context: LaunchContext) -> LaunchDescription:
        source = self.launch_description_source
        return source if isinstance(source, LaunchDescription) else source.get_launch_description(context)

    def describe(self) -> str:
        source = self.launch_description_source
        where = getattr(source, "location", "<LaunchDescription>")
        return f"IncludeLaunchDescription('{where}')"

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        """The included description when it can be loaded without a context (for --show-args)."""
        source = self.launch_description_source
        if isinstance(source, LaunchDescription):
            return [source]
        description = source.try_get_launch_description_without_context()
        return [description] if description is not None else []

    def given_argument_names(self) -> set[str]:
        return {k for k, _ in self.launch_arguments if isinstance(k, str)}

    def execute(self, context: LaunchContext) -> None:
        values = [(evaluate(context, k), evaluate(context, v)) for k, v in self.launch_arguments]
        description = self._description(context)
        context.launch_configurations.update(values)
        location = getattr(self.launch_description_source, "location", None)
        saved_locals = dict(context._locals)
        if location is not None and os.path.isabs(location):
            context.extend_locals(
                {
                    "current_launch_file_path": location,
                    "current_launch_file_directory": os.path.dirname(location),
                }
            )
        try:
            context.service.visit_all([description])
        finally:
            context._locals = saved_locals
        return None
