"""emotion_node as a managed (lifecycle) node: the same adapter as emotion_node.py, in lifecycle steps.

- constructor: parameters declared (and validated in the set-parameters callback), nothing loaded;
- configure: the model is loaded, the engine built and the vision process started (without image
  subscriptions); publishers, diagnostics and ~/reset_context;
- activate: the transcript subscription here and the image subscriptions in the vision process (both
  created on the first activation) answer;
- deactivate: transcripts and frames still arrive but are not answered, counted as
  transcripts_ignored_inactive / images_ignored_inactive in /diagnostics;
- cleanup (and shutdown): subscriptions, timers and the vision process go, the model is freed.

The callbacks themselves are EmotionNode's (one implementation of the adapter): this class borrows them
and supplies the state they use once configured.
"""

from __future__ import annotations

import gc
import sys

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from std_srvs.srv import Trigger

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros import emotion_node as adapter
from ddvlm_ros import node_qos
from ddvlm_ros.backends import BackendUnavailable, ModelError
from ddvlm_ros.engine import EmotionEngine, EngineSettings, Model
from ddvlm_ros.memory import release_free_memory
from ddvlm_ros.node_diagnostics import NodeStats
from ddvlm_ros.node_params import PARAMS, check_values
from ddvlm_ros.node_runner import run
from ddvlm_ros.runtime_model import resolve_model_dir
from ddvlm_ros.vision_link import VisionLink

# EmotionNode methods that only use the state set up in on_configure (no super() calls inside)
_BORROWED = (
    "_on_set_parameters",
    "_after_set_parameters",
    "_make_visual_timer",
    "_on_transcripts_lost",
    "_release_held",
    "_publish",
    "_on_reset_context",
    "_publish_diagnostics",
)


