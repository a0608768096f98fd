"""The node's side of its vision process (ddvlm_ros/vision_process.py): start it, feed what it sends
into the engine, forward live parameters, stop it.

A reader thread receives one small message per frame and calls EmotionEngine.note_frame; it holds the
GIL only to unpickle a feature vector. If the vision process dies, the node keeps answering from text,
says so (ERROR log, `vision_process_exits` counter, /diagnostics ERROR) and starts it again after
RESTART_DELAY_S: nothing is silent.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from ddvlm_ros.backends import ModelError
from ddvlm_ros.engine import EmotionEngine
from ddvlm_ros.logs import Logger
from ddvlm_ros.vision_process import LIVE_PARAMS, VisionConfig, main

READY_TIMEOUT_S = 120.0  # model load in the child (a TensorRT engine build may take minutes: cached)
RESTART_DELAY_S = 1.0
STOP_TIMEOUT_S = 5.0


class VisionLink:
    """One vision process at a time; `start()` returns at once, `wait_ready()` blocks until it runs."""

    def __init__(self, config: VisionConfig, logger: Logger, on_frame: Callable[[], None] | None = None):
        self.config = config
        self._log = logger
        self._on_frame = on_frame  # the node's arrival meter
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that runs rclpy
        self._engine: EmotionEngine | None = None
        self._process = None
        self._conn = None
        self._send_lock = threading.Lock()
        self._ready = threading.Event()
        self._failure: str | None = None
        self._stopping = False
        self._reader: threading.Thread | None = None
        self.rss_bytes = 0
        self.alive = False

    def start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._process = self._ctx.Process(
            target=main, args=(child, self.config), name="emotion_vision", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        self._ready.clear()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def attach(self, engine: EmotionEngine) -> None:
        """Frames go to this engine from now on (the reader thread starts here)."""
        self._engine = engine
        self._reader = threading.Thread(target=self._read, name="vision-link", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """ModelError with the child's reason when it could not start."""
        if not self._ready.wait(timeout_s):
            self._failure = self._failure or f"no answer within {timeout_s:.0f} s"
        if self._failure:
            self.stop()
            raise ModelError(f"the vision process did not start: {self._failure}")

    def send(self, *message) -> None:
        with self._send_lock:
            try:
                if self._conn is not None:
                    self._conn.send(message)
            except (OSError, EOFError):
                pass  # the reader sees the exit and restarts it; the state is re-sent then

    def apply(self, values: dict) -> None:
        vision = {k: v for k, v in values.items() if k in LIVE_PARAMS}
        if vision:
            self.config = replace(self.config, **vision)
            self.send("apply", vision)

    def set_active(self, active: bool) -> None:
        self.config = replace(self.config, active=active)
        self.send("active", active)

    def stop(self) -> None:
        self._stopping = True
        self.send("stop")
        process = self._process
        if process is not None:
            process.join(STOP_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(STOP_TIMEOUT_S)
        if self._conn is not None:
            self._conn.close()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(STOP_TIMEOUT_S)

    # ---- the reader thread ------------------------------------------------------------------------
    def _read(self) -> None:
        while not self._stopping:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                if self._stopping:
                    return
                self._died()
                continue
            self._dispatch(message)

    def _dispatch(self, message: tuple) -> None:
        kind = message[0]
        engine = self._engine
        if kind == "frame":
            _, event, counts = message
            self._add_counts(counts)
            if event is not None:  # None: refused, the reason is in the counters
                engine.note_frame(event)
            if self._on_frame is not None:
                self._on_frame()
        elif kind == "counts":
            _, counts, self.rss_bytes = message
            self._add_counts(counts)
        elif kind == "ready":
            self.alive = True
            self._log.info(message[1])
            self._ready.set()
        elif kind == "failed":
            self._failure = message[1]
            self._ready.set()

    def _add_counts(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self._engine.count(name, n)

    def _died(self) -> None:
        """The child exited (crash, OOM kill): say so, count it, start a new one."""
        self.alive = False
        code = None
        if self._process is not None:
            self._process.join(STOP_TIMEOUT_S)
            code = self._process.exitcode
        self._engine.count("vision_process_exits")
        if not self._ready.is_set():  # it never started: wait_ready reports it
            self._failure = self._failure or f"it exited with code {code}"
            self._ready.set()
            self._stopping = True
            return
        self._log.error(
            f"the vision process exited (code {code}); answering from text until it is back, "
            f"restarting it in {RESTART_DELAY_S:.0f} s"
        )
        time.sleep(RESTART_DELAY_S)
        if self._stopping:
            return
        self._conn.close()
        self.start()

