"""FrameAnalyser: camera frames in, FrameEvents (face features or "nothing here") out. No ROS.

It decides which frames are analysed (stamp checks, face_detection_rate_hz) and analyses them (the
largest face, tracked: face_tracking.py; detection on a downscaled copy, crop from the original, face
encoder). It runs wherever the frames arrive: in the vision process under the node
(ddvlm_ros/vision_process.py), or in the caller's thread for offline replay and tests
(EmotionEngine.add_frame). What it produces goes to EmotionEngine.note_frame, which owns the
face-feature buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ddvlm_ros.alignment import seconds_to_ns
from ddvlm_ros.engine_types import FrameRefused
from ddvlm_ros.face_tracking import FaceTracker
from ddvlm_ros.faces import crop_face
from ddvlm_ros.logs import ThrottledLog
from ddvlm_ros.runtime_model import Model

TIME_JUMP_BACK_NS = 1_000_000_000  # a frame this much older than the last one means the clock restarted


@dataclass(frozen=True)
class FrameEvent:
    """What one admitted frame gave: frames up to stamp_ns are done; features is the face's feature
    vector (None: skipped by the detection rate, no face, or the analysis failed). clear_buffer: the
    stamps jumped back (the clock restarted), so the face features kept so far are to be dropped."""

    stamp_ns: int
    features: np.ndarray | None = None
    clear_buffer: bool = False


class FrameAnalyser:
    """Admission and analysis of camera frames; `count(name)` receives every counter it keeps."""

    def __init__(
        self,
        model: Model,
        face_detection_rate_hz: float,
        max_future_s: float,
        now_ns: Callable[[], int],
        count: Callable[[str], None],
        log: ThrottledLog,
    ) -> None:
        self.model = model
        self.face_detection_rate_hz = face_detection_rate_hz
        self.max_future_s = max_future_s
        self._now_ns = now_ns
        self.count = count
        self.log = log
        self._last_image_ns: int | None = None
        self._last_detect_ns: int | None = None
        self.tracker = FaceTracker(model.detector)  # the largest face, searched for near where it was

    def apply(self, face_detection_rate_hz: float | None = None, max_future_s: float | None = None) -> None:
        if face_detection_rate_hz is not None:
            self.face_detection_rate_hz = face_detection_rate_hz
        if max_future_s is not None:
            self.max_future_s = max_future_s

    def take(self, stamp_ns: int, load: Callable[[], np.ndarray]) -> tuple[FrameEvent, np.ndarray | None]:
        """Admit the frame stamped stamp_ns: (event, image) where image is load()'s BGR image when the
        frame is to be analysed (pass both to analyse), None when the detection rate skips it (the event
        is then final). FrameRefused for a bad stamp; load() runs only for frames that are analysed, and
        what it raises propagates."""
        self.count("images_received")
        now = self._now_ns()
        if now > 0 and stamp_ns - now > seconds_to_ns(self.max_future_s):
            ahead = (stamp_ns - now) / 1e9
            raise FrameRefused("future_stamp", f"stamp {stamp_ns / 1e9:.3f} s is {ahead:.3f} s in the future")
        clear = False
        last = self._last_image_ns
        if last is not None and stamp_ns <= last:
            if last - stamp_ns <= TIME_JUMP_BACK_NS:
                raise FrameRefused("out_of_order", f"stamp {stamp_ns} is not after the previous {last}")
            self.log.warning("image stamps jumped back; clearing the face-feature buffer")
            self.count("image_time_jump_back")
            clear = True
            self._last_detect_ns = None
            self.tracker.reset()
        self._last_image_ns = stamp_ns
        event = FrameEvent(stamp_ns, clear_buffer=clear)
        rate = self.face_detection_rate_hz
        if rate <= 0:
            return event, None
        if self._last_detect_ns is not None and stamp_ns - self._last_detect_ns < 1e9 / rate:
            self.count("images_not_analysed_rate")
            return event, None
        image = load()
        self._last_detect_ns = stamp_ns
        return event, image

    def analyse(self, event: FrameEvent, image: np.ndarray) -> FrameEvent:
        """Face detection + the face's features of one admitted frame; never raises (one bad frame must
        not stop the stream: failures are counted as image_error and logged)."""
        try:
            box = self.tracker.find(image, event.stamp_ns)
            self.count("images_analysed")
            if box is None:
                self.count("images_without_face")
                return event
            crop = crop_face(image, box, self.model.face_size)
            features = self.model.backend.encode_faces(crop[None, None].astype(np.float32))
            return FrameEvent(event.stamp_ns, features[0].astype(np.float32), event.clear_buffer)
        except Exception as err:
            self.count("image_error")
            self.log.error(f"face analysis failed: {err!r}", key="face_analysis")
            return event

    def offer(self, stamp_ns: int, load: Callable[[], np.ndarray]) -> FrameEvent:
        """take + analyse in the caller's thread."""
        event, image = self.take(stamp_ns, load)
        return event if image is None else self.analyse(event, image)
