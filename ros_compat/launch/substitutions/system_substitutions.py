"""Substitutions that read the system: Command, FindExecutable, FileContent, this file, locals, names."""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
import sys

from .. import logging as launch_logging
from ..launch_context import LaunchContext
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution, SubstitutionFailure


class Command(Substitution):
    """stdout of a command (split like a shell would); on_stderr: fail | ignore | warn | capture."""

    def __init__(self, command: SomeSubstitutionsType, *, on_stderr: SomeSubstitutionsType = "fail") -> None:
        self.command = command
        self.on_stderr = on_stderr

    def describe(self) -> str:
        return f"Command({self.command!r})"

    def perform(self, context: LaunchContext) -> str:
        text = evaluate(context, self.command)  # a list is concatenated, like any substitutions
        on_stderr = evaluate(context, self.on_stderr)
        if on_stderr not in ("fail", "ignore", "warn", "capture"):
            raise SubstitutionFailure(
                f"Command on_stderr must be fail, ignore, warn or capture, got {on_stderr!r}"
            )
        try:
            result = subprocess.run(
                shlex.split(text), capture_output=True, text=True, env=context.environment, check=False
            )
        except FileNotFoundError as exc:
            raise SubstitutionFailure(f"command '{text}' not found: {exc}") from exc
        if result.returncode != 0:
            raise SubstitutionFailure(
                f"executed command failed. Command: {text}\nCaptured stderr output: {result.stderr}"
            )
        if result.stderr:
            if on_stderr == "fail":
                raise SubstitutionFailure(
                    f"executed command showed stderr output. Command: {text}\n"
                    f"Captured stderr output: {result.stderr}"
                )
            if on_stderr == "warn":
                launch_logging.log(
                    "WARNING", "launch", f"command '{text}' printed to stderr: {result.stderr}"
                )
            if on_stderr == "capture":
                return result.stdout + result.stderr
        return result.stdout


class FindExecutable(Substitution):
    """The full path of an executable on PATH (an error if there is none)."""

    def __init__(self, *, name: SomeSubstitutionsType) -> None:
        self.name = name

    def perform(self, context: LaunchContext) -> str:
        name = evaluate(context, self.name)
        found = shutil.which(name, path=context.environment.get("PATH"))
        if found is None:
            raise SubstitutionFailure(f"executable '{name}' not found on the PATH")
        return found


class FileContent(Substitution):
    """The text of a file."""

    def __init__(self, path: SomeSubstitutionsType) -> None:
        self.path = path

    def perform(self, context: LaunchContext) -> str:
        path = evaluate(context, self.path)
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except OSError as exc:
            raise SubstitutionFailure(f"cannot read file '{path}': {exc}") from exc


def _current_launch_file(context: LaunchContext) -> str:
    path = context.locals.get("current_launch_file_path")
    if path is None:
        raise SubstitutionFailure("ThisLaunchFile(Dir) used outside of a launch file being included")
    return path


class ThisLaunchFile(Substitution):
    """The path of the launch file whose entities are being visited."""

    def perform(self, context: LaunchContext) -> str:
        return _current_launch_file(context)


class ThisLaunchFileDir(Substitution):
    """The directory of the launch file whose entities are being visited."""

    def perform(self, context: LaunchContext) -> str:
        return os.path.dirname(_current_launch_file(context))


class LocalSubstitution(Substitution):
    """A value from context.locals, e.g. 'event.returncode' inside an event handler."""

    def __init__(self, expression: str, description: str | None = None) -> None:
        self.expression = expression
        self.description = description

    def perform(self, context: LaunchContext) -> str:
        head, _, rest = self.expression.partition(".")
        if head not in context.locals:
            raise SubstitutionFailure(f"context.locals has no '{head}'")
        value = getattr(context.locals, head)
        for part in filter(None, rest.split(".")):
            value = getattr(value, part)
        return str(value)


class AnonName(Substitution):
    """`<name>_<random>`, the same for every use of one name within a launch."""

    def __init__(self, name: SomeSubstitutionsType) -> None:
        self.name = name

    def perform(self, context: LaunchContext) -> str:
        name = evaluate(context, self.name)
        names = context.__dict__.setdefault("_anon_names", {})
        if name not in names:
            names[name] = f"{name}_{os.getpid()}_{random.getrandbits(48)}"
        return names[name]


class LaunchLogDir(Substitution):
    """The directory this launch writes its logs to."""

    def perform(self, context: LaunchContext) -> str:
        return str(launch_logging.get_log_dir())


class PythonExecutable(Substitution):
    """The Python interpreter running the launch."""

    def perform(self, context: LaunchContext) -> str:
        return sys.executable
