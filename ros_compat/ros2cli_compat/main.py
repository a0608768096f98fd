"""Entry point of the `ros2` command: dispatches `ros2 <verb> ...` to verb modules."""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> module in this package that defines `add_arguments(parser)` and `main(args) -> int`
VERBS = {
    "launch": "verb_launch",
    "run": "verb_run",
    "topic": "verb_topic",
    "param": "verb_param",
    "interface": "verb_interface",
    "node": "verb_node",
    "bag": "verb_bag",
    "lifecycle": "verb_lifecycle",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ros2", description="ros2 command (ddvlm_ros compat subset)")
    sub = parser.add_subparsers(dest="verb", metavar="verb")
    sub.required = True
    modules = {}
    for verb, module_name in VERBS.items():
        try:
            module = importlib.import_module(f"ros2cli_compat.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"ros2cli_compat.{module_name}":
                raise
            continue
        modules[verb] = module
        verb_parser = sub.add_parser(verb, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(verb_parser)
    args = parser.parse_args(argv)
    return int(modules[args.verb].main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
