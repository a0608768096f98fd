"""emotion_node: images + final transcripts in, one ddvlm_msgs/EmotionState per final transcript out.

Visual work (face detection + face features) runs as frames arrive, on a vision thread fed with the
newest selected frame, and lands in a bounded time-indexed buffer; at the end of an utterance only
text encoding and fusion are on the critical path. Every final transcript is answered once, or its
reason is logged and counted. With trailing_frames_wait_s > 0 and a streaming camera, a transcript is
held (in arrival order) until the frames up to the end of its window are analysed, or that wait is up.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path
from typing import NamedTuple

import cv2
import message_filters
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.alignment import (
    AddResult,
    DialogueContext,
    FrameBuffer,
    pick_evenly,
    seconds_to_ns,
    utterance_window,
)
from ddvlm_ros.backends import BACKENDS, BackendUnavailable, ModelError, load_backend
from ddvlm_ros.image_input import ImageError, compressed_to_bgr, image_to_bgr
from ddvlm_ros.labels import LABELS, valence_arousal
from ddvlm_ros.node_params import PARAMS, SPECS
from ddvlm_ros.preprocessing import FaceDetector, TextTokenizer, Turn, face_crops

DEFAULT_MODEL = "models/ddvlm-meld-v1"
TIME_JUMP_BACK_NS = 1_000_000_000  # an image this much older than the last one means the clock restarted
STREAMING_S = 1.0  # frames arrived within this wall time: the camera is streaming, trailing frames will come
RELEASE_PERIOD_S = 0.01  # how often held transcripts are checked while some are held


class HeldTranscript(NamedTuple):
    """A final transcript waiting for its trailing frames (trailing_frames_wait_s)."""

    msg: Transcript
    received: float  # time.perf_counter() at reception: latency counts the wait
    deadline: float  # time.monotonic() after which it is answered with the frames there are
    window_end_ns: int | None  # answered once frames up to this stamp are analysed; None: behind others


class Unanswered(Exception):
    """A final transcript that gets no EmotionState; reason is the counter name."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-D logit vector, float64."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    z = np.exp(z - z.max())
    return z / z.sum()


