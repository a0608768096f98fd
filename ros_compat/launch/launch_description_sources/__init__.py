"""Where a LaunchDescription comes from: a Python launch file with generate_launch_description()."""

from __future__ import annotations

import importlib.util
import os
import sys

from ..launch_context import LaunchContext
from ..launch_description import LaunchDescription
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


class InvalidLaunchFileError(Exception):
    """The launch file could not be loaded (syntax/import error, no generate_launch_description)."""


def load_python_launch_file(path: str) -> LaunchDescription:
    """Import the file as a module and call its generate_launch_description().

    Errors raised by the file itself (a missing module, a syntax error, an exception while building
    the description) become InvalidLaunchFileError with a one-line message, as upstream reports it.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"launch file '{path}' does not exist")
    try:
        return _load_python_launch_file(path)
    except (InvalidLaunchFileError, KeyboardInterrupt):
        raise
    except Exception as exc:
        detail = (
            f"{type(exc).__name__}: {exc}" if not isinstance(exc, ImportError | SyntaxError) else str(exc)
        )
        raise InvalidLaunchFileError(
            f"Caught exception when trying to load file of format [py] '{path}': {detail}"
        ) from exc


def _load_python_launch_file(path: str) -> LaunchDescription:
    module_name = "launch_file_" + os.path.basename(path).replace(".", "_").replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load launch file '{path}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(module_name, module)
    spec.loader.exec_module(module)
    generate = getattr(module, "generate_launch_description", None)
    if generate is None:
        raise InvalidLaunchFileError(f"launch file '{path}' has no generate_launch_description() function")
    description = generate()
    if not isinstance(description, LaunchDescription):
        raise InvalidLaunchFileError(
            f"generate_launch_description() of '{path}' returned {type(description).__name__}, "
            "expected LaunchDescription"
        )
    return description


class LaunchDescriptionSource:
    """A path (substitutions) plus a loader; the description is loaded once, when first needed."""

    def __init__(
        self, launch_file_path: SomeSubstitutionsType, method: str = "interpreted python file"
    ) -> None:
        self._path = launch_file_path
        self.method = method
        self._expanded: str | None = None
        self._description: LaunchDescription | None = None

    @property
    def location(self) -> str:
        return self._expanded if self._expanded is not None else str(self._path)

    def _load(self, path: str) -> LaunchDescription:
        raise NotImplementedError

    def get_launch_description(self, context: LaunchContext) -> LaunchDescription:
        if self._description is None:
            self._expanded = evaluate(context, self._path)
            self._description = self._load(self._expanded)
        return self._description

    def try_get_launch_description_without_context(self) -> LaunchDescription | None:
        try:
            return self.get_launch_description(LaunchContext())
        except Exception:
            return None


class PythonLaunchDescriptionSource(LaunchDescriptionSource):
    """A `*.launch.py` file."""

    def __init__(self, launch_file_path: SomeSubstitutionsType) -> None:
        super().__init__(launch_file_path, "interpreted python launch file")

    def _load(self, path: str) -> LaunchDescription:
        return load_python_launch_file(path)


def load_launch_file(path: str) -> LaunchDescription:
    """By extension: .py -> Python; .xml / .yaml / .yml -> the launch_xml / launch_yaml frontends."""
    if path.endswith(".py"):
        return load_python_launch_file(path)
    if path.endswith((".xml", ".yaml", ".yml")):
        from ..frontend import load_frontend_launch_file

        return load_frontend_launch_file(path)
    raise InvalidLaunchFileError(
        f"cannot load launch file '{path}': expected a .py, .xml, .yaml or .yml file"
    )


class AnyLaunchDescriptionSource(LaunchDescriptionSource):
    """Python, XML or YAML launch file, chosen by its extension."""

    def __init__(self, launch_file_path: SomeSubstitutionsType) -> None:
        super().__init__(launch_file_path, "interpreted python, xml or yaml launch file")

    def _load(self, path: str) -> LaunchDescription:
        return load_launch_file(path)


class FrontendLaunchDescriptionSource(LaunchDescriptionSource):
    """An XML or YAML launch file."""

    def __init__(self, launch_file_path: SomeSubstitutionsType, parser: object = None) -> None:
        super().__init__(launch_file_path, "interpreted frontend launch file")

    def _load(self, path: str) -> LaunchDescription:
        from ..frontend import load_frontend_launch_file

        return load_frontend_launch_file(path)


__all__ = [
    "AnyLaunchDescriptionSource",
    "FrontendLaunchDescriptionSource",
    "InvalidLaunchFileError",
    "LaunchDescriptionSource",
    "PythonLaunchDescriptionSource",
    "load_launch_file",
    "load_python_launch_file",
]
