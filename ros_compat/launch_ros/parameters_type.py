"""Type aliases of upstream `launch_ros.parameters_type` (for type hints in launch files)."""

from typing import Any

SomeParameters = Any
SomeParameterFile = Any
SomeParameterName = Any
SomeParameterValue = Any
