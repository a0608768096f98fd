"""Shared pytest fixtures: an exclusive ROS_DOMAIN_ID per test so that concurrent runs never cross-talk."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_LOCK_DIR = Path(os.environ.get("DDVLM_DOMAIN_LOCK_DIR", "/tmp/ddvlm_ros_domain_locks"))
_PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
_FAST_DISCOVERY = Path(__file__).resolve().parent / "test" / "fastdds_fast_discovery.xml"

# Fast DDS re-announces a participant every 3 s by default, and a process that joins often waits for
# that before it matches the others: each `ros2` CLI call and node start cost 1.5-3 s here. The
# test profile announces every 0.25 s (see the file). Set process-wide, before any participant exists,
# so that this process and its children agree; a profile the caller chose is left alone.
if not any(os.environ.get(v) for v in _PROFILE_VARIABLES):
    for _variable in _PROFILE_VARIABLES:
        os.environ[_variable] = str(_FAST_DISCOVERY)


def _claim_domain() -> tuple[int, object]:
    """Take the first free domain id in 1..100 with an flock held until released."""
    _LOCK_DIR.mkdir(parents=True, exist_ok=True)
    start = os.getpid() % 100
    for offset in range(100):
        domain = 1 + (start + offset) % 100
        handle = open(_LOCK_DIR / f"{domain}.lock", "w")  # noqa: SIM115 - held for the test's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return domain, handle
    raise RuntimeError(f"no free ROS_DOMAIN_ID in 1..100 (locks in {_LOCK_DIR})")


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A ROS_DOMAIN_ID no other test process uses, set in os.environ (inherited by child processes)."""
    domain, handle = _claim_domain()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        yield domain
    finally:
        handle.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a slow test run first, each kept contiguous (a module fixture is set up once per
    worker), so that the long tests start early and the run ends with short ones that `--dist
    worksteal` (make test) spreads over idle workers."""
    slow_files = {_file_of(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: _file_of(item) not in slow_files)


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]
