"""The `$(name arg ...)` substitution syntax of XML/YAML launch files (and of ParameterFile
allow_substs), parsed into the same Substitution objects Python launch files use."""

from __future__ import annotations

from collections.abc import Callable

from .substitution import Substitution
from .substitutions import (
    AndSubstitution,
    AnonName,
    Command,
    EnvironmentVariable,
    EqualsSubstitution,
    FileContent,
    FindExecutable,
    IfElseSubstitution,
    LaunchConfiguration,
    LaunchLogDir,
    NotEqualsSubstitution,
    NotSubstitution,
    OrSubstitution,
    PythonExecutable,
    PythonExpression,
    TextSubstitution,
    ThisLaunchFile,
    ThisLaunchFileDir,
)

Parts = list[Substitution]


class FrontendSyntaxError(ValueError):
    """A `$(...)` expression that cannot be parsed or names an unknown substitution."""


def _ros_share(args: list[Parts]) -> Substitution:
    from launch_ros.substitutions import FindPackageShare

    return FindPackageShare(args[0])


def _ros_prefix(args: list[Parts]) -> Substitution:
    from launch_ros.substitutions import FindPackagePrefix

    return FindPackagePrefix(args[0])


def _exec_in_pkg(args: list[Parts]) -> Substitution:
    from launch_ros.substitutions import ExecutableInPackage

    return ExecutableInPackage(args[0], args[1])


def _optional(args: list[Parts], index: int, default: str | None) -> Parts | str | None:
    return args[index] if len(args) > index else default


_BUILDERS: dict[str, tuple[int, int, Callable[[list[Parts]], Substitution]]] = {
    # name: (min args, max args, builder)
    "var": (1, 2, lambda a: LaunchConfiguration(a[0], default=_optional(a, 1, None))),
    "env": (1, 2, lambda a: EnvironmentVariable(a[0], default_value=_optional(a, 1, None))),
    "optenv": (1, 2, lambda a: EnvironmentVariable(a[0], default_value=_optional(a, 1, ""))),
    "eval": (1, 2, lambda a: PythonExpression(a[0], a[1]) if len(a) > 1 else PythonExpression(a[0])),
    "dirname": (0, 0, lambda a: ThisLaunchFileDir()),
    "filename": (0, 0, lambda a: ThisLaunchFile()),
    "anon": (1, 1, lambda a: AnonName(a[0])),
    "command": (1, 2, lambda a: Command(a[0], on_stderr=_optional(a, 1, "fail"))),
    "find-exec": (1, 1, lambda a: FindExecutable(name=a[0])),
    "find-pkg-share": (1, 1, _ros_share),
    "find-pkg-prefix": (1, 1, _ros_prefix),
    "exec-in-pkg": (2, 2, _exec_in_pkg),
    "file-content": (1, 1, lambda a: FileContent(a[0])),
    "equals": (2, 2, lambda a: EqualsSubstitution(a[0], a[1])),
    "not-equals": (2, 2, lambda a: NotEqualsSubstitution(a[0], a[1])),
    "not": (1, 1, lambda a: NotSubstitution(a[0])),
    "and": (2, 2, lambda a: AndSubstitution(a[0], a[1])),
    "or": (2, 2, lambda a: OrSubstitution(a[0], a[1])),
    "if-else": (3, 3, lambda a: IfElseSubstitution(a[0], a[1], a[2])),
    "launch-log-dir": (0, 0, lambda a: LaunchLogDir()),
    "python-executable": (0, 0, lambda a: PythonExecutable()),
}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def template(self) -> Parts:
        parts, literal = [], []
        while self.pos < len(self.text):
            if self.text.startswith("$(", self.pos):
                if literal:
                    parts.append(TextSubstitution(text="".join(literal)))
                    literal = []
                parts.append(self.substitution())
            else:
                literal.append(self.text[self.pos])
                self.pos += 1
        if literal:
            parts.append(TextSubstitution(text="".join(literal)))
        return parts

    def substitution(self) -> Substitution:
        start = self.pos
        self.pos += 2
        name_end = self.pos
        while name_end < len(self.text) and (self.text[name_end].isalnum() or self.text[name_end] in "-_"):
            name_end += 1
        name = self.text[self.pos : name_end]
        self.pos = name_end
        args: list[Parts] = []
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
                self.pos += 1
            if self.pos >= len(self.text):
                raise FrontendSyntaxError(f"unterminated substitution in {self.text[start:]!r}")
            if self.text[self.pos] == ")":
                self.pos += 1
                break
            args.append(self.argument())
        if name not in _BUILDERS:
            raise FrontendSyntaxError(f"unknown substitution '$({name} ...)' in {self.text!r}")
        low, high, build = _BUILDERS[name]
        if not low <= len(args) <= high:
            raise FrontendSyntaxError(
                f"$({name}) takes {low}..{high} arguments, got {len(args)} in {self.text!r}"
            )
        return build(args)

    def argument(self) -> Parts:
        """Unquoted text, quoted strings ('...' or "...", which may hold substitutions) and substitutions."""
        parts, literal = [], []

        def flush() -> None:
            if literal:
                parts.append(TextSubstitution(text="".join(literal)))
                literal.clear()

        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char in " \t\n)":
                break
            if self.text.startswith("$(", self.pos):
                flush()
                parts.append(self.substitution())
            elif char in "'\"":
                self.pos += 1
                while self.pos < len(self.text) and self.text[self.pos] != char:
                    if self.text.startswith("$(", self.pos):
                        flush()
                        parts.append(self.substitution())
                    else:
                        literal.append(self.text[self.pos])
                        self.pos += 1
                if self.pos >= len(self.text):
                    raise FrontendSyntaxError(f"unterminated quote in {self.text!r}")
                self.pos += 1
            else:
                literal.append(char)
                self.pos += 1
        flush()
        return parts or [TextSubstitution(text="")]


def parse_substitutions(text: str) -> Parts:
    """'$(var a)/b' -> [LaunchConfiguration('a'), TextSubstitution('/b')]."""
    return _Parser(text).template()
