"""ExecuteProcess: start a child process, forward its output, stop it on shutdown, respawn it."""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Iterable
from typing import Any

from .. import logging as launch_logging
from ..action import Action, LaunchDescriptionEntity
from ..events.process import ProcessExited, ProcessIO, ProcessStarted
from ..launch_context import LaunchContext
from ..process import RunningProcess
from ..some_substitutions_type import SomeSubstitutionsType, evaluate
from ..substitution import Substitution

_COUNTERS: dict[str, itertools.count] = {}


def _as_float(context: LaunchContext, value: float | SomeSubstitutionsType, what: str) -> float:
    raw = value if isinstance(value, int | float) else evaluate(context, value)
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{what} must be a number, got {raw!r}") from exc


def _as_bool(context: LaunchContext, value: bool | SomeSubstitutionsType, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = evaluate(context, value).strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise ValueError(f"{what} must be true or false, got {text!r}")
    return text in ("true", "1")


class ExecuteProcess(Action):
    """Upstream signature subset; `output` is screen | log | both (default log, as upstream)."""

    def __init__(
        self,
        *,
        cmd: Iterable[SomeSubstitutionsType] | str,
        name: SomeSubstitutionsType | None = None,
        cwd: SomeSubstitutionsType | None = None,
        env: dict[SomeSubstitutionsType, SomeSubstitutionsType] | None = None,
        additional_env: dict[SomeSubstitutionsType, SomeSubstitutionsType] | None = None,
        shell: bool = False,
        sigterm_timeout: float | SomeSubstitutionsType = 5.0,
        sigkill_timeout: float | SomeSubstitutionsType = 5.0,
        emulate_tty: bool = False,
        output: SomeSubstitutionsType = "log",
        prefix: SomeSubstitutionsType | None = None,
        log_cmd: bool = False,
        respawn: bool | SomeSubstitutionsType = False,
        respawn_delay: float | None = None,
        respawn_max_retries: int = -1,
        on_exit: Any = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.cmd: list[SomeSubstitutionsType] = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        if not self.cmd:
            raise ValueError("ExecuteProcess cmd must not be empty")
        self.name = name
        self.cwd, self.env, self.additional_env = cwd, env, additional_env
        self.shell = shell
        self.sigterm_timeout, self.sigkill_timeout = sigterm_timeout, sigkill_timeout
        self.emulate_tty = emulate_tty
        self.output = output
        self.prefix = prefix
        self.log_cmd = log_cmd
        self.respawn, self.respawn_delay, self.respawn_max_retries = (
            respawn,
            respawn_delay,
            respawn_max_retries,
        )
        self.on_exit = on_exit
        self.process_details: dict[str, Any] | None = None
        self._retries = 0
        self._on_exit_registered = False

    @property
    def process_description(self) -> Any:
        return self

    def get_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return []

    # Node overrides this to add --ros-args etc.
    def _expand_cmd(self, context: LaunchContext) -> list[str]:
        return [evaluate(context, part) for part in self.cmd]

    def _default_name(self, cmd: list[str]) -> str:
        return os.path.basename(cmd[0])

    def describe_sub_entities(self) -> list[LaunchDescriptionEntity]:
        return []

    def execute(self, context: LaunchContext) -> None:
        if context.service.is_shutting_down:
            return None  # upstream does not start processes once shutdown began
        if self.on_exit is not None and not self._on_exit_registered:
            from ..event_handlers import OnProcessExit

            self._on_exit_registered = True
            context.register_event_handler(OnProcessExit(target_action=self, on_exit=self.on_exit))
        cmd = self._expand_cmd(context)
        if self.prefix is not None:
            cmd = shlex.split(evaluate(context, self.prefix)) + cmd
        base = evaluate(context, self.name) if self.name is not None else self._default_name(cmd)
        counter = _COUNTERS.setdefault(base, itertools.count(1))
        name = f"{base}-{next(counter)}"
        if self.env is not None:
            env = {evaluate(context, k): evaluate(context, v) for k, v in self.env.items()}
        else:
            env = dict(context.environment)
        for key, value in (self.additional_env or {}).items():
            env[evaluate(context, key)] = evaluate(context, value)
        cwd = evaluate(context, self.cwd) if self.cwd is not None else None
        output = evaluate(context, self.output)
        timeouts = (
            _as_float(context, self.sigterm_timeout, "sigterm_timeout"),
            _as_float(context, self.sigkill_timeout, "sigkill_timeout"),
        )
        respawn = _as_bool(context, self.respawn, "respawn")
        snap = context.snapshot()
        self._start(context, name, cmd, env, cwd, output, timeouts, respawn, snap)
        return None

    def _start(
        self,
        context: LaunchContext,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        cwd: str | None,
        output: str,
        timeouts: tuple[float, float],
        respawn: bool,
        snap: Any,
    ) -> None:
        try:
            process = RunningProcess(name, cmd, env=env, cwd=cwd, shell=self.shell, output=output)
        except FileNotFoundError as exc:
            raise FileNotFoundError(
                f"cannot start process '{name}': executable '{cmd[0]}' not found"
            ) from exc
        process.timeouts = timeouts  # type: ignore[attr-defined]
        process.action = self
        self.process_details = {"name": name, "cmd": cmd, "pid": process.pid, "cwd": cwd, "env": env}
        details = dict(action=self, name=name, cmd=cmd, cwd=cwd, env=env, pid=process.pid)
        service = context.service
        if any(type(h).__name__ == "OnProcessIO" for h in context.event_handlers):
            process.on_line = lambda fd, line: service.emit_event(
                ProcessIO(text=line.encode(), fd=fd, **details)
            )
        launch_logging.log(
            "INFO",
            "launch",
            f"process started with pid [{process.pid}]"
            + (f": {' '.join(cmd)}" if self.log_cmd else f" ({name})"),
        )
        process.start_forwarding()
        service.emit_event(ProcessStarted(**details))

        def on_exit(code: int) -> None:
            if code == 0:
                launch_logging.log(
                    "INFO", "launch", f"process has finished cleanly [pid {process.pid}] ({name})"
                )
            else:
                launch_logging.log(
                    "ERROR",
                    "launch",
                    f"process has died [pid {process.pid}, exit code {code}, cmd '{' '.join(cmd)}'] ({name})",
                )
            service.emit_event(ProcessExited(returncode=code, **details))
            if (
                respawn
                and not service.is_shutting_down
                and (self.respawn_max_retries < 0 or self._retries < self.respawn_max_retries)
            ):
                self._retries += 1
                delay = float(self.respawn_delay or 0.0)
                service.add_timer(
                    delay,
                    lambda: (
                        None
                        if service.is_shutting_down
                        else self._start(context, name, cmd, env, cwd, output, timeouts, respawn, snap)
                    ),
                )

        service.watch(process, on_exit)


__all__ = ["ExecuteProcess", "ProcessExited", "Substitution"]
