"""Turning Node(parameters=[...]) entries into --params-file arguments, as upstream launch_ros does."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import evaluate, normalize_to_list_of_substitutions
from launch.substitution import Substitution

_SCALARS = (bool, int, float, str)


def _is_substitutions(value: Any) -> bool:
    """Plain strings count too: upstream normalises them to TextSubstitution, so 'true' becomes a bool."""
    if isinstance(value, Substitution | str):
        return True
    return isinstance(value, list | tuple) and bool(value) and any(isinstance(v, Substitution) for v in value)


def evaluate_parameter_value(context: LaunchContext, value: Any) -> Any:
    """Substitutions -> string, then YAML-typed when that gives a scalar or list (upstream behaviour)."""
    if hasattr(value, "evaluate") and type(value).__name__ == "ParameterValue":
        return value.evaluate(context)
    if _is_substitutions(value):
        text = evaluate(context, normalize_to_list_of_substitutions(value))
        try:
            typed = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        if isinstance(typed, _SCALARS) or (
            isinstance(typed, list) and all(isinstance(v, _SCALARS) for v in typed)
        ):
            return typed
        return text
    if isinstance(value, Mapping):
        return evaluate_parameter_dict(context, value)
    if isinstance(value, list | tuple):
        items = [evaluate_parameter_value(context, v) for v in value]
        if len({type(v) for v in items}) > 1 and not all(isinstance(v, int | float) for v in items):
            raise TypeError(f"parameter list values must all have the same type, got {items!r}")
        return items
    if isinstance(value, (*_SCALARS, bytes)):
        return value
    raise TypeError(f"unsupported parameter value {value!r} of type {type(value).__name__}")


def evaluate_parameter_dict(context: LaunchContext, parameters: Mapping) -> dict[str, Any]:
    """Keys are substitutions too; nested dicts stay nested (rcl reads them as dotted names)."""
    result: dict[str, Any] = {}
    for key, value in parameters.items():
        name = evaluate(context, key) if not isinstance(key, str) else key
        result[name] = evaluate_parameter_value(context, value)
    return result


def write_params_file(parameters: dict[str, Any]) -> str:
    """A temporary `/**: ros__parameters:` YAML file (upstream writes the same shape)."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the launch
        mode="w", prefix="launch_params_", suffix=".yaml", delete=False
    )
    with handle:
        yaml.safe_dump({"/**": {"ros__parameters": parameters}}, handle, default_flow_style=False)
    return handle.name


def parameter_arguments(context: LaunchContext, parameters: Iterable[Any]) -> tuple[list[str], list[str]]:
    """--params-file arguments for each entry, plus the temp files created (removed at exit).

    Entries: dicts, Parameter, ParameterFile, paths; SetParameter/SetParametersFromFile values of the
    scope come first. A path that is not a file is skipped with a warning (as upstream Node does).
    """
    from launch import logging as launch_logging

    from ..descriptions import Parameter, ParameterFile

    args: list[str] = []
    temp_files: list[str] = []
    entries = list(context.launch_configurations.get("global_params", [])) + list(parameters)
    for entry in entries:
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
            entry = {entry[0]: entry[1]}  # from SetParameter: already evaluated
        if isinstance(entry, Parameter):
            name, value = entry.evaluate(context)
            entry = {name: value}
        if isinstance(entry, Mapping):
            path = write_params_file(evaluate_parameter_dict(context, entry))
            temp_files.append(path)
        else:
            path = entry.evaluate(context) if isinstance(entry, ParameterFile) else evaluate(context, entry)
            if isinstance(entry, ParameterFile) and entry._temp is not None:
                temp_files.append(path)
            if not os.path.isfile(path):
                launch_logging.log(
                    "WARNING", "launch_ros.actions.node", f"Parameter file path is not a file: {path}"
                )
                continue
        args += ["--params-file", path]
    return args, temp_files
