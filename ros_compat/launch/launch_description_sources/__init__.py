"""Where a LaunchDescription comes from: a Python launch file with generate_launch_description()."""

from __future__ import annotations

import importlib.util
import os
import sys

from ..launch_context import LaunchContext
from ..launch_description import LaunchDescription
from ..some_substitutions_type import SomeSubstitutionsType, evaluate


def load_python_launch_file(path: str) -> LaunchDescription:
    """Import the file as a module and call its generate_launch_description()."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"launch file '{path}' does not exist")
    module_name = "launch_file_" + os.path.basename(path).replace(".", "_").replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load launch file '{path}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(module_name, module)
    spec.loader.exec_module(module)
    generate = getattr(module, "generate_launch_description", None)
    if generate is None:
        raise AttributeError(f"launch file '{path}' has no generate_launch_description() function")
    description = generate()
    if not isinstance(description, LaunchDescription):
        raise TypeError(
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


class AnyLaunchDescriptionSource(PythonLaunchDescriptionSource):
    """Only Python launch files are supported here (XML/YAML are not)."""

    def _load(self, path: str) -> LaunchDescription:
        if not path.endswith(".py"):
            raise ValueError(f"only Python launch files are supported by this launch subset: '{path}'")
        return load_python_launch_file(path)


__all__ = ["AnyLaunchDescriptionSource", "LaunchDescriptionSource", "PythonLaunchDescriptionSource"]
