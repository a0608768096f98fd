"""Run a launch file: ros2 launch <package> <file> [name:=value ...] (or a path); Python, XML or YAML."""

from __future__ import annotations

import argparse
import os
import sys

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--noninteractive", action="store_true", help="run without a terminal")
    parser.add_argument("-d", "--debug", action="store_true", help="print tracebacks of launch errors")
    parser.add_argument(
        "-s",
        "--show-args",
        "--show-arguments",
        dest="show_args",
        action="store_true",
        help="show the launch file's arguments and exit",
    )
    parser.add_argument(
        "-p",
        "--print",
        "--print-description",
        dest="print_description",
        action="store_true",
        help="print the launch description and exit",
    )
    parser.add_argument("package_name", help="package name, or the path of a launch file")
    parser.add_argument("launch_file_name", nargs="?", help="launch file name inside the package's share dir")
    parser.add_argument("launch_arguments", nargs="*", help="arguments as name:=value")


def find_launch_file(package: str, file_name: str) -> str:
    """The one file named `file_name` under share/<package>/ (searched recursively, like upstream)."""
    try:
        share = get_package_share_directory(package)
    except PackageNotFoundError as exc:
        raise ValueError(f"Package '{package}' not found: {exc}") from exc
    matches = sorted(
        os.path.join(root, f)
        for root, _, files in os.walk(share, followlinks=True)
        for f in files
        if f == file_name
    )
    if not matches:
        raise ValueError(
            f"file '{file_name}' was not found in the share directory of package '{package}' "
            f"which is at '{share}'"
        )
    if len(matches) > 1:
        raise ValueError(
            f"multiple files named '{file_name}' found in the share directory of package "
            f"'{package}': {matches}"
        )
    return matches[0]


def parse_launch_arguments(items: list[str]) -> list[tuple[str, str]]:
    """name:=value pairs; anything else is an error."""
    parsed = []
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ValueError(f"malformed launch argument '{item}', expected format '<name>:=<value>'")
        parsed.append((name, value))
    return parsed


def _show_args(path: str) -> int:
    """Upstream format: name, description, choices, `(default: <describe() of each part>)`."""
    from launch.launch_description_sources import load_launch_file

    arguments = load_launch_file(path).get_launch_arguments()
    print("Arguments (pass arguments as '<name>:=<value>'):")
    if not arguments:
        print("\n  No arguments.")
    for arg in arguments:
        line = f"\n    '{arg.name}':"
        if arg._conditionally_included:
            line += " (conditionally included)"
        print(line)
        print("        " + "\n        ".join(arg.description.splitlines() or [""]))
        if arg.choices is not None:
            print(f"        Valid choices are: {arg.choices}")
        if arg.default_value is None:
            print("        (no default, required)")
        else:
            print(f"        (default: {' + '.join(part.describe() for part in arg.default_value)})")
    return 0


def main(args: argparse.Namespace) -> int:
    from launch import LaunchService
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import AnyLaunchDescriptionSource, InvalidLaunchFileError

    launch_arguments = list(args.launch_arguments)
    try:
        if os.path.isfile(args.package_name) and (
            args.launch_file_name is None or ":=" in args.launch_file_name
        ):
            path = args.package_name
            if args.launch_file_name is not None:
                launch_arguments.insert(0, args.launch_file_name)
        elif args.launch_file_name is None:
            raise ValueError(f"'{args.package_name}' is not a launch file and no launch file name was given")
        else:
            path = find_launch_file(args.package_name, args.launch_file_name)
        parsed = parse_launch_arguments(launch_arguments)
        if args.show_args:
            return _show_args(path)
        if args.print_description:
            from launch import LaunchIntrospector
            from launch.launch_description_sources import load_launch_file

            print(LaunchIntrospector().format_launch_description(load_launch_file(path)))
            return 0
    except (ValueError, FileNotFoundError, InvalidLaunchFileError) as exc:
        print(f"ros2 launch: error: {exc}", file=sys.stderr)
        return 1
    service = LaunchService(argv=launch_arguments, noninteractive=args.noninteractive, debug=args.debug)
    service.include_launch_description(
        IncludeLaunchDescription(AnyLaunchDescriptionSource(os.path.abspath(path)), launch_arguments=parsed)
    )
    return service.run()