def stamp_ns(t) -> int:
    """builtin_interfaces/Time → integer nanoseconds."""
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def resolve_model_dir(value: str) -> Path:
    """'' → the installed package's default model; anything else is used as given."""
    if value:
        return Path(value).expanduser()
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("ddvlm_ros")) / DEFAULT_MODEL


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

    def __init__(self, inline_vision: bool = False, **kwargs) -> None:
        """inline_vision: analyse faces in the image callback itself, not on the vision thread (for
        in-process replay, where every frame must be analysed before the next message is fed)."""
        super().__init__("emotion_node", **kwargs)
        self._inline_vision = inline_vision
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self._p = {spec.name: self.get_parameter(spec.name).value for spec in PARAMS}
        self._check_values(self._p)
        self._lock = threading.Lock()  # frame buffer, counters, latency list
        self.counts: Counter[str] = Counter()
        self._latency_ms: deque[float] = deque(maxlen=2000)
        self._inference_ms: deque[float] = deque(maxlen=2000)
        self._rates = {"image": RateMeter(), "transcript": RateMeter(), "emotion": RateMeter()}

        self._load_model()
        self._frames: FrameBuffer[np.ndarray] = FrameBuffer(
            self._p["frame_buffer_size"], seconds_to_ns(self._p["frame_buffer_age_s"])
        )
        self._dialogue: DialogueContext[Turn] = DialogueContext(
            self._p["context_turns"],
            seconds_to_ns(self._p["conversation_idle_timeout_s"]),
            self._p["max_conversations"],
        )
        self._last_image_ns: int | None = None
        self._last_detect_ns: int | None = None
        self._last_speech_mono = 0.0
        self._last_visual_only_ns = 0
        self._last_transcript_ns: dict[str, int] = {}
        self._frames_done_ns = 0  # newest frame stamp analysed or skipped by the detection rate
        self._last_frame_mono = float("-inf")
        self._held: deque[HeldTranscript] = deque()

        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._after_set_parameters)

        self._vision_group = MutuallyExclusiveCallbackGroup()
        self._speech_group = MutuallyExclusiveCallbackGroup()
        self._diag_group = MutuallyExclusiveCallbackGroup()
        depth = self._p["transcript_queue_size"]
        reliable = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        image_qos = QoSProfile(
            depth=self._p["image_queue_size"],
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
            history=qos_profile_sensor_data.history,
        )
        self._pub = self.create_publisher(EmotionState, "emotion", reliable)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # message_filters subscribers (upstream API), so the inputs can be chained into other filters.
        self._image_sub = message_filters.Subscriber(
            self, Image, "image", qos_profile=image_qos, callback_group=self._vision_group
        )
        self._image_sub.registerCallback(self.on_image)
        if self._p["use_compressed"]:
            self._compressed_sub = message_filters.Subscriber(
                self,
                CompressedImage,
                "image/compressed",
                qos_profile=image_qos,
                callback_group=self._vision_group,
            )
            self._compressed_sub.registerCallback(self.on_compressed_image)
        self._transcript_sub = message_filters.Subscriber(
            self, Transcript, "transcript", qos_profile=reliable, callback_group=self._speech_group
        )
        self._transcript_sub.registerCallback(self._on_transcript)
        # Runs only while transcripts are held; same group as transcripts, so answers stay in order.
        self._release_timer = self.create_timer(
            RELEASE_PERIOD_S, self._release_held, callback_group=self._speech_group
        )
        self._release_timer.cancel()
        self.create_service(
            Trigger, "~/reset_context", self._on_reset_context, callback_group=self._speech_group
        )
        self.create_timer(1.0, self._publish_diagnostics, callback_group=self._diag_group)
        self._visual_timer = None
        self._make_visual_timer()
        self._vision_queue: queue.Queue[tuple[int, np.ndarray]] = queue.Queue(maxsize=1)
        self._vision_stop = threading.Event()
        self._vision_thread = threading.Thread(target=self._vision_loop, name="vision", daemon=True)
        if not inline_vision:
            self._vision_thread.start()
        self.get_logger().info(
            f"ready: model {self._model_name} on {self.backend.name} from {self.model_dir}; "
            f"topics {self.resolve_topic_name('image')}, {self.resolve_topic_name('transcript')} → "
            f"{self.resolve_topic_name('emotion')}"
        )

    # ---- start-up -----------------------------------------------------------------------------
    def _load_model(self) -> None:
        """Load backend, tokenizer and face detector; raises FileNotFoundError naming the path."""
        self.model_dir = resolve_model_dir(self._p["model_dir"])
        meta = self.model_dir / "metadata.json"
        if not meta.is_file():
            raise FileNotFoundError(
                f"model not found: {meta} does not exist (parameter model_dir={self._p['model_dir']!r})"
            )
        cv2.setNumThreads(self._p["threads"])
        self.backend = load_backend(
            self.model_dir, backend=self._p["backend"], threads=self._p["threads"], logger=self.get_logger()
        )
        md = self.backend.metadata
        if tuple(md.get("labels", LABELS)) != LABELS:
            raise ValueError(f"model labels {md.get('labels')} differ from {LABELS}")
        self._model_name = f"{md.get('name', self.model_dir.name)}/{md.get('version', '?')}"
        self._max_frames = int(md.get("max_frames", 8))
        self._face_size = int(md.get("face_size", 64))
        tok_dir = self.model_dir / "tokenizer"
        self.tokenizer = TextTokenizer(tok_dir, max_length=int(md.get("max_length", 128)))
        self.detector = FaceDetector()
        if self._p["frames_per_utterance"] > self._max_frames:
            raise ValueError(
                f"frames_per_utterance={self._p['frames_per_utterance']} exceeds the model's "
                f"max_frames={self._max_frames}"
            )
        self._warm_up()

    def _warm_up(self) -> None:
        """One pass through every graph so the first utterance does not pay session start-up costs."""
        ids, mask = self.tokenizer.encode_dialogue(Turn("", "hello"), [], 0)
        tf, _ = self.backend.encode_text(ids, mask)
        ff = self.backend.encode_faces(np.zeros((1, 1, self._face_size, self._face_size), np.float32))
        self._dv = int(ff.shape[-1])
        self.backend.fuse(
            tf,
            np.ones((1,), np.float32),
            np.zeros((1, self._max_frames, self._dv), np.float32),
            np.zeros((1, self._max_frames), np.float32),
        )

    # ---- parameters ---------------------------------------------------------------------------
    def _check_values(self, values: dict) -> None:
        """Checks beyond the descriptor ranges; raises ValueError with the reason."""
        if "backend" in values and values["backend"] not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {values['backend']!r}")
        if "model_dir" in values and values["model_dir"]:
            meta = Path(values["model_dir"]).expanduser() / "metadata.json"
            if not meta.is_file():
                raise ValueError(f"model_dir: {meta} does not exist")
        if "frames_per_utterance" in values and hasattr(self, "_max_frames"):
            if values["frames_per_utterance"] > self._max_frames:
                raise ValueError(f"frames_per_utterance must be <= the model's max_frames={self._max_frames}")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        values = {p.name: p.value for p in params if p.name in SPECS}
        try:
            self._check_values(values)
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
        for p in params:
            if p.name not in SPECS or not SPECS[p.name].live:
                continue
            with self._lock:
                self._p[p.name] = p.value
                if p.name == "context_turns":
                    self._dialogue.set_max_turns(p.value)
                elif p.name == "conversation_idle_timeout_s":
                    self._dialogue.idle_timeout_ns = seconds_to_ns(p.value)
            if p.name == "visual_rate_hz":
                self._make_visual_timer()
            self.get_logger().info(f"parameter {p.name} = {p.value!r} applied")

    def _make_visual_timer(self) -> None:
        if self._visual_timer is not None:
            self.destroy_timer(self._visual_timer)
            self._visual_timer = None
        rate = self._p["visual_rate_hz"]
        if rate > 0:
            self._visual_timer = self.create_timer(
                1.0 / rate, self._on_visual_timer, callback_group=self._speech_group
            )

    # ---- counters -----------------------------------------------------------------------------
    def _count(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.counts[reason] += n

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # ---- images: visual work as frames arrive --------------------------------------------------
    def on_image(self, msg: Image) -> None:
        """Take one camera frame (the image subscription's callback; public for in-process replay)."""
        self._handle_frame(msg, image_to_bgr)

    def on_compressed_image(self, msg: CompressedImage) -> None:
        """Take one jpeg/png frame (image/compressed callback; public for in-process replay)."""
        self._handle_frame(msg, compressed_to_bgr)

    def _handle_frame(self, msg, convert) -> None:
        self._rates["image"].tick()
        self._last_frame_mono = time.monotonic()
        self._count("images_received")
        try:
            self._process_frame(msg, convert)
        except ImageError as err:
            self._count(f"image_{err.reason}")
            self.get_logger().warn(f"image dropped ({err.reason}): {err}", throttle_duration_sec=5.0)
        except Exception as err:  # never let one frame kill the node
            self._count("image_error")
            self.get_logger().error(f"image processing failed: {err!r}", throttle_duration_sec=5.0)

    def _process_frame(self, msg, convert) -> None:
        t = stamp_ns(msg.header.stamp)
        now = self._now_ns()
        if now > 0 and t - now > seconds_to_ns(self._p["max_future_s"]):
            raise ImageError(
                "future_stamp", f"stamp {t / 1e9:.3f} s is {(t - now) / 1e9:.3f} s in the future"
            )
        if self._last_image_ns is not None and t <= self._last_image_ns:
            if self._last_image_ns - t > TIME_JUMP_BACK_NS:
                self.get_logger().warn("image stamps jumped back; clearing the frame buffer")
                self._count("image_time_jump_back")
                with self._lock:
                    self._frames.clear()
                self._last_detect_ns = None
            else:
                raise ImageError("out_of_order", f"stamp {t} is not after the previous {self._last_image_ns}")
        self._last_image_ns = t
        rate = self._p["face_detection_rate_hz"]
        if rate <= 0:
            self._frame_done(t)
            return
        if self._last_detect_ns is not None and t - self._last_detect_ns < 1e9 / rate:
            self._count("images_not_analysed_rate")
            self._frame_done(t)
            return
        image = convert(msg, self._p["max_image_pixels"])  # validates before any work is done
        self._last_detect_ns = t
        if self._inline_vision:
            self._analyse(t, image)
            self._frame_done(t)
            return
        # Hand over to the vision thread: executor callbacks stay short (a long one makes rclpy's
        # executor spin on the still-ready subscription and starve the transcript path of the GIL).
        try:
            self._vision_queue.put_nowait((t, image))
        except queue.Full:
            try:
                self._vision_queue.get_nowait()
                self._count("images_superseded_busy")
            except queue.Empty:
                pass
            self._vision_queue.put_nowait((t, image))

    def _vision_loop(self) -> None:
        """Face detection + face features for the frames picked by _process_frame, newest first."""
        while not self._vision_stop.is_set():
            try:
                t, image = self._vision_queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._analyse(t, image)
            except Exception as err:  # never let one frame kill the node
                self._count("image_error")
                self.get_logger().error(f"face analysis failed: {err!r}", throttle_duration_sec=5.0)
            self._frame_done(t)

    def _frame_done(self, t: int) -> None:
        """Frames up to stamp t are in the buffer (or were not to be analysed): held transcripts whose
        window ends by t can be answered."""
        with self._lock:
            self._frames_done_ns = max(self._frames_done_ns, t)

    def _analyse(self, t: int, image: np.ndarray) -> None:
        crops = face_crops(image, self.detector, max_faces=1, size=self._face_size)
        self._count("images_analysed")
        if not crops:
            self._count("images_without_face")
            return
        features = self.backend.encode_faces(np.stack(crops)[:, None].astype(np.float32))
        with self._lock:
            result = self._frames.add(t, features[0].astype(np.float32))
        if result is not AddResult.OK:
            self._count(f"face_{result.value}")

    def destroy_node(self) -> None:
        """Answer held transcripts with the frames there are, then stop the vision thread before the
        node's handles go away."""
        if self._held:
            self.get_logger().info(f"answering {len(self._held)} held transcript(s) before shutting down")
            while self._held:
                held = self._held.popleft()
                self._answer_and_publish(held.msg, held.received)
        self._vision_stop.set()
        if self._vision_thread.is_alive():
            self._vision_thread.join(timeout=5.0)
        super().destroy_node()

    # ---- transcripts: the critical path ---------------------------------------------------------
    def _on_transcript(self, msg: Transcript) -> None:
        received = time.perf_counter()
        wait_s = self._p["trailing_frames_wait_s"]
        window_end = self._trailing_window_end(msg) if wait_s > 0 else None
        if window_end is not None or self._held:  # behind held ones, so answers keep their order
            self._held.append(HeldTranscript(msg, received, time.monotonic() + wait_s, window_end))
            if self._release_timer.is_canceled():
                self._release_timer.reset()
            return
        self._answer_and_publish(msg, received)

    def _trailing_window_end(self, msg: Transcript) -> int | None:
        """End of the utterance's frame window when frames up to it are still to come, else None."""
        end = stamp_ns(msg.header.stamp)
        if not msg.is_final or end <= 0 or self._p["face_detection_rate_hz"] <= 0:
            return None
        if time.monotonic() - self._last_frame_mono > STREAMING_S:
            return None  # no camera stream: nothing to wait for
        window_end = self.frame_window(msg)[1]
        with self._lock:
            return window_end if self._frames_done_ns < window_end else None

    def frame_window(self, msg: Transcript, params: dict | None = None) -> tuple[int, int]:
        """[lo, hi] stamps of the frames that are this transcript's visual evidence (window_pad_s and
        fallback_window_s from params, a snapshot of the node's values, else the current ones)."""
        p = self._p if params is None else params
        return utterance_window(
            stamp_ns(msg.header.stamp),
            stamp_ns(msg.start_stamp),
            seconds_to_ns(p["window_pad_s"]),
            seconds_to_ns(p["fallback_window_s"]),
        )

    def _release_held(self) -> None:
        """Answer held transcripts, oldest first, once their trailing frames are in or their wait is up."""
        while self._held:
            held = self._held[0]
            with self._lock:
                frames_in = held.window_end_ns is None or self._frames_done_ns >= held.window_end_ns
            if not frames_in and time.monotonic() < held.deadline:
                return
            if not frames_in:
                self._count("trailing_frames_wait_timeout")
            self._held.popleft()
            self._answer_and_publish(held.msg, held.received)
        self._release_timer.cancel()

    def _answer_and_publish(self, msg: Transcript, received: float) -> None:
        out = self.answer(msg)
        if out is None:
            return
        self._pub.publish(out)
        self._rates["emotion"].tick()
        self._count("emotions_published")
        with self._lock:
            self._latency_ms.append((time.perf_counter() - received) * 1000.0)
            self._inference_ms.append(out.inference_ms)

    def answer(self, msg: Transcript) -> EmotionState | None:
        """The EmotionState for one transcript, or None for a partial one or one that cannot be
        answered (the reason is counted and logged). Public for in-process replay; never publishes."""
        self._rates["transcript"].tick()
        self._last_speech_mono = time.monotonic()
        if not msg.is_final:
            self._count("transcripts_partial")
            return None
        self._count("transcripts_final")
        try:
            return self._classify(msg)
        except Unanswered as err:
            self._count(f"unanswered_{err.reason}")
            self.get_logger().warn(
                f"utterance {msg.conversation_id!r}/{msg.utterance_id!r} not answered ({err.reason}): {err}"
            )
        except Exception as err:
            self._count("unanswered_inference_error")
            self.get_logger().error(
                f"utterance {msg.conversation_id!r}/{msg.utterance_id!r} not answered "
                f"(inference_error): {err!r}"
            )
        return None

    def _classify(self, msg: Transcript) -> EmotionState:
        with self._lock:
            p = dict(self._p)
        end = stamp_ns(msg.header.stamp)
        now = self._now_ns()
        conv = msg.conversation_id
        if now > 0 and end - now > seconds_to_ns(p["max_future_s"]):
            self._count("transcript_future_stamp")
            self.get_logger().warn(
                f"transcript {msg.utterance_id!r} is stamped {(end - now) / 1e9:.3f} s in "
                "the future; answered anyway",
                throttle_duration_sec=5.0,
            )
        if end < self._last_transcript_ns.get(conv, 0):
            self._count("transcript_out_of_order")
            self.get_logger().warn(
                f"transcript {msg.utterance_id!r} is older than the previous one of "
                f"conversation {conv!r}; answered anyway",
                throttle_duration_sec=5.0,
            )
        self._last_transcript_ns[conv] = max(end, self._last_transcript_ns.get(conv, 0))
        text = msg.text.strip()
        if len(text) > p["max_text_chars"]:
            self._count("transcript_truncated")
            self.get_logger().warn(
                f"transcript {msg.utterance_id!r} has {len(text)} characters; truncated to "
                f"max_text_chars={p['max_text_chars']}",
                throttle_duration_sec=5.0,
            )
            text = text[: p["max_text_chars"]]
        if not text:
            self._count("transcript_empty_text")

        frames: list[tuple[int, np.ndarray]] = []
        if end > 0 and p["face_detection_rate_hz"] > 0:
            lo, hi = self.frame_window(msg, p)
            with self._lock:
                frames = pick_evenly(self._frames.window(lo, hi), p["frames_per_utterance"])
        if not text and not frames:
            raise Unanswered("nothing_to_classify", "empty text and no face in the utterance window")

        turn = Turn(msg.speaker, text)
        with self._lock:
            previous = self._dialogue.turns(conv, now)
        ids, mask = self.tokenizer.encode_dialogue(turn, previous, p["context_turns"])
        t0 = time.perf_counter()
        text_features, text_logits = self.backend.encode_text(ids, mask)
        fused, visual = self._fuse(text_features, 1.0 if text else 0.0, [f for _, f in frames])
        inference_ms = (time.perf_counter() - t0) * 1000.0
        probs = softmax(fused[0])
        with self._lock:
            state = self._dialogue.state(conv, now)
            if p["smoothing"] > 0 and "smoothed" in state:
                probs = (1.0 - p["smoothing"]) * probs + p["smoothing"] * state["smoothed"]
                probs = probs / probs.sum()
            state["smoothed"] = probs
            if text:
                self._dialogue.add(conv, turn, now)

        out = self._result(msg.header.stamp, probs, inference_ms)
        out.header.frame_id = msg.header.frame_id
        out.conversation_id, out.utterance_id, out.speaker, out.text = (
            conv,
            msg.utterance_id,
            msg.speaker,
            text,
        )
        out.text_used = bool(text)
        out.visual_used = bool(frames)
        out.frames_used = len(frames)
        if text:
            out.text_probabilities = softmax(text_logits[0]).astype(np.float32).tolist()
        if frames:
            out.visual_probabilities = softmax(visual[0]).astype(np.float32).tolist()
        return out

    def _fuse(self, text_features: np.ndarray, text_present: float, faces: list[np.ndarray]):
        face_features = np.zeros((1, self._max_frames, self._dv), np.float32)
        face_mask = np.zeros((1, self._max_frames), np.float32)
        for i, f in enumerate(faces[: self._max_frames]):
            face_features[0, i] = f
            face_mask[0, i] = 1.0
        return self.backend.fuse(
            text_features.astype(np.float32), np.array([text_present], np.float32), face_features, face_mask
        )

    def _result(self, stamp, probs: np.ndarray, inference_ms: float) -> EmotionState:
        out = EmotionState()
        out.header.stamp = stamp
        best = int(np.argmax(probs))
        out.emotion = LABELS[best]
        out.confidence = float(probs[best])
        out.labels = list(LABELS)
        out.probabilities = probs.astype(np.float32).tolist()
        out.valence, out.arousal = valence_arousal(probs)
        out.inference_ms = float(inference_ms)
        out.model = self._model_name
        out.backend = self.backend.name
        return out

    # ---- visual-only updates while nobody speaks ------------------------------------------------
    def _on_visual_timer(self) -> None:
        try:
            self._visual_only_update()
        except Exception as err:
            self._count("visual_only_error")
            self.get_logger().error(f"visual-only update failed: {err!r}", throttle_duration_sec=5.0)

    def _visual_only_update(self) -> None:
        rate = self._p["visual_rate_hz"]
        if rate <= 0 or time.monotonic() - self._last_speech_mono < 1.0 / rate:
            return
        with self._lock:
            newest = self._frames.newest_ns
            if newest is None or newest <= self._last_visual_only_ns:
                return
            lo = max(self._last_visual_only_ns + 1, newest - seconds_to_ns(1.0 / rate))
            frames = pick_evenly(self._frames.window(lo, newest), self._p["frames_per_utterance"])
        self._last_visual_only_ns = newest
        t0 = time.perf_counter()
        ids, mask = self.tokenizer.encode([""])
        text_features, _ = self.backend.encode_text(ids, mask)  # masked out below (text_mask = 0)
        fused, visual = self._fuse(text_features, 0.0, [f for _, f in frames])
        probs = softmax(fused[0])
        if float(probs.max()) < self._p["min_confidence"]:
            self._count("visual_only_below_min_confidence")
            return
        out = self._result(
            rclpy.time.Time(nanoseconds=newest).to_msg(), probs, (time.perf_counter() - t0) * 1000.0
        )
        out.visual_used, out.frames_used = True, len(frames)
        out.visual_probabilities = softmax(visual[0]).astype(np.float32).tolist()
        self._pub.publish(out)
        self._count("visual_only_published")

    # ---- services and diagnostics ------------------------------------------------------------------
    def _on_reset_context(self, _request, response):
        with self._lock:
            n = self._dialogue.reset()
        self._last_transcript_ns.clear()
        response.success = True
        response.message = f"cleared the dialogue context of {n} conversation(s)"
        self.get_logger().info(response.message)
        return response

    def _publish_diagnostics(self) -> None:
        with self._lock:
            counts = dict(self.counts)
            lat = np.array(self._latency_ms) if self._latency_ms else None
            inf = np.array(self._inference_ms) if self._inference_ms else None
            buffered = len(self._frames)
        drops = {k: v for k, v in counts.items() if k.startswith(("unanswered_", "image_"))}
        status = DiagnosticStatus(name=f"{self.get_name()}: emotion", hardware_id=self.backend.name)
        status.level = (
            DiagnosticStatus.WARN if any(k.startswith("unanswered_") for k in drops) else DiagnosticStatus.OK
        )
        status.message = "ok" if status.level == DiagnosticStatus.OK else "some transcripts were not answered"
        values = {
            "backend": self.backend.name,
            "model": self._model_name,
            "model_dir": str(self.model_dir),
            "latency_p50_ms": f"{np.percentile(lat, 50):.2f}" if lat is not None else "n/a",
            "latency_p95_ms": f"{np.percentile(lat, 95):.2f}" if lat is not None else "n/a",
            "inference_p50_ms": f"{np.percentile(inf, 50):.2f}" if inf is not None else "n/a",
            "image_rate_hz": f"{self._rates['image'].take():.1f}",
            "transcript_rate_hz": f"{self._rates['transcript'].take():.1f}",
            "emotion_rate_hz": f"{self._rates['emotion'].take():.1f}",
            "frame_buffer_depth": str(buffered),
            "conversations": str(len(self._dialogue)),
            "drops_total": str(sum(drops.values())),
        }
        values.update({f"count.{k}": str(v) for k, v in sorted(counts.items())})
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)


def main(args: list[str] | None = None) -> int:
    """Entry point of the emotion_node executable.

    SIGINT/SIGTERM only set a flag: rclpy's own handler would shut the context down while worker
    threads may still be inside callbacks, so shutdown is done here, in order: stop dispatching,
    wait for running callbacks, destroy the node, shut rclpy down.
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
