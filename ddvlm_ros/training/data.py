"""MELD.Raw clips → cached face crops for training (the CSV side is ddvlm_ros/meld.py, re-exported here)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ddvlm_ros.meld import (  # noqa: F401 - re-exported: training code reads MELD through this module
    CSV_NAMES,
    REQUIRED_COLUMNS,
    SPLITS,
    VIDEO_DIRS,
    Utterance,
    find_clip,
    fix_text,
    parse_timestamp,
    read_split,
    text_pairs,
    with_context,
)
from ddvlm_ros.preprocessing import FACE_SIZE, FaceDetector, face_crops


def sample_faces(clip: str | Path, detector: FaceDetector, max_frames: int) -> np.ndarray:
    """Up to ``max_frames`` face crops from evenly spaced frames: float16 [F,64,64] (F may be 0)."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise OSError(f"cannot open video {clip}")
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        if n > 0:
            wanted = set(np.linspace(0, n - 1, num=min(max_frames, n)).round().astype(int).tolist())
            i = 0
            while len(frames) < len(wanted):
                ok, frame = cap.read()
                if not ok:
                    break
                if i in wanted:
                    frames.append(frame)
                i += 1
        crops = [c for f in frames for c in face_crops(f, detector, max_faces=1)]
    finally:
        cap.release()
    if not crops:
        return np.zeros((0, FACE_SIZE, FACE_SIZE), dtype=np.float16)
    return np.stack(crops).astype(np.float16)


def cache_faces(
    utterances: Iterable[Utterance],
    video_root: str | Path,
    cache_dir: str | Path,
    max_frames: int,
    progress: bool = True,
) -> dict[str, int]:
    """Detect and crop faces once per clip into cache_dir/<split>/<key>.npy; returns counts."""
    from tqdm import tqdm

    detector = FaceDetector()
    cache = Path(cache_dir)
    stats = {"cached": 0, "computed": 0, "missing_clip": 0, "no_face": 0}
    items = list(utterances)
    for u in tqdm(items, desc="faces", disable=not progress):
        target = cache / u.split / f"{u.key}.npy"
        if target.is_file():
            stats["cached"] += 1
            continue
        clip = find_clip(video_root, u)
        if clip is None:
            stats["missing_clip"] += 1
            continue
        faces = sample_faces(clip, detector, max_frames)
        stats["no_face"] += int(faces.shape[0] == 0)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, faces)
        stats["computed"] += 1
    return stats


def load_faces(cache_dir: str | Path, u: Utterance, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(faces float32 [max_frames,1,64,64], mask float32 [max_frames]); all-zero mask when none."""
    faces = np.zeros((max_frames, 1, FACE_SIZE, FACE_SIZE), dtype=np.float32)
    mask = np.zeros(max_frames, dtype=np.float32)
    p = Path(cache_dir) / u.split / f"{u.key}.npy"
    if p.is_file():
        arr = np.load(p)[:max_frames]
        faces[: len(arr), 0] = arr
        mask[: len(arr)] = 1.0
    return faces, mask
