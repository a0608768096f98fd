"""Substitutions of upstream `launch_ros.substitutions` (subset)."""

from __future__ import annotations

from ament_index_python.packages import get_package_prefix, get_package_share_directory
from launch.launch_context import LaunchContext
from launch.some_substitutions_type import SomeSubstitutionsType, evaluate
from launch.substitution import Substitution


class FindPackageShare(Substitution):
    """<prefix>/share/<package> via the ament index (raises PackageNotFoundError like upstream)."""

    def __init__(self, package: SomeSubstitutionsType) -> None:
        self.package = package

    @staticmethod
    def find(package_name: str) -> str:
        """The share directory right away (upstream offers this for use outside substitutions)."""
        return get_package_share_directory(package_name)

    def perform(self, context: LaunchContext) -> str:
        return get_package_share_directory(evaluate(context, self.package))

    def __truediv__(self, other: SomeSubstitutionsType):
        from launch.substitutions import PathJoinSubstitution

        return PathJoinSubstitution([self, other])


class FindPackagePrefix(Substitution):
    """The install prefix of a package."""

    def __init__(self, package: SomeSubstitutionsType) -> None:
        self.package = package

    def perform(self, context: LaunchContext) -> str:
        return get_package_prefix(evaluate(context, self.package))


class FindPackage(FindPackagePrefix):
    """Upstream alias of the install prefix of a package."""


class ExecutableInPackage(Substitution):
    """<prefix>/lib/<package>/<executable>, with the same errors as Node(package=, executable=)."""

    def __init__(self, executable: SomeSubstitutionsType, package: SomeSubstitutionsType) -> None:
        self.executable, self.package = executable, package

    def perform(self, context: LaunchContext) -> str:
        from ..actions.node import find_executable

        return find_executable(evaluate(context, self.package), evaluate(context, self.executable))


__all__ = ["ExecutableInPackage", "FindPackage", "FindPackagePrefix", "FindPackageShare"]
