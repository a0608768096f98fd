"""The emotion node's vision process: image subscriptions, frame admission and face analysis.

Camera frames never enter the node's own process. A 30 Hz stream of 640×480 (or 4K) images costs
deserialization, face detection and the face encoder; in the node's process that work competes with
the transcript path for the GIL and for the CPU. Here it runs in a child process (started by
ddvlm_ros/vision_link.py) at a lower CPU priority (vision_process_nice), with its own rclpy context and node
(`<node name>_vision`, same namespace), subscribing to the node's resolved image topics. It sends one
small message per frame to the node: (FrameEvent, counter increments); the node keeps the face features.

Messages on the pipe, node → vision: ("apply", {name: value}) live parameters, ("active", bool),
("stop",). vision → node: ("ready", description) or ("failed", reason) once, then ("frame", FrameEvent or
None when refused, {counter: increment}) per frame and ("counts", {counter: increment}, rss_bytes) each
second.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ddvlm_ros.conversions import offer_frame, offer_raw_frame

CONTROL_POLL_S = 0.1  # longest a message from the node waits while no frame arrives
COUNTS_PERIOD_S = 1.0  # counters and RSS reach the node at least this often
STREAM_STOPPED_S = 2.0  # no frame for this long: the stream stopped; its memory is given back
LIVE_PARAMS = ("face_detection_rate_hz", "max_future_s", "max_image_pixels")


@dataclass(frozen=True)
class VisionConfig:
    """What the vision process needs from the node (picklable: it crosses the process boundary)."""

    node_name: str
    namespace: str
    image_topic: str  # resolved (absolute) names: remappings were applied by the node
    compressed_topic: str | None  # None: use_compressed is off
    use_sim_time: bool
    model_dir: str
    backend: str
    precision: str
    face_detector: str
    image_queue_size: int
    face_detection_rate_hz: float
    max_future_s: float
    max_image_pixels: int
    nice: int  # the vision_process_nice parameter: the transcript path wins the CPU when both want it
    active: bool  # subscribe at once (emotion_node) or on ("active", True) (the lifecycle node)


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 where that is not available)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Counts:
    """Counter increments since the last time they were taken (what the node adds to its own)."""

    def __init__(self) -> None:
        self._new: Counter[str] = Counter()

    def __call__(self, name: str, n: int = 1) -> None:
        self._new[name] += n

    def take(self) -> dict[str, int]:
        new, self._new = dict(self._new), Counter()
        return new


def main(conn: Connection, config: VisionConfig) -> None:
    """Entry point of the child process (multiprocessing, spawn)."""
    # The node owns this process's life (a "stop" message, or EOF when the node is gone). Ctrl-C and
    # `ros2 launch` send SIGINT to the whole process group: without this the child would die on it
    # mid-frame and print a KeyboardInterrupt traceback into the node's log.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(config.nice)
    except OSError:
        pass
    try:
        vision = _Vision(conn, config)
    except Exception as err:  # reported to the node, which fails its start with this reason
        conn.send(("failed", f"{type(err).__name__}: {err}"))
        return
    try:
        vision.run()
    finally:
        vision.close()


class _Vision:
    def __init__(self, conn: Connection, config: VisionConfig) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.signals import SignalHandlerOptions

        from ddvlm_ros.frame_analysis import FrameAnalyser
        from ddvlm_ros.logs import ThrottledLog
        from ddvlm_ros.memory import pin_mmap_threshold
        from ddvlm_ros.runtime_model import Model

        self.conn, self.config = conn, config
        pin_mmap_threshold()  # frame-sized buffers are unmapped when freed: RSS falls back after 4K
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(
            f"{config.node_name}_vision",
            namespace=config.namespace,
            context=self.context,
            parameter_overrides=[Parameter("use_sim_time", value=config.use_sim_time)],
            start_parameter_services=False,
        )
        log = ThrottledLog(self.node.get_logger())
        model = Model.load(
            config.model_dir, config.backend, 1, log, config.precision, config.face_detector, ("face",)
        )
        self.counts = _Counts()
        self.frames = FrameAnalyser(
            model,
            config.face_detection_rate_hz,
            config.max_future_s,
            now_ns=lambda: self.node.get_clock().now().nanoseconds,
            count=self.counts,
            log=log,
        )
        self.max_image_pixels = config.max_image_pixels
        self.active = False
        self.subscriptions: list = []
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.last_frame_s = float("-inf")
        self.frames_since_release = False
        if config.active:
            self.set_active(True)
        conn.send(("ready", f"vision process {os.getpid()}: {config.face_detector} on {model.backend.name}"))

    def set_active(self, active: bool) -> None:
        if active and not self.subscriptions:
            self._subscribe()
        self.active = active

    def _resubscribe(self) -> None:
        if not self.subscriptions:
            return
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions = []
        self._subscribe()

    def _subscribe(self) -> None:
        from sensor_msgs.msg import CompressedImage, Image

        from ddvlm_ros import node_qos

        qos = node_qos.image_qos(self.config.image_queue_size)
        self.subscriptions.append(
            self.node.create_subscription(Image, self.config.image_topic, self._on_raw_image, qos, raw=True)
        )
        if self.config.compressed_topic:
            self.subscriptions.append(
                self.node.create_subscription(
                    CompressedImage, self.config.compressed_topic, self._on_compressed, qos
                )
            )

    # ---- frames -------------------------------------------------------------------------------------
    def _on_raw_image(self, data: bytes) -> None:
        if self._admit():
            self._analyse(offer_raw_frame(self.frames, data, self.max_image_pixels))

    def _on_compressed(self, msg) -> None:
        if self._admit():
            self._analyse(offer_frame(self.frames, msg, self.max_image_pixels))

    def _admit(self) -> bool:
        """A frame arrived: True when it is to be offered, False (counted) while inactive."""
        self.last_frame_s = time.monotonic()
        if not self.active:
            self.counts("images_ignored_inactive")
        return self.active

    def _analyse(self, offered: tuple | None) -> None:
        """Analyse an offered frame and tell the node: None = refused (the event is None, its reason is in
        the counters), else (event, pixels) with pixels an image, a loader of one (raw frames) or None
        (skipped by the rate)."""
        if offered is None:
            self.conn.send(("frame", None, self.counts.take()))
            return
        event, pixels = offered
        if callable(pixels):
            try:
                pixels = pixels()
            except Exception as err:  # its header was checked in offer_raw_frame: not expected
                self.counts("image_error")
                self.frames.log.error(f"image conversion failed: {err!r}", key="image_conversion")
                pixels = None
        if pixels is not None:
            event = self.frames.analyse(event, pixels)
        del pixels  # a 4K frame is 24 MiB: not kept until the next one arrives
        self.conn.send(("frame", event, self.counts.take()))

    # ---- the loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        from ddvlm_ros.memory import release_free_memory

        next_counts = time.monotonic() + COUNTS_PERIOD_S
        while True:
            try:
                self.executor.spin_once(timeout_sec=CONTROL_POLL_S)
                while self.conn.poll():
                    if not self._handle(self.conn.recv()):
                        return
                now = time.monotonic()
                if now >= next_counts:
                    if self._stream_just_stopped(now):
                        self.counts("image_streams_stopped")
                        self._resubscribe()  # the middleware's frame-sized sample buffers go with them
                        if release_free_memory():  # False when the heap held nothing to give back
                            self.counts("memory_released_after_stream")
                    self.conn.send(("counts", self.counts.take(), rss_bytes()))
                    next_counts = now + COUNTS_PERIOD_S
            except (EOFError, OSError):  # the node is gone (BrokenPipeError is an OSError)
                return

    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == "stop":
            return False
        if kind == "active":
            self.set_active(bool(message[1]))
        elif kind == "apply":
            values = message[1]
            self.frames.apply(values.get("face_detection_rate_hz"), values.get("max_future_s"))
            self.max_image_pixels = values.get("max_image_pixels", self.max_image_pixels)
        return True

    def _stream_just_stopped(self, now: float) -> bool:
        if now - self.last_frame_s < STREAM_STOPPED_S:
            self.frames_since_release = True
            return False
        stopped, self.frames_since_release = self.frames_since_release, False
        return stopped

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
