"""LaunchService: visits the description, then runs processes/timers until idle or shut down."""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType

from . import logging as launch_logging
from .action import LaunchDescriptionEntity
from .launch_context import LaunchContext

_POLL_S = 0.05


class LaunchService:
    """Single-threaded event loop (polling) over the launched processes and timers.

    Exit code of `run()`: 0 when everything ended well, 1 when a visited action raised or any launched
    process exited non-zero before shutdown was requested (a required process dying with
    on_exit=Shutdown() is such a case).
    """

    def __init__(
        self, *, argv: list[str] | None = None, noninteractive: bool = False, debug: bool = False
    ) -> None:
        self.context = LaunchContext(argv=argv, noninteractive=noninteractive)
        self.context.service = self
        self.debug = debug
        self._pending: list[LaunchDescriptionEntity] = []
        self._timers: list[tuple[float, bool, Callable[[], None]]] = []
        self._watched: list[tuple[object, Callable[[int], None]]] = []
        self._shutdown_reason: str | None = None
        self._failures: list[str] = []
        self._signal_count = 0
        self._lock = threading.Lock()

    # --- API used by actions ---------------------------------------------------------------
    def include_launch_description(self, launch_description: LaunchDescriptionEntity) -> None:
        self._pending.append(launch_description)

    def visit_all(self, entities: list[LaunchDescriptionEntity]) -> None:
        """Depth-first visit, as upstream does for the entities returned by `visit`."""
        for entity in entities:
            if self._shutdown_reason is not None:
                return
            sub = entity.visit(self.context)
            if sub:
                self.visit_all(list(sub))

    def add_timer(
        self, delay_s: float, callback: Callable[[], None], cancel_on_shutdown: bool = True
    ) -> None:
        self._timers.append((time.monotonic() + delay_s, cancel_on_shutdown, callback))

    def watch(self, process: object, on_exit: Callable[[int], None]) -> None:
        """`process` has poll()/escalate()/send(); on_exit(returncode) runs in the loop thread."""
        self._watched.append((process, on_exit))

    def record_failure(self, message: str) -> None:
        if self._shutdown_reason is None:
            self._failures.append(message)

    @property
    def is_shutting_down(self) -> bool:
        return self._shutdown_reason is not None

    def shutdown(self, reason: str = "reason not given") -> None:
        """Ask every process to stop with SIGINT (escalation happens in the loop); drop timers."""
        if self._shutdown_reason is not None:
            return
        self._shutdown_reason = reason
        self.context.is_shutdown = True
        launch_logging.log("INFO", "launch", f"shutting down: {reason}" if reason else "shutting down")
        self._timers = [t for t in self._timers if not t[1]]
        for process, _ in self._watched:
            process.send(signal.SIGINT)  # type: ignore[attr-defined]

    # --- loop ---------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal_count += 1
        name = signal.Signals(signum).name
        if self._signal_count == 1:
            launch_logging.log(
                "WARNING",
                "launch",
                f"user interrupted with {name}" if signum == signal.SIGINT else f"received {name}",
            )
            self.shutdown(f"received {name}")
        else:  # repeated signal: escalate now, like upstream's second ^C
            for process, _ in self._watched:
                process.send(signal.SIGTERM if self._signal_count == 2 else signal.SIGKILL)  # type: ignore

    def run(self, *, shutdown_when_idle: bool = True) -> int:
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            return self._run(shutdown_when_idle)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, shutdown_when_idle: bool) -> int:
        error = False
        try:
            pending, self._pending = self._pending, []
            self.visit_all(pending)
        except Exception as exc:  # any user launch-file error: report, stop children, exit 1
            if self.debug:
                traceback.print_exc()
            launch_logging.log(
                "ERROR", "launch", f"Caught exception in launch (see debug for traceback): {exc}"
            )
            error = True
            self.shutdown("error while launching")
        while True:
            for item in list(self._watched):
                process, on_exit = item
                code = process.poll()  # type: ignore[attr-defined]
                if code is None:
                    continue
                self._watched.remove(item)
                try:
                    on_exit(code)
                except Exception as exc:
                    launch_logging.log("ERROR", "launch", f"error in on_exit handler: {exc}")
                    error = True
                    self.shutdown("error in on_exit handler")
            now = time.monotonic()
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
            for _, _, callback in due:
                try:
                    callback()
                except Exception as exc:
                    launch_logging.log("ERROR", "launch", f"Caught exception in launch: {exc}")
                    error = True
                    self.shutdown("error while launching")
            if self._shutdown_reason is not None:
                for process, _ in self._watched:
                    process.escalate(*getattr(process, "timeouts", (5.0, 5.0)))  # type: ignore[attr-defined]
                if not self._watched:
                    break
            elif shutdown_when_idle and not self._watched and not self._timers:
                break
            time.sleep(_POLL_S)
        if self._failures:
            for message in self._failures:
                launch_logging.log("ERROR", "launch", message)
        return 1 if (error or self._failures) else 0
