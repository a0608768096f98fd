"""emotion_node: the ROS adapter around EmotionEngine (ddvlm_ros/engine.py).

Parameters, the transcript subscription and publishers, diagnostics. What an answer is, which frames
it uses and when a transcript waits for its trailing frames is the engine's business; messages are
converted in ddvlm_ros/conversions.py. Images are subscribed to and analysed in the node's vision
process (ddvlm_ros/vision_process.py, linked by ddvlm_ros/vision_link.py), so this process does only
the transcript path: text encoding and fusion.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import QoSMessageLostInfo, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros import node_qos
from ddvlm_ros.conversions import emotion_state, utterance
from ddvlm_ros.engine import Answer, EmotionEngine, EmotionResult, EngineSettings, Model
from ddvlm_ros.node_diagnostics import NodeStats
from ddvlm_ros.node_params import PARAMS, SPECS, check_values
from ddvlm_ros.node_runner import run
from ddvlm_ros.runtime_model import resolve_model_dir
from ddvlm_ros.vision_link import VisionLink
from ddvlm_ros.vision_process import VisionConfig

RELEASE_PERIOD_S = 0.01  # how often held transcripts are checked while some are held


def vision_config(node: Node, p: dict, model_dir: str, active: bool) -> VisionConfig:
    """The vision process's share of the node's parameters, with the node's resolved topic names."""
    return VisionConfig(
        node_name=node.get_name(),
        namespace=node.get_namespace(),
        image_topic=node.resolve_topic_name("image"),
        compressed_topic=node.resolve_topic_name("image/compressed") if p["use_compressed"] else None,
        use_sim_time=bool(node.get_parameter("use_sim_time").value),
        model_dir=model_dir,
        backend=p["backend"],
        precision=p["precision"],
        face_detector=p["face_detector"],
        image_queue_size=p["image_queue_size"],
        face_detection_rate_hz=p["face_detection_rate_hz"],
        max_future_s=p["max_future_s"],
        max_image_pixels=p["max_image_pixels"],
        nice=p["vision_process_nice"],
        active=active,
    )


class EmotionNode(Node):
    """The ROS node; see README for topics, parameters and diagnostics."""

    def __init__(self, **kwargs) -> None:
        super().__init__("emotion_node", **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self._p = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        check_values(self._p)
        self.model_dir = resolve_model_dir(self._p["model_dir"])
        self._stats = NodeStats()
        self._vision = VisionLink(
            vision_config(self, self._p, str(self.model_dir), active=True),
            self.get_logger(),
            self._stats.image_arrived,
        )
        self._vision.start()  # loads its model while this process loads its own
        try:
            model = Model.load(
                self.model_dir,
                self._p["backend"],
                self._p["threads"],
                self.get_logger(),
                self._p["precision"],
                None,  # no detector here: frames are analysed in the vision process
            )
            self.engine = EmotionEngine(
                model,
                EngineSettings.from_values(self._p),
                now_ns=lambda: self.get_clock().now().nanoseconds,
                logger=self.get_logger(),
            )
        except Exception:
            self._vision.stop()
            raise
        self._vision.attach(self.engine)
        self._vision.wait_ready()

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        self._pub = self.create_publisher(
            EmotionState, "emotion", node_qos.emotion_qos(self._p["transcript_queue_size"])
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
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
        self._vision.apply(live)
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

    # ---- transcripts: the critical path -------------------------------------------------------------
    def _on_transcript(self, msg: Transcript) -> None:
        self._stats.transcript_arrived()
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
        status = self._stats.status(
            self.get_name(), self.engine, str(self.model_dir), self._p["face_detection_rate_hz"], self._vision
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        """Answer held transcripts with the frames there are, then stop the vision process before the
        node's handles go away."""
        if self.engine.held:
            self.get_logger().info(f"answering {self.engine.held} held transcript(s) before shutting down")
            self._publish(self.engine.flush())
        self._vision.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of the emotion_node executable."""
    return run(EmotionNode, args)


if __name__ == "__main__":
    sys.exit(main())
