"""`ros2 run <package> <executable> [args]`: exec of <prefix>/lib/<package>/<executable>."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_launch_support import make_ament_prefix, ros2


def test_run_execs_executable_with_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    proc = ros2("run", "launch_test_pkg", "echo_args", "a b", "--ros-args", "-p", "x:=1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 5, out  # the executable's own exit code
    match = re.search(r"pid (\d+) argv (.*)", out)
    assert match, out
    assert int(match.group(1)) == proc.pid  # exec'd in place, not a child process
    assert match.group(2) == str(["a b", "--ros-args", "-p", "x:=1"])


def test_run_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    proc = ros2("run", "launch_test_pkg", "nope")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "No executable found" in out
    proc = ros2("run", "no_such_pkg_xyz", "nope")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Package not found" in out
