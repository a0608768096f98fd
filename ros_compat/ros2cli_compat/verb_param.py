"""Node parameters through the standard rcl_interfaces services (`ros2 param list|get|set|dump`)."""

from __future__ import annotations

import argparse
import sys

import rclpy
import yaml
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, ListParameters, SetParameters
from rclpy.node import Node

from ._services import call_service, node_fqn

_VALUE_FIELDS = {
    ParameterType.PARAMETER_BOOL: ("bool_value", "Boolean value is"),
    ParameterType.PARAMETER_INTEGER: ("integer_value", "Integer value is"),
    ParameterType.PARAMETER_DOUBLE: ("double_value", "Double value is"),
    ParameterType.PARAMETER_STRING: ("string_value", "String value is"),
    ParameterType.PARAMETER_BYTE_ARRAY: ("byte_array_value", "Byte values are"),
    ParameterType.PARAMETER_BOOL_ARRAY: ("bool_array_value", "Boolean values are"),
    ParameterType.PARAMETER_INTEGER_ARRAY: ("integer_array_value", "Integer values are"),
    ParameterType.PARAMETER_DOUBLE_ARRAY: ("double_array_value", "Double values are"),
    ParameterType.PARAMETER_STRING_ARRAY: ("string_array_value", "String values are"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="param_verb", metavar="verb")
    sub.required = True
    lst = sub.add_parser("list", help="Output a list of available parameters")
    lst.add_argument("node_name")
    get = sub.add_parser("get", help="Get parameter")
    get.add_argument("node_name")
    get.add_argument("parameter_name")
    set_ = sub.add_parser("set", help="Set parameter")
    set_.add_argument("node_name")
    set_.add_argument("parameter_name")
    set_.add_argument("value")
    dump = sub.add_parser("dump", help="Show all of the parameters of a node in a YAML file format")
    dump.add_argument("node_name")
    for p in (lst, get, set_, dump):
        p.add_argument("--timeout", type=float, default=10.0, help="wait this long for the node's services")


def value_from_string(text: str) -> ParameterValue:
    """Type a command-line value as upstream `ros2 param set` does: rclpy's own YAML-based
    get_parameter_value ("'5'" -> string 5, "[1, 2.0]" -> the string as given); a YAML mapping,
    which that function leaves as a dict, is sent as the text given."""
    from rclpy.parameter import get_parameter_value

    value = get_parameter_value(text)
    if value.type == ParameterType.PARAMETER_STRING and not isinstance(value.string_value, str):
        value.string_value = text
    return value


def plain_value(value: ParameterValue) -> object:
    field = _VALUE_FIELDS.get(value.type)
    if field is None:
        return None
    raw = getattr(value, field[0])
    return list(raw) if not isinstance(raw, (bool, int, float, str)) else raw


def _list_names(node: Node, target: str, timeout: float) -> list[str]:
    request = ListParameters.Request()
    response = call_service(node, ListParameters, f"{target}/list_parameters", request, timeout)
    return sorted(response.result.names)


def _get(node: Node, target: str, names: list[str], timeout: float) -> list[ParameterValue]:
    request = GetParameters.Request(names=names)
    response = call_service(node, GetParameters, f"{target}/get_parameters", request, timeout)
    return list(response.values)


def main(args: argparse.Namespace) -> int:
    target = node_fqn(args.node_name)
    rclpy.init(args=[])  # the command line is ours, not rcl's (e.g. a `ros2 topic pub` value with :=)
    node = rclpy.create_node("_ros2cli_param", start_parameter_services=False)
    try:
        if args.param_verb == "list":
            print(f"{target}:")
            for name in _list_names(node, target, args.timeout):
                print(f"  {name}")
        elif args.param_verb == "get":
            values = _get(node, target, [args.parameter_name], args.timeout)
            if not values or values[0].type == ParameterType.PARAMETER_NOT_SET:
                print("Parameter not set.", file=sys.stderr)
                return 1
            if values[0].type not in _VALUE_FIELDS:
                print("Unknown parameter type", file=sys.stderr)
                return 1
            print(f"{_VALUE_FIELDS[values[0].type][1]}: {plain_value(values[0])}")
        elif args.param_verb == "set":
            request = SetParameters.Request(
                parameters=[Parameter(name=args.parameter_name, value=value_from_string(args.value))]
            )
            response = call_service(node, SetParameters, f"{target}/set_parameters", request, args.timeout)
            result = response.results[0]
            reason = f": {result.reason}" if result.reason else ""
            if not result.successful:  # upstream: the failure goes to stderr, the exit status stays 0
                print(f"Setting parameter failed{reason}", file=sys.stderr)
                return 0
            print(f"Set parameter successful{reason}")
        else:  # dump
            names = _list_names(node, target, args.timeout)
            values = _get(node, target, names, args.timeout)
            params = {n: plain_value(v) for n, v in zip(names, values, strict=True)}
            print(yaml.safe_dump({target: {"ros__parameters": params}}, sort_keys=False), end="")
        return 0
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
