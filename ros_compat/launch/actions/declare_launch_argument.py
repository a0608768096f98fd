"""DeclareLaunchArgument: a named argument with default, description and choices."""

from __future__ import annotations

from collections.abc import Iterable

from ..action import Action
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate, normalize_to_list_of_substitutions


class DeclareLaunchArgument(Action):
    """Sets the launch configuration `name` from the caller's value or the default; no value = error."""

    def __init__(
        self,
        name: str,
        *,
        default_value: SomeSubstitutionsType | None = None,
        description: str | None = None,
        choices: Iterable[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(name, str) or not name:
            raise TypeError("DeclareLaunchArgument name must be a non-empty str")
        self.__name = name
        self.__default = None if default_value is None else normalize_to_list_of_substitutions(default_value)
        self.__choices = None if choices is None else [str(c) for c in choices]
        self.__description = description if description is not None else "no description given"
        self._conditionally_included = False

    @property
    def name(self) -> str:
        return self.__name

    @property
    def default_value(self):
        return self.__default

    @property
    def description(self) -> str:
        return self.__description

    @property
    def choices(self) -> list[str] | None:
        return self.__choices

    def execute(self, context: LaunchContext) -> None:
        if self.__name not in context.launch_configurations:
            if self.__default is None:
                raise RuntimeError(
                    f"Included launch description missing required argument '{self.__name}' "
                    f"(description: '{self.__description}'), given: "
                    f"[{', '.join(sorted(context.launch_configurations))}]"
                )
            context.launch_configurations[self.__name] = evaluate(context, self.__default)
        value = context.launch_configurations[self.__name]
        if self.__choices is not None and value not in self.__choices:
            raise RuntimeError(
                f"Argument '{self.__name}' provided value '{value}' is not valid. "
                f"Valid options are: {self.__choices}"
            )
        return None
