"""LaunchService: visits the description, then runs events, processes and timers until idle or shut down."""

from __future__ import annotations

import collections
import signal
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType

from . import logging as launch_logging
from .action import Action, LaunchDescriptionEntity
from .event import Event
from .launch_context import LaunchContext

_POLL_S = 0.05


class LaunchService:
    """Single-threaded event loop (polling) over events, launched processes, timers and pending tasks.

    Exit code of `run()` (upstream semantics): 0 unless an exception was raised while visiting actions
    or handling events; a launched process exiting non-zero is logged but does not change it.
    Shutdown (a Shutdown event from an action, ^C/SIGTERM, or the launch becoming idle) first lets
    the OnShutdown handlers run, then sends SIGINT to every process and escalates to SIGTERM/SIGKILL.
    """

    def __init__(
        self, *, argv: list[str] | None = None, noninteractive: bool = False, debug: bool = False
    ) -> None:
        self.context = LaunchContext(argv=argv, noninteractive=noninteractive)
        self.context.service = self
        self.debug = debug
        self._pending: list[LaunchDescriptionEntity] = []
        self._events: collections.deque[Event] = collections.deque()
        self._timers: list[tuple[float, bool, Callable[[], None]]] = []
        self._watched: list[tuple[object, Callable[[int], None]]] = []
        self._tasks: list[Callable[[], bool]] = []
        self._shutdown_reason: str | None = None
        self._in_shutdown_handlers = False
        self._signal_count = 0
        self._error = False
        self._lock = threading.Lock()

    # --- API used by actions ---------------------------------------------------------------
    def include_launch_description(self, launch_description: LaunchDescriptionEntity) -> None:
        self._pending.append(launch_description)

    def emit_event(self, event: Event) -> None:
        """Queue an event; safe from other threads and signal handlers."""
        self._events.append(event)

    def visit_all(self, entities: list[LaunchDescriptionEntity]) -> None:
        """Depth-first visit, as upstream does for the entities returned by `visit`."""
        from .events import ExecutionComplete

        for entity in entities:
            if self._shutdown_reason is not None and not self._in_shutdown_handlers:
                return
            sub = entity.visit(self.context)
            if sub:
                self.visit_all(list(sub))
            if isinstance(entity, Action) and any(
                isinstance(h, _completion_handler_types()) for h in self.context.event_handlers
            ):
                self.emit_event(ExecutionComplete(action=entity))

    def add_timer(
        self, delay_s: float, callback: Callable[[], None], cancel_on_shutdown: bool = True
    ) -> None:
        self._timers.append((time.monotonic() + delay_s, cancel_on_shutdown, callback))

    def watch(self, process: object, on_exit: Callable[[int], None]) -> None:
        """`process` has poll()/escalate()/send(); on_exit(returncode) runs in the loop thread."""
        self._watched.append((process, on_exit))

    def watched_processes(self) -> list[object]:
        return [process for process, _ in self._watched]

    def add_task(self, is_done: Callable[[], bool]) -> None:
        """Keep the launch from going idle until `is_done()` (e.g. a lifecycle service call in flight)."""
        self._tasks.append(is_done)

    def record_failure(self, message: str) -> None:
        """Kept for callers of the earlier API: failures are logged where they happen, not counted."""

    @property
    def is_shutting_down(self) -> bool:
        return self._shutdown_reason is not None

    def shutdown(self, reason: str = "reason not given", *, due_to_sigint: bool = False) -> None:
        """Emit a Shutdown event (OnShutdown handlers run, then processes are stopped)."""
        from .events import Shutdown

        self.emit_event(Shutdown(reason=reason, due_to_sigint=due_to_sigint))

    def _begin_shutdown(self, reason: str) -> None:
        if self._shutdown_reason is not None:
            return
        self._shutdown_reason = reason
        self.context.is_shutdown = True
        if reason != "idle":
            launch_logging.log("INFO", "launch", f"shutting down: {reason}" if reason else "shutting down")
        self._timers = [t for t in self._timers if not t[1]]
        for process, _ in self._watched:
            process.send(signal.SIGINT)  # type: ignore[attr-defined]

    # --- events -----------------------------------------------------------------------------
    def _handle_event(self, event: Event) -> None:
        from .events import Shutdown
        from .events.process import ShutdownProcess, SignalProcess

        if isinstance(event, Shutdown) and self._shutdown_reason is not None:
            return  # a second shutdown request changes nothing
        context = self.context
        for handler, snap in list(context._event_handlers):
            if not handler.matches(event):
                continue
            saved = context.snapshot()
            context.restore(snap)
            self._in_shutdown_handlers = isinstance(event, Shutdown)
            try:
                entities = handler.handle(event, context)
                if entities:
                    self.visit_all(list(entities))
            finally:
                self._in_shutdown_handlers = False
                context.restore(saved)
        if isinstance(event, Shutdown):
            self._begin_shutdown(event.reason)
        elif isinstance(event, ShutdownProcess | SignalProcess):
            sig = signal.SIGINT if isinstance(event, ShutdownProcess) else event.signal
            for process, _ in list(self._watched):
                action = getattr(process, "action", None)
                if action is not None and event.process_matcher(action):
                    process.send(sig)  # type: ignore[attr-defined]

    def _process_events(self) -> None:
        while self._events:
            event = self._events.popleft()
            try:
                self._handle_event(event)
            except Exception as exc:
                self._fail(exc, "Caught exception in launch while handling an event")

    def _fail(self, exc: BaseException, what: str) -> None:
        if self.debug:
            traceback.print_exception(exc)
        launch_logging.log("ERROR", "launch", f"{what} (see debug for traceback): {exc}")
        self._error = True
        self._begin_shutdown("error while launching")

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
            self.shutdown(f"received {name}", due_to_sigint=signum == signal.SIGINT)
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
        try:
            pending, self._pending = self._pending, []
            self.visit_all(pending)
        except Exception as exc:  # any user launch-file error: report, stop children, exit 1
            self._fail(exc, "Caught exception in launch")
        while True:
            self._process_events()
            for item in list(self._watched):
                process, on_exit = item
                code = process.poll()  # type: ignore[attr-defined]
                if code is None:
                    continue
                self._watched.remove(item)
                try:
                    on_exit(code)
                except Exception as exc:
                    self._fail(exc, "Caught exception in launch in an on_exit handler")
            now = time.monotonic()
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
            for _, _, callback in due:
                try:
                    callback()
                except Exception as exc:
                    self._fail(exc, "Caught exception in launch")
            self._tasks = [task for task in self._tasks if not task()]
            self._process_events()
            if self._shutdown_reason is not None:
                for process, _ in self._watched:
                    process.escalate(*getattr(process, "timeouts", (5.0, 5.0)))  # type: ignore[attr-defined]
                if not self._watched and not self._events:
                    break
            elif (
                shutdown_when_idle
                and not self._watched
                and not self._timers
                and not self._tasks
                and not self._events
            ):
                self.shutdown("idle")
                continue
            time.sleep(_POLL_S)
        return 1 if self._error else 0


def _completion_handler_types() -> tuple[type, ...]:
    from .event_handlers import OnExecutionComplete

    return (OnExecutionComplete,)
