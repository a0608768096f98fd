"""Run an executable of a package: ros2 run <package> <executable> [args...]."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from ament_index_python.packages import PackageNotFoundError, get_package_prefix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", help="prefix command, e.g. 'gdb -ex run --args'")
    parser.add_argument("package_name", help="name of the ROS package")
    parser.add_argument("executable_name", help="name of the executable in <prefix>/lib/<package>/")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="arguments passed to the executable")


def resolve(package: str, executable: str) -> str:
    """<prefix>/lib/<package>/<executable>, with upstream's error messages."""
    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError as exc:
        raise LookupError("Package not found") from exc
    path = os.path.join(prefix, "lib", package, executable)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise LookupError("No executable found")
    return path


def main(args: argparse.Namespace) -> int:
    try:
        path = resolve(args.package_name, args.executable_name)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    argv = list(args.argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    cmd = [*(shlex.split(args.prefix) if args.prefix else []), path, *argv]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(cmd[0], cmd)  # replaces this process: signals and exit code are the executable's own
    except OSError as exc:
        print(f"ros2 run: cannot execute {cmd[0]}: {exc}", file=sys.stderr)
        return 1
    return 0  # not reached
