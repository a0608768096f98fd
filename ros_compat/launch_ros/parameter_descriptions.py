"""Legacy module path of Parameter/ParameterValue/ParameterFile (upstream keeps both)."""

from .descriptions import Parameter, ParameterFile, ParameterValue

__all__ = ["Parameter", "ParameterFile", "ParameterValue"]
