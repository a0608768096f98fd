"""FaceTracker on a real face photo (matplotlib's grace_hopper.jpg) with the real MTCNN networks: the face is
found near its last box between full-frame detections, follows a moving face, is refreshed with a full
detection every refresh period, and a face that left is reported as gone at once."""

from __future__ import annotations

import numpy as np
import pytest
from test_node_harness import synthetic_face_frame

from ddvlm_ros.face_tracking import FaceTracker
from ddvlm_ros.faces import FaceDetector

MS = 1_000_000


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def shifted(frame: np.ndarray, dx: int) -> np.ndarray:
    return np.roll(frame, dx, axis=1)


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector("mtcnn")


def test_the_face_is_tracked_between_full_detections(detector: FaceDetector) -> None:
    frame = synthetic_face_frame(1280, 720, face=True)
    full = detector.detect(frame)[0]
    tracker = FaceTracker(detector, refresh_ns=1000 * MS)
    assert tracker.find(frame, 0) == full and tracker.full_detections == 1
    for i, dx in enumerate((0, 20, 40, 60), start=1):  # a face moving right, 200 ms apart
        box = tracker.find(shifted(frame, dx), i * 200 * MS)
        assert box is not None and iou(box, (full[0] + dx, *full[1:])) > 0.7, (dx, box, full)
    assert tracker.full_detections == 1 and tracker.region_detections == 4
    tracker.find(shifted(frame, 60), 1000 * MS)  # a refresh period after the last full detection
    assert tracker.full_detections == 2


def test_a_face_that_left_is_gone_at_once_and_a_time_jump_forgets_it(detector: FaceDetector) -> None:
    frame = synthetic_face_frame(640, 480, face=True)
    empty = synthetic_face_frame(640, 480, face=False)
    tracker = FaceTracker(detector)
    assert tracker.find(frame, 0) is not None
    assert tracker.find(empty, 200 * MS) is None  # not near its box, then not in the frame either
    assert tracker.full_detections == 2
    assert tracker.find(frame, 400 * MS) is not None and tracker.full_detections == 3
    tracker.reset()
    tracker.find(frame, 500 * MS)
    assert tracker.full_detections == 4
    tracker.find(frame, 100 * MS)  # older than the last full detection: not trusted, full detection
    assert tracker.full_detections == 5
