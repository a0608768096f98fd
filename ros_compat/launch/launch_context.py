"""State shared by actions while a launch runs: launch configurations, environment, the service."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any


class LaunchContext:
    """Holds the scoped launch configurations and environment (upstream name and attributes)."""

    def __init__(self, argv: list[str] | None = None, noninteractive: bool = False) -> None:
        self.argv = list(argv or [])
        self.noninteractive = noninteractive
        self.launch_configurations: dict[str, str] = {}
        self.environment: dict[str, str] = dict(os.environ)
        self.locals: dict[str, Any] = {}
        self.is_shutdown = False
        self.service: Any = None  # the LaunchService running this context

    @contextlib.contextmanager
    def scope(self, forwarding: bool = True) -> Iterator[None]:
        """Run a block with a copy of configurations/environment restored afterwards (GroupAction)."""
        saved_configs, saved_env = dict(self.launch_configurations), dict(self.environment)
        if not forwarding:
            self.launch_configurations.clear()
        try:
            yield
        finally:
            self.launch_configurations = saved_configs
            self.environment = saved_env

    def snapshot(self) -> tuple[dict[str, str], dict[str, str]]:
        return dict(self.launch_configurations), dict(self.environment)

    def restore(self, snap: tuple[dict[str, str], dict[str, str]]) -> None:
        self.launch_configurations, self.environment = dict(snap[0]), dict(snap[1])
