"""Message-type lookup and message <-> plain-data conversion (rosidl_runtime_py is not on PyPI)."""

from __future__ import annotations

import array
import importlib
from typing import Any

import numpy as np
import yaml


def get_message_class(type_name: str) -> type:
    """`pkg/msg/Type` or `pkg/Type` → the generated Python class; ValueError with the reason otherwise."""
    parts = type_name.strip("/").split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"The passed message type '{type_name}' is invalid")
    package, kind, name = parts
    try:
        module = importlib.import_module(f"{package}.{kind}")
        return getattr(module, name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"The message type '{type_name}' is invalid") from exc


def to_plain(value: Any) -> Any:
    """A message (or field value) as dicts/lists/scalars, in field order, for YAML output."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: to_plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if isinstance(value, (list, tuple, array.array, np.ndarray)):
        return [to_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return list(value)
    return value


def set_fields(msg: Any, values: dict[str, Any]) -> Any:
    """Fill msg from a dict as `ros2 topic pub` does; unknown fields are an error."""
    if not isinstance(values, dict):
        raise ValueError(f"expected a mapping of field values, got {values!r}")
    fields = msg.get_fields_and_field_types()
    for name, value in values.items():
        if name not in fields:
            raise ValueError(f"{type(msg).__name__} has no field '{name}' (fields: {', '.join(fields)})")
        current = getattr(msg, name)
        if hasattr(current, "get_fields_and_field_types"):
            set_fields(current, value)
        else:
            setattr(msg, name, value)
    return msg


def to_yaml(msg: Any) -> str:
    return yaml.safe_dump(to_plain(msg), sort_keys=False, allow_unicode=True, default_flow_style=False)
