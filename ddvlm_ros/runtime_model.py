"""The exported model as the engine uses it: backend, tokenizer and face detector, loaded and checked once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ddvlm_ros.backends import BRANCHES, InferenceBackend, load_backend
from ddvlm_ros.labels import LABELS
from ddvlm_ros.logs import Logger
from ddvlm_ros.preprocessing import FaceDetector, TextTokenizer

DEFAULT_MODEL = "models/ddvlm-meld-v3"


def resolve_model_dir(value: str) -> Path:
    """'' → the installed package's default model; anything else is used as given."""
    if value:
        return Path(value).expanduser()
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("ddvlm_ros")) / DEFAULT_MODEL


def check_frames_per_utterance(frames_per_utterance: int, max_frames: int) -> None:
    """The model fuses at most max_frames face features per utterance."""
    if frames_per_utterance > max_frames:
        raise ValueError(
            f"frames_per_utterance={frames_per_utterance} exceeds the model's max_frames={max_frames}"
        )


@dataclass
class Model:
    """A loaded model: backend, tokenizer, face detector and the metadata the engine needs."""

    backend: InferenceBackend
    tokenizer: TextTokenizer | None  # None when the text graph is not loaded (the vision process)
    detector: FaceDetector | None  # None where frames are analysed elsewhere (the node's vision process)
    name: str  # name/version
    directory: Path
    max_frames: int
    face_size: int
    face_dim: int
    trained_context_turns: int = 0  # previous turns the text model saw in training (its scores assume them)

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        backend: str = "auto",
        threads: int = 1,
        logger: Logger | None = None,
        precision: str = "auto",
        face_detector: str | None = "mtcnn",
        branches: tuple[str, ...] = BRANCHES,
    ) -> Model:
        """Validate and load a model directory (ModelError naming the path when it is not one).

        face_detector: "mtcnn" (default; the wheel's ONNX networks), "haar" (OpenCV's cascade) or None (no
        detector: the node, whose frames are analysed in its vision process).
        branches: the graphs to load (the vision process needs only "face")."""
        model_dir = Path(model_dir)
        cv2.setNumThreads(threads)
        instance = load_backend(
            model_dir, backend=backend, threads=threads, logger=logger, precision=precision, branches=branches
        )
        md = instance.metadata
        if tuple(md["labels"]) != LABELS:
            raise ValueError(f"model labels {md['labels']} differ from {LABELS}")
        face_size = int(md.get("face_size", 64))
        face_dim = md.get("face_dim")
        if face_dim is None:  # older exports: ask the face graph
            face_dim = instance.encode_faces(np.zeros((1, 1, face_size, face_size), np.float32)).shape[-1]
        return cls(
            backend=instance,
            tokenizer=TextTokenizer(model_dir / "tokenizer", max_length=int(md.get("max_length", 128)))
            if "text" in branches
            else None,
            detector=FaceDetector(face_detector) if face_detector else None,
            name=f"{md.get('name', model_dir.name)}/{md.get('version', '?')}",
            directory=model_dir,
            max_frames=int(md.get("max_frames", 8)),
            face_size=face_size,
            face_dim=int(face_dim),
            trained_context_turns=int(md.get("context_turns", 0)),
        )
