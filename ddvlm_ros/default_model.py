"""Where the package's default model lives (one name for the node, ddvlm-eval, tests and benchmarks)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "models/ddvlm-meld-v1"  # relative to the package share directory (and to the repo root)


def installed_default_model() -> Path:
    """The default model directory of the installed ddvlm_ros package (ament index)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        share = Path(get_package_share_directory("ddvlm_ros"))
    except PackageNotFoundError as exc:
        raise FileNotFoundError(
            "ddvlm_ros is not installed (source install/setup.bash after `make setup`), so there is no "
            "default model; pass a model directory explicitly"
        ) from exc
    path = share / DEFAULT_MODEL
    if not (path / "metadata.json").is_file():
        raise FileNotFoundError(f"the installed default model is missing: {path}/metadata.json")
    return path
