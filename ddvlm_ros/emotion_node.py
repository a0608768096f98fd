"""emotion_node: the ROS adapter around EmotionEngine (ddvlm_ros/engine.py).

Parameters, subscriptions and publishers, the vision thread, diagnostics. What an answer is, which
frames it uses and when a transcript waits for its trailing frames is the engine's business; messages
are converted in ddvlm_ros/conversions.py. Face analysis runs on the vision thread (newest selected
frame first), so on the transcript path only text encoding and fusion remain.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import QoSMessageLostInfo, SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.backends import BackendUnavailable, ModelError
from ddvlm_ros.conversions import emotion_state, offer_frame, utterance
from ddvlm_ros.engine import Answer, EmotionEngine, EmotionResult, EngineSettings, FrameRefused, Model
from ddvlm_ros.image_input import ImageError, raw_image_header, raw_image_to_bgr
from ddvlm_ros.memory import pin_mmap_threshold, release_free_memory
from ddvlm_ros.node_params import PARAMS, SPECS, check_values
from ddvlm_ros.runtime_model import resolve_model_dir

RELEASE_PERIOD_S = 0.01  # how often held transcripts are checked while some are held
VISION_WINDOW_S = 5.0  # analysed vs due face-analysis rate is judged over this long
VISION_BEHIND_RATIO = 0.5  # WARN when fewer than this share of the frames due are analysed
STREAM_STOPPED_S = 2.0  # no frame for this long: the stream stopped, freed frame memory is released


class RateMeter:
    """Events per second over the last report period (for diagnostics)."""

    def __init__(self) -> None:
        self._count = 0
        self._since = time.monotonic()

    def tick(self) -> None:
        self._count += 1

    def take(self) -> float:
        now = time.monotonic()
        rate = self._count / max(now - self._since, 1e-9)
        self._count, self._since = 0, now
        return rate


class EmotionNode(Node):
    """The ROS node; see README for topics, parameters and diagnostics."""

    def __init__(self, **kwargs) -> None:
        super().__init__("emotion_node", **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self._p = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        check_values(self._p)
        pin_mmap_threshold()  # frame-sized buffers are unmapped when freed: RSS falls back after a 4K stream
        self.model_dir = resolve_model_dir(self._p["model_dir"])
        model = Model.load(
            self.model_dir, self._p["backend"], self._p["threads"], self.get_logger(), self._p["precision"]
        )
        self.engine = EmotionEngine(
            model,
            EngineSettings.from_values(self._p),
            now_ns=lambda: self.get_clock().now().nanoseconds,
            logger=self.get_logger(),
        )
        self._stats_lock = threading.Lock()  # latency lists: appended here, read by diagnostics
        self._latency_ms: deque[float] = deque(maxlen=2000)
        self._inference_ms: deque[float] = deque(maxlen=2000)
        self._rates = {"image": RateMeter(), "transcript": RateMeter(), "emotion": RateMeter()}
        self._vision_window: deque[tuple[float, int, int]] = deque()  # (monotonic, received, analysed)
        self._last_image_s = float("-inf")
        self._frames_since_trim = False

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        # Transcripts: reliable KEEP_ALL, so a burst is never overwritten in this reader's history. When its
        # resource limits are reached the reader stops acknowledging and the publisher keeps the rest (a
        # KEEP_ALL publisher: back-pressure, nothing lost) or overwrites them (KEEP_LAST): that is reported
        # by the message-lost event, counted as transcripts_lost and raised as ERROR in /diagnostics.
        transcript_qos = QoSProfile(
            depth=1, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE
        )
        reliable = QoSProfile(depth=self._p["transcript_queue_size"], reliability=ReliabilityPolicy.RELIABLE)
        image_qos = QoSProfile(
            depth=self._p["image_queue_size"],
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
            history=qos_profile_sensor_data.history,
        )
        self._pub = self.create_publisher(EmotionState, "emotion", reliable)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, "image", self._on_raw_image, image_qos, raw=True)
        if self._p["use_compressed"]:
            self.create_subscription(CompressedImage, "image/compressed", self._on_image, image_qos)
        self.create_subscription(
            Transcript,
            "transcript",
            self._on_transcript,
            transcript_qos,
            event_callbacks=SubscriptionEventCallbacks(message_lost=self._on_transcripts_lost),
        )
        self._release_timer = self.create_timer(RELEASE_PERIOD_S, self._release_held)  # while held
        self._release_timer.cancel()
        self.create_service(Trigger, "~/reset_context", self._on_reset_context)
        self.create_timer(1.0, self._publish_diagnostics)
        self._visual_timer = None
        self._make_visual_timer()
        self._vision_queue: queue.Queue[tuple[int, np.ndarray | Callable[[], np.ndarray]]] = queue.Queue(
            maxsize=1
        )
        self._vision_stop = threading.Event()
        self._vision_thread = threading.Thread(target=self._vision_loop, name="vision", daemon=True)
        self._vision_thread.start()
        self.get_logger().info(
            f"ready: model {model.name} on {model.backend.name} from {self.model_dir}; "
            f"topics {self.resolve_topic_name('image')}, {self.resolve_topic_name('transcript')} → "
            f"{self.resolve_topic_name('emotion')}"
        )

    # ---- parameters: declared in node_params, checked here and by the engine, applied live ------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        values = {p.name: p.value for p in params if p.name in SPECS}
        try:
            check_values(values)
            self.engine.check(values)
        except ValueError as err:
            return SetParametersResult(successful=False, reason=str(err))
        restart = sorted(n for n in values if not SPECS[n].live and values[n] != self._p[n])
        if restart:
            # rclpy drops the reason of a successful result, so a value that would not take effect
            # until a restart is refused (with how to change it) rather than accepted and ignored.
            return SetParametersResult(
                successful=False,
                reason=f"{', '.join(restart)} is read at start only; restart the node with the new value "
                "(e.g. ros2 launch ddvlm_ros emotion.launch.py or --ros-args -p name:=value)",
            )
        return SetParametersResult(successful=True)

    def _after_set_parameters(self, params: list[Parameter]) -> None:
        live = {p.name: p.value for p in params if p.name in SPECS and SPECS[p.name].live}
        self._p.update(live)
        self.engine.apply(live)
        if "visual_rate_hz" in live:
            self._make_visual_timer()
        for name, value in live.items():
            self.get_logger().info(f"parameter {name} = {value!r} applied")

    def _make_visual_timer(self) -> None:
        if self._visual_timer is not None:
            self.destroy_timer(self._visual_timer)
            self._visual_timer = None
        rate = self._p["visual_rate_hz"]
        if rate > 0:
            self._visual_timer = self.create_timer(1.0 / rate, self._on_visual_timer)

    # ---- images: the engine admits a frame here, the vision thread analyses it --------------------------
    def _on_image(self, msg: CompressedImage) -> None:
        self._rates["image"].tick()
        self._last_image_s = time.monotonic()
        frame = offer_frame(self.engine, msg, self._p["max_image_pixels"])
        if frame is not None:
            self._queue_frame(frame)

    def _on_raw_image(self, data: bytes) -> None:
        """A serialized sensor_msgs/Image: only its header is read here, and checked before any pixel is
        copied; an admitted frame's pixels are converted on the vision thread, so the executor never
        deserializes the frames the detection rate skips (a 4K frame costs tens of ms)."""
        self._rates["image"].tick()
        self._last_image_s = time.monotonic()
        try:
            header = raw_image_header(data, self._p["max_image_pixels"])
        except ImageError as err:
            self.engine.count("images_received")  # take_frame counts every frame that reaches it
            self._count_refused(err)
            return
        try:
            admitted = self.engine.take_frame(header.stamp_ns, lambda: data)
        except FrameRefused as err:
            self._count_refused(err)
            return
        if admitted is not None:
            self._queue_frame((header.stamp_ns, lambda: raw_image_to_bgr(data, header)))

    def _count_refused(self, err: ImageError | FrameRefused) -> None:
        self.engine.count(f"image_{err.reason}")
        self.engine.log.warning(f"image dropped ({err.reason}): {err}", key=f"image_{err.reason}")

    def _queue_frame(self, frame: tuple[int, np.ndarray | Callable[[], np.ndarray]]) -> None:
        # A queue of one: the vision thread always gets the newest admitted frame.
        try:
            self._vision_queue.put_nowait(frame)
        except queue.Full:
            try:
                self._vision_queue.get_nowait()
                self.engine.count("images_superseded_busy")
            except queue.Empty:
                pass
            self._vision_queue.put_nowait(frame)

    def _vision_loop(self) -> None:
        while not self._vision_stop.is_set():
            try:
                stamp, frame = self._vision_queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                image = frame() if callable(frame) else frame
            except Exception as err:  # its header was checked in _on_raw_image: not expected
                self.engine.count("image_error")
                self.engine.log.error(f"image conversion failed: {err!r}", key="image_conversion")
                image = np.zeros((1, 1, 3), np.uint8)  # analysed as faceless: frames up to stamp are done
            self.engine.analyse_frame(stamp, image)
            del frame, image  # a 4K frame is 24 MiB: not kept until the next one arrives

    # ---- transcripts: the critical path -------------------------------------------------------------
    def _on_transcript(self, msg: Transcript) -> None:
        self._rates["transcript"].tick()
        self._publish(self.engine.submit(utterance(msg)))
        if self.engine.held and self._release_timer.is_canceled():
            self._release_timer.reset()

    def _on_transcripts_lost(self, info: QoSMessageLostInfo) -> None:
        """The middleware saw transcripts that never reached this reader (their publisher dropped them)."""
        self.engine.count("transcripts_lost", info.total_count_change)
        self.get_logger().error(
            f"{info.total_count_change} transcript(s) lost before reaching the node ({info.total_count} in "
            "total): their publisher overwrote them while this reader was full; use a KEEP_ALL publisher "
            "or a deeper history"
        )

    def _release_held(self) -> None:
        self._publish(self.engine.release())
        if not self.engine.held:
            self._release_timer.cancel()

    def _publish(self, answers: list[Answer]) -> None:
        """Publish the EmotionResults (Unanswered ones were counted and logged by the engine)."""
        for answer in answers:
            if not isinstance(answer, EmotionResult):
                continue
            self._pub.publish(emotion_state(answer))
            self._rates["emotion"].tick()
            self.engine.count("emotions_published")
            with self._stats_lock:
                self._latency_ms.append((time.monotonic() - answer.received_s) * 1000.0)
                self._inference_ms.append(answer.inference_ms)

    def _on_visual_timer(self) -> None:
        result = self.engine.visual_only()
        if result is not None:
            self._pub.publish(emotion_state(result))
            self.engine.count("visual_only_published")

    # ---- services, diagnostics, shutdown --------------------------------------------------------------
    def _on_reset_context(self, _request, response):
        n = self.engine.reset_context()
        response.success = True
        response.message = f"cleared the dialogue context of {n} conversation(s)"
        self.get_logger().info(response.message)
        return response

    def _publish_diagnostics(self) -> None:
        engine = self.engine.status()
        counts = engine.counts
        with self._stats_lock:
            lat = np.array(self._latency_ms) if self._latency_ms else None
            inf = np.array(self._inference_ms) if self._inference_ms else None
        drops = {k: v for k, v in counts.items() if k.startswith(("unanswered_", "image_"))}
        backend = self.engine.model.backend.name
        status = DiagnosticStatus(name=f"{self.get_name()}: emotion", hardware_id=backend)
        lost = counts.get("transcripts_lost", 0)
        unanswered = any(k.startswith("unanswered_") for k in drops)
        vision = self._vision_rates(counts)
        problems = []
        if lost:
            problems.append(f"{lost} transcript(s) lost in transport")
        if unanswered:
            problems.append("some transcripts were not answered")
        if vision["state"] == "behind":
            problems.append(
                f"vision falls behind: {vision['analysed_hz']:.1f} Hz analysed of "
                f"{vision['due_hz']:.1f} Hz due (face_detection_rate_hz {vision['requested_hz']:g})"
            )
        status.level = (
            DiagnosticStatus.ERROR if lost else DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        )
        status.message = "; ".join(problems) if problems else "ok"
        self._release_memory_after_stream()
        values = {
            "backend": backend,
            "model": self.engine.model.name,
            "model_dir": str(self.model_dir),
            "latency_p50_ms": f"{np.percentile(lat, 50):.2f}" if lat is not None else "n/a",
            "latency_p95_ms": f"{np.percentile(lat, 95):.2f}" if lat is not None else "n/a",
            "inference_p50_ms": f"{np.percentile(inf, 50):.2f}" if inf is not None else "n/a",
            "image_rate_hz": f"{self._rates['image'].take():.1f}",
            "transcript_rate_hz": f"{self._rates['transcript'].take():.1f}",
            "emotion_rate_hz": f"{self._rates['emotion'].take():.1f}",
            "frame_buffer_depth": str(engine.frame_buffer_depth),
            "conversations": str(engine.conversations),
            "drops_total": str(sum(drops.values()) + lost),
            "vision": vision["state"],
            "face_analysis_rate_hz": f"{vision['analysed_hz']:.2f}",
            "face_analysis_due_hz": f"{vision['due_hz']:.2f}",
        }
        values.update({f"count.{k}": str(v) for k, v in sorted(counts.items())})
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def _vision_rates(self, counts: dict[str, int]) -> dict:
        """Frames analysed per second vs those due (face_detection_rate_hz, at most the stream's rate)
        over the last VISION_WINDOW_S; state is idle (no stream or rate 0), ok or behind."""
        now = time.monotonic()
        window = self._vision_window
        window.append((now, counts.get("images_received", 0), counts.get("images_analysed", 0)))
        while len(window) > 2 and now - window[1][0] >= VISION_WINDOW_S:
            window.popleft()
        requested = float(self._p["face_detection_rate_hz"])
        t0, received0, analysed0 = window[0]
        span = now - t0
        image_hz = (window[-1][1] - received0) / span if span > 0 else 0.0
        analysed_hz = (window[-1][2] - analysed0) / span if span > 0 else 0.0
        due = min(requested, image_hz)
        state = "idle"
        if requested > 0 and image_hz > 0 and span >= 0.8 * VISION_WINDOW_S:
            state = "behind" if analysed_hz < VISION_BEHIND_RATIO * due else "ok"
        return {"state": state, "analysed_hz": analysed_hz, "due_hz": due, "requested_hz": requested}

    def _release_memory_after_stream(self) -> None:
        """Once the image stream has stopped, hand freed frame buffers back to the OS (once per stop)."""
        if time.monotonic() - self._last_image_s < STREAM_STOPPED_S:
            self._frames_since_trim = True
        elif self._frames_since_trim:
            self._frames_since_trim = False
            if release_free_memory():
                self.engine.count("memory_released_after_stream")

    def destroy_node(self) -> None:
        """Answer held transcripts with the frames there are, then stop the vision thread before the
        node's handles go away."""
        if self.engine.held:
            self.get_logger().info(f"answering {self.engine.held} held transcript(s) before shutting down")
            self._publish(self.engine.flush())
        self._vision_stop.set()
        if self._vision_thread.is_alive():
            self._vision_thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the emotion_node executable.

    SIGINT/SIGTERM only set a flag: rclpy's own handler would shut the context down while the vision
    thread may still be working, so shutdown is done here, in order: stop dispatching, destroy the node
    (which stops the vision thread), shut rclpy down.
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = EmotionNode()
    except (FileNotFoundError, ValueError, ModelError, BackendUnavailable) as err:
        rclpy.logging.get_logger("emotion_node").fatal(f"cannot start: {err}")
        rclpy.try_shutdown()
        return 1
    # Single-threaded on purpose: every callback is short (face analysis runs on the vision thread), and
    # rclpy's multi-threaded executor re-polls subscriptions whose callbacks are still queued, costing
    # CPU and GIL time that the transcript path needs.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    finally:
        node.get_logger().info("shutting down")
        executor.shutdown(timeout_sec=10.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