class LifecycleEmotionNode(LifecycleNode):
    """See the module docstring for what each transition does."""

    def __init__(self, **kwargs) -> None:
        super().__init__("emotion_node", **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self._p = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        check_values(self._p)
        self.engine: EmotionEngine | None = None
        self._active = False
        self._ignored = {"transcripts_ignored_inactive": 0, "images_ignored_inactive": 0}
        self._subscriptions_made: list = []
        self._configured_handles: list = []
        self.add_on_set_parameters_callback(self._on_set_parameters_any_state)
        self.add_post_set_parameters_callback(self._after_set_parameters_any_state)

    # ---- parameters: validated in every state; the engine checks and applies them once it exists ------
    def _on_set_parameters_any_state(self, params):
        if self.engine is None:
            from rcl_interfaces.msg import SetParametersResult

            values = {p.name: p.value for p in params if p.name in self._p}
            try:
                check_values(values)
            except ValueError as err:
                return SetParametersResult(successful=False, reason=str(err))
            return SetParametersResult(successful=True)
        return self._on_set_parameters(params)

    def _after_set_parameters_any_state(self, params) -> None:
        if self.engine is None:
            self._p.update({p.name: p.value for p in params if p.name in self._p})
            return
        self._after_set_parameters(params)

    # ---- transitions ------------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        self._stats = NodeStats()
        vision = None
        try:
            self.model_dir = resolve_model_dir(self._p["model_dir"])
            p = self._p
            vision = VisionLink(
                adapter.vision_config(self, p, str(self.model_dir), active=False),
                self.get_logger(),
                self._stats.image_arrived,
            )
            vision.start()
            model = Model.load(
                self.model_dir,
                p["backend"],
                p["threads"],
                self.get_logger(),
                p["precision"],
                None,  # no detector here: frames are analysed in the vision process
            )
            self.engine = EmotionEngine(
                model,
                EngineSettings.from_values(self._p),
                now_ns=lambda: self.get_clock().now().nanoseconds,
                logger=self.get_logger(),
            )
            vision.attach(self.engine)
            vision.wait_ready()
        except (FileNotFoundError, ValueError, ModelError, BackendUnavailable) as err:
            if vision is not None:
                vision.stop()
            self.engine = None
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        self._vision = vision
        for name, count in self._ignored.items():
            if count:
                self.engine.count(name, count)
        self._pub = self.create_publisher(
            EmotionState, "emotion", node_qos.emotion_qos(self._p["transcript_queue_size"])
        )
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._release_timer = self.create_timer(adapter.RELEASE_PERIOD_S, self._release_held)
        self._release_timer.cancel()
        self._visual_timer = None
        self._configured_handles = [
            self._pub,
            self._diag_pub,
            self._release_timer,
            self.create_service(Trigger, "~/reset_context", self._on_reset_context),
            self.create_timer(1.0, self._publish_diagnostics),
        ]
        self.get_logger().info(
            f"configured: model {model.name} on {model.backend.name} from {self.model_dir}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if not self._subscriptions_made:
            self._make_subscriptions()
        self._vision.set_active(True)
        self._make_visual_timer()
        self._active = True
        self.get_logger().info(
            f"active: {self.resolve_topic_name('image')}, {self.resolve_topic_name('transcript')} → "
            f"{self.resolve_topic_name('emotion')}"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._active = False
        self._vision.set_active(False)
        if self._visual_timer is not None:
            self.destroy_timer(self._visual_timer)
            self._visual_timer = None
        if self.engine is not None and self.engine.held:
            self._publish(self.engine.flush())  # what was accepted while active is still answered
        self.get_logger().info("inactive: transcripts and images are counted, not answered")
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._teardown()
        self.get_logger().info("cleaned up: model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._active = False
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def _make_subscriptions(self) -> None:
        subs = [
            self.create_subscription(
                Transcript,
                "transcript",
                self._gate_transcript,
                node_qos.transcript_qos(),
                event_callbacks=SubscriptionEventCallbacks(message_lost=self._on_transcripts_lost),
            ),
        ]
        self._subscriptions_made = subs

    def _teardown(self) -> None:
        for sub in self._subscriptions_made:
            self.destroy_subscription(sub)
        self._subscriptions_made = []
        if getattr(self, "_visual_timer", None) is not None:
            self.destroy_timer(self._visual_timer)
            self._visual_timer = None
        if self.engine is None:
            return
        if self.engine.held:
            self._publish(self.engine.flush())
        self._vision.stop()
        for handle in self._configured_handles:
            if hasattr(handle, "timer_period_ns"):
                self.destroy_timer(handle)
            elif hasattr(handle, "srv_type"):
                self.destroy_service(handle)
            else:
                self.destroy_publisher(handle)
        self._configured_handles = []
        self._ignored = {name: self.engine.counts.get(name, 0) for name in self._ignored}
        self.engine = None
        gc.collect()
        release_free_memory()

    # ---- gates: answer only while active ----------------------------------------------------------
    def _ignore(self, name: str) -> bool:
        if self._active and self.engine is not None:
            return False
        if self.engine is not None:
            self.engine.count(name)
        else:
            self._ignored[name] += 1
        return True

    def _gate_transcript(self, msg: Transcript) -> None:
        if not self._ignore("transcripts_ignored_inactive"):
            self._on_transcript(msg)

    def _on_transcript(self, msg: Transcript) -> None:
        adapter.EmotionNode._on_transcript(self, msg)

    def _on_visual_timer(self) -> None:
        if self._active:  # no visual-only answers while inactive either
            adapter.EmotionNode._on_visual_timer(self)


for _name in _BORROWED:
    setattr(LifecycleEmotionNode, _name, getattr(adapter.EmotionNode, _name))


def main(args: list[str] | None = None) -> int:
    """Entry point of emotion_lifecycle_node: starts unconfigured; `ros2 lifecycle set` (or the launch
    file's autostart) moves it on. SIGINT/SIGTERM end it cleanly, as emotion_node's main does."""
    return run(LifecycleEmotionNode, args, before_destroy=_stop_answering)


def _stop_answering(node: LifecycleEmotionNode) -> None:
    node._active = False
    node._teardown()


if __name__ == "__main__":
    sys.exit(main())
