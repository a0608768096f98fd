"""FaceTracker: the largest face of a camera stream, searched for near where it was.

A full-frame detection (MTCNN over the whole image pyramid) costs ~40 ms here, and a robot's camera
streams all the time. Between full detections the tracker runs the same detector on a region around
the last box (three times the face's size, searched at SEARCH_SIDE pixels: a fraction of the work);
a full-frame detection runs again at least every `refresh_ns` of stream time (a new, larger face is
picked up then) and whenever the face is not found near its last place. Deterministic for frames fed in order.
"""

from __future__ import annotations

import numpy as np

from ddvlm_ros.faces import FaceDetector

Box = tuple[int, int, int, int]  # x, y, w, h in the frame's pixels

SEARCH_MARGIN = 1.0  # the search region extends the last box by this many box sides on each side
SEARCH_SIDE = 120  # the region is searched at most this large: the face is then ~40 px (MTCNN finds ≥ 24 px)
REFRESH_NS = 1_000_000_000  # a full-frame detection at least this often (stream time)


class FaceTracker:
    """`find(image, stamp_ns)` → the largest face's box, or None."""

    def __init__(self, detector: FaceDetector, refresh_ns: int = REFRESH_NS) -> None:
        self.detector = detector
        self.refresh_ns = refresh_ns
        self._box: Box | None = None
        self._full_ns: int | None = None  # stamp of the last full-frame detection
        self.full_detections = 0
        self.region_detections = 0

    def reset(self) -> None:
        """Forget the last face (the stream's clock restarted)."""
        self._box, self._full_ns = None, None

    def find(self, image: np.ndarray, stamp_ns: int) -> Box | None:
        due = self._full_ns is None or not 0 <= stamp_ns - self._full_ns < self.refresh_ns
        if self._box is not None and not due:
            box = self._near(image, self._box)
            if box is not None:
                self._box = box
                return box
        self.full_detections += 1
        boxes = self.detector.detect(image)
        self._full_ns = stamp_ns
        self._box = boxes[0] if boxes else None
        return self._box

    def _near(self, image: np.ndarray, last: Box) -> Box | None:
        self.region_detections += 1
        h, w = image.shape[:2]
        x, y, bw, bh = last
        mx, my = round(SEARCH_MARGIN * bw), round(SEARCH_MARGIN * bh)
        x0, y0, x1, y1 = max(0, x - mx), max(0, y - my), min(w, x + bw + mx), min(h, y + bh + my)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        boxes = self.detector.detect(np.ascontiguousarray(image[y0:y1, x0:x1]), max_side=SEARCH_SIDE)
        if not boxes:
            return None
        bx, by, bbw, bbh = boxes[0]
        return bx + x0, by + y0, bbw, bbh
