"""`ros2 interface show|list`: interface definitions read from share/<pkg>/<kind>/ via the ament index."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ament_index_python.packages import (
    PackageNotFoundError,
    get_package_share_directory,
    get_packages_with_prefixes,
)

KINDS = ("msg", "srv", "action")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="interface_verb", metavar="verb")
    sub.required = True
    show = sub.add_parser("show", help="Output the interface definition")
    show.add_argument("type", help="e.g. ddvlm_msgs/msg/EmotionState (or ddvlm_msgs/EmotionState)")
    sub.add_parser("list", help="List all interface types available")


def definition_path(type_name: str) -> Path:
    """`pkg/msg/Type` or `pkg/Type` → the installed .msg/.srv/.action file; ValueError when unknown."""
    parts = type_name.strip("/").split("/")
    if len(parts) == 3:
        package, kinds, name = parts[0], (parts[1],), parts[2]
    elif len(parts) == 2:
        package, kinds, name = parts[0], KINDS, parts[1]
    else:
        raise ValueError(f"Invalid type name '{type_name}': expected <package>/<msg|srv|action>/<Type>")
    try:
        share = Path(get_package_share_directory(package))
    except PackageNotFoundError as exc:
        raise ValueError(f"Unknown package '{package}'") from exc
    for kind in kinds:
        candidate = share / kind / f"{name}.{kind}"
        if candidate.is_file():
            return candidate
    raise ValueError(f"Could not find the interface '{type_name}' in {share}")


def main(args: argparse.Namespace) -> int:
    if args.interface_verb == "list":
        for package, prefix in sorted(get_packages_with_prefixes().items()):
            share = Path(prefix) / "share" / package
            for kind in KINDS:
                for path in sorted((share / kind).glob(f"*.{kind}")):
                    print(f"{package}/{kind}/{path.stem}")
        return 0
    try:
        path = definition_path(args.type)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(path.read_text(encoding="utf-8"))
    return 0
