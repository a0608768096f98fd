"""emotion_node: the ROS adapter around EmotionEngine (ddvlm_ros/engine.py).

Parameters, subscriptions and publishers, the vision thread, diagnostics. What an answer is, which
frames it uses and when a transcript waits for its trailing frames is the engine's business; messages
are converted in ddvlm_ros/conversions.py. Face analysis runs on the vision thread (newest selected
frame first), so on the transcript path only text encoding and fusion remain.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import QoSMessageLostInfo, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros import node_qos
from ddvlm_ros.conversions import emotion_state, offer_frame, offer_raw_frame, utterance
from ddvlm_ros.engine import Answer, EmotionEngine, EmotionResult, EngineSettings, Model
from ddvlm_ros.memory import pin_mmap_threshold, release_free_memory
from ddvlm_ros.node_diagnostics import NodeStats
from ddvlm_ros.node_params import PARAMS, SPECS, check_values
from ddvlm_ros.node_runner import run
from ddvlm_ros.runtime_model import resolve_model_dir

RELEASE_PERIOD_S = 0.01  # how often held transcripts are checked while some are held
SPEECH_FIRST_MAX_WAIT_S = 0.1  # longest a face analysis waits for a transcript being answered


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
            self.model_dir,
            self._p["backend"],
            self._p["threads"],
            self.get_logger(),
            self._p["precision"],
            self._p["face_detector"],
        )
        self.engine = EmotionEngine(
            model,
            EngineSettings.from_values(self._p),
            now_ns=lambda: self.get_clock().now().nanoseconds,
            logger=self.get_logger(),
        )
        self._stats = NodeStats()

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        image_qos = node_qos.image_qos(self._p["image_queue_size"])
        self._pub = self.create_publisher(
            EmotionState, "emotion", node_qos.emotion_qos(self._p["transcript_queue_size"])
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(Image, "image", self._on_raw_image, image_qos, raw=True)
        if self._p["use_compressed"]:
            self.create_subscription(CompressedImage, "image/compressed", self._on_image, image_qos)
        self.create_subscription(
            Transcript,
            "transcript",
            self._on_transcript,
            node_qos.transcript_qos(),
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
        self._answering = threading.Event()  # set while a transcript is answered: vision waits to start
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
        self._stats.image_arrived()
        frame = offer_frame(self.engine, msg, self._p["max_image_pixels"])
        if frame is not None:
            self._queue_frame(frame)

    def _on_raw_image(self, data: bytes) -> None:
        """A serialized sensor_msgs/Image (raw subscription): the executor reads only its header."""
        self._stats.image_arrived()
        frame = offer_raw_frame(self.engine, data, self._p["max_image_pixels"])
        if frame is not None:
            self._queue_frame(frame)

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
            # Speech first: a face analysis (~0.1-0.2 s of CPU) does not start while a transcript is answered.
            deadline = time.monotonic() + SPEECH_FIRST_MAX_WAIT_S
            while self._answering.is_set() and time.monotonic() < deadline and not self._vision_stop.is_set():
                time.sleep(0.002)
            try:
                image = frame() if callable(frame) else frame
            except Exception as err:  # its header was checked in offer_raw_frame: not expected
                self.engine.count("image_error")
                self.engine.log.error(f"image conversion failed: {err!r}", key="image_conversion")
                image = np.zeros((1, 1, 3), np.uint8)  # analysed as faceless: frames up to stamp are done
            self.engine.analyse_frame(stamp, image)
            del frame, image  # a 4K frame is 24 MiB: not kept until the next one arrives

    # ---- transcripts: the critical path -------------------------------------------------------------
    def _on_transcript(self, msg: Transcript) -> None:
        self._stats.transcript_arrived()
        self._answering.set()
        try:
            self._publish(self.engine.submit(utterance(msg)))
        finally:
            self._answering.clear()
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
            self.engine.count("emotions_published")
            self._stats.answered(answer)

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
        if self._stats.stream_just_stopped() and release_free_memory():
            self.engine.count("memory_released_after_stream")  # freed frame buffers back to the OS
        status = self._stats.status(
            self.get_name(), self.engine, str(self.model_dir), self._p["face_detection_rate_hz"]
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

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
    """Entry point of the emotion_node executable."""
    return run(EmotionNode, args)


if __name__ == "__main__":
    sys.exit(main())
