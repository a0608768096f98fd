"""One running child process: start, output forwarding, signal escalation. Used by ExecuteProcess."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TextIO

from . import logging as launch_logging

_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """Own process group (so signals reach grandchildren, and a terminal ^C is forwarded once, by us),
    and SIGTERM if the launcher dies without cleaning up."""
    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class RunningProcess:
    """A Popen plus the escalation state SIGINT -> SIGTERM -> SIGKILL of upstream ExecuteProcess."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        *,
        env: dict[str, str],
        cwd: str | None,
        shell: bool,
        output: str,
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.output = output
        self._log_file: IO[str] | None = None
        if output not in ("screen", "log", "both", "own_log"):
            raise ValueError(f"output must be screen, log, both or own_log, got {output!r}")
        if output != "screen":
            self._log_file = open(launch_logging.get_log_dir() / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
        args: str | list[str] = " ".join(cmd) if shell else cmd
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            shell=shell,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only async-signal-safe calls
            text=True,
            errors="replace",
            bufsize=1,
        )
        self.pid = self.popen.pid
        self.signal_sent: int | None = None
        self.signal_time = 0.0
        self._threads: list[threading.Thread] = []
        self._output_spec = output
        self.action: object = None  # the ExecuteProcess that started it (for ShutdownProcess matching)
        self.on_line: Callable[[int, str], None] | None = None  # ProcessIO emitter, when handlers want it

    def start_forwarding(self) -> None:
        """Start the reader threads (after the launcher has logged the start, to keep line order)."""
        output = self._output_spec
        self._threads = [
            threading.Thread(
                target=self._forward,
                args=(self.popen.stdout, sys.stdout, output in ("screen", "both"), 1),
                daemon=True,
            ),
            threading.Thread(
                target=self._forward,
                args=(self.popen.stderr, sys.stderr, output != "own_log", 2),
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _forward(self, pipe: IO[str] | None, screen: TextIO, to_screen: bool, fd: int) -> None:
        """Prefix each line with [name] like upstream; copy to the log file unless output=screen."""
        assert pipe is not None
        for line in pipe:
            if self.on_line is not None:
                self.on_line(fd, line)
            if to_screen:
                launch_logging.write_line(screen, f"[{self.name}] {line}")
            if self._log_file is not None:
                self._log_file.write(line)
                self._log_file.flush()

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None:
            for thread in self._threads:
                thread.join(timeout=1.0)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
        return code

    def send(self, sig: int) -> None:
        """Signal the child's whole process group (it may have started its own children)."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            return
        self.signal_sent = sig
        self.signal_time = time.monotonic()

    def escalate(self, sigterm_timeout: float, sigkill_timeout: float) -> None:
        """Called while shutting down: SIGTERM after sigterm_timeout, SIGKILL sigkill_timeout later."""
        if self.popen.poll() is not None or self.signal_sent is None:
            return
        waited = time.monotonic() - self.signal_time
        if self.signal_sent == signal.SIGINT and waited >= sigterm_timeout:
            launch_logging.log(
                "WARNING",
                "launch",
                f"process[{self.name}] failed to terminate "
                f"'{sigterm_timeout}' seconds after receiving 'SIGINT', escalating to 'SIGTERM'",
            )
            self.send(signal.SIGTERM)
        elif self.signal_sent == signal.SIGTERM and waited >= sigkill_timeout:
            launch_logging.log(
                "WARNING",
                "launch",
                f"process[{self.name}] failed to terminate "
                f"'{sigkill_timeout}' seconds after receiving 'SIGTERM', escalating to 'SIGKILL'",
            )
            self.send(signal.SIGKILL)
