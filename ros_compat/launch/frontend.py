"""XML / YAML launch files (launch_xml / launch_yaml syntax): not implemented yet."""

from __future__ import annotations


def load_frontend_launch_file(path: str):
    from .launch_description_sources import InvalidLaunchFileError

    raise InvalidLaunchFileError(f"XML/YAML launch files are not supported yet: '{path}'")
