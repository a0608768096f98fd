"""Upstream `launch_ros.descriptions`: Parameter, ParameterValue, ParameterFile, ComposableNode."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from typing import Any

from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate


class ParameterValue:
    """A parameter value made of substitutions; value_type=str keeps the text (no YAML typing)."""

    def __init__(self, value: Any, *, value_type: Any = None) -> None:
        self.value = value
        self.value_type = value_type

    def evaluate(self, context: LaunchContext) -> Any:
        from ..actions.parameters import evaluate_parameter_value

        if self.value_type is str:
            if isinstance(self.value, list | tuple) and not any(hasattr(v, "perform") for v in self.value):
                return [evaluate(context, v) for v in self.value]
            return evaluate(context, self.value)
        value = evaluate_parameter_value(context, self.value)
        if self.value_type in (int, float, bool) and not isinstance(value, self.value_type):
            if self.value_type is float and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise TypeError(f"parameter value {value!r} is not of type {self.value_type.__name__}")
        return value


class Parameter:
    """One name/value pair for Node(parameters=[...])."""

    def __init__(self, name: SomeSubstitutionsType, value: Any, *, value_type: Any = None) -> None:
        self.name = name
        self.value = (
            value if isinstance(value, ParameterValue) else ParameterValue(value, value_type=value_type)
        )

    def evaluate(self, context: LaunchContext) -> tuple[str, Any]:
        return evaluate(context, self.name), self.value.evaluate(context)


class ParameterFile:
    """A parameters YAML file; allow_substs=True expands $(...) substitutions in it before use."""

    def __init__(self, param_file: SomeSubstitutionsType, *, allow_substs: Any = False) -> None:
        self.param_file = param_file
        self.allow_substs = allow_substs
        self._temp: str | None = None

    def evaluate(self, context: LaunchContext) -> str:
        path = evaluate(context, self.param_file)
        allow = self.allow_substs
        if not isinstance(allow, bool):
            allow = evaluate(context, allow).strip().lower() in ("true", "1")
        if not allow:
            return path
        from launch.frontend_substitutions import parse_substitutions

        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        expanded = evaluate(context, parse_substitutions(text))  # $(var ...), $(eval ...), ... as upstream
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the launch
            mode="w", prefix="launch_params_", suffix=".yaml", delete=False
        )
        with handle:
            handle.write(expanded)
        self._temp = handle.name
        return handle.name

    def cleanup(self) -> None:
        if self._temp is not None and os.path.exists(self._temp):
            os.unlink(self._temp)


class ComposableNode:
    """A component to load into a container: package + plugin (C++ class, or a Python node class)."""

    def __init__(
        self,
        *,
        package: SomeSubstitutionsType,
        plugin: SomeSubstitutionsType,
        name: SomeSubstitutionsType | None = None,
        namespace: SomeSubstitutionsType | None = None,
        parameters: Iterable[Any] | None = None,
        remappings: Iterable[tuple[SomeSubstitutionsType, SomeSubstitutionsType]] | None = None,
        extra_arguments: Iterable[Any] | None = None,
        condition: Any = None,
    ) -> None:
        self.package, self.node_plugin = package, plugin
        self.node_name, self.node_namespace = name, namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.extra_arguments = list(extra_arguments or [])
        self.condition = condition


__all__ = ["ComposableNode", "Parameter", "ParameterFile", "ParameterValue"]
