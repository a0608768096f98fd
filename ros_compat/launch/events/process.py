"""Process events of upstream `launch.events.process`: started, exited, output, and requests to a process."""

from __future__ import annotations

import signal as signal_module
from collections.abc import Callable
from typing import Any

from ..event import Event


class RunningProcessEvent(Event):
    """An event about one launched process: the action, its name, command, cwd, env and pid."""

    name = "launch.events.process.RunningProcessEvent"

    def __init__(
        self,
        *,
        action: Any,
        name: str,
        cmd: list[str],
        cwd: str | None,
        env: dict[str, str] | None,
        pid: int,
    ) -> None:
        self.action = action
        self.execute_process_action = action
        self.name, self.cmd, self.cwd, self.env, self.pid = name, cmd, cwd, env, pid


class ProcessStarted(RunningProcessEvent):
    name = "launch.events.process.ProcessStarted"


class ProcessExited(RunningProcessEvent):
    """`returncode` is the exit status (negative: killed by that signal)."""

    name = "launch.events.process.ProcessExited"

    def __init__(self, *, returncode: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.returncode = returncode


class ProcessIO(RunningProcessEvent):
    """One chunk of a process's stdout/stderr (`from_stdout`, `from_stderr`, `text` as bytes)."""

    name = "launch.events.process.ProcessIO"

    def __init__(self, *, text: bytes, fd: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text, self.fd = text, fd
        self.from_stdout, self.from_stderr = fd == 1, fd == 2


class ProcessTargetedEvent(Event):
    """A request to the processes selected by `process_matcher(action) -> bool`."""

    name = "launch.events.process.ProcessTargetedEvent"

    def __init__(self, *, process_matcher: Callable[[Any], bool]) -> None:
        self.process_matcher = process_matcher


class ShutdownProcess(ProcessTargetedEvent):
    """Stop the matching processes (SIGINT, then escalation)."""

    name = "launch.events.process.ShutdownProcess"


class SignalProcess(ProcessTargetedEvent):
    """Send `signal_number` to the matching processes."""

    name = "launch.events.process.SignalProcess"

    def __init__(self, *, signal_number: int | str, process_matcher: Callable[[Any], bool]) -> None:
        super().__init__(process_matcher=process_matcher)
        if isinstance(signal_number, str):
            signal_number = getattr(signal_module, signal_number)
        self.signal = signal_module.Signals(signal_number)


def matches_pid(pid: int) -> Callable[[Any], bool]:
    return lambda action: (
        getattr(action, "process_details", None) is not None and action.process_details.get("pid") == pid
    )


def matches_name(name: str) -> Callable[[Any], bool]:
    return lambda action: (
        getattr(action, "process_details", None) is not None and action.process_details.get("name") == name
    )


def matches_executable(executable_name: str) -> Callable[[Any], bool]:
    return lambda action: (
        getattr(action, "process_details", None) is not None
        and executable_name in " ".join(action.process_details.get("cmd", []))
    )


__all__ = [
    "ProcessExited",
    "ProcessIO",
    "ProcessStarted",
    "ProcessTargetedEvent",
    "RunningProcessEvent",
    "ShutdownProcess",
    "SignalProcess",
    "matches_executable",
    "matches_name",
    "matches_pid",
]
