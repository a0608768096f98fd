"""What the emotion node measures for /diagnostics: input and output rates, latency, the vision rate.

The engine counts why things happen (EmotionEngine.status()); this adds what only the adapter sees
(arrival times, publish times) and builds the one DiagnosticStatus the node publishes each second.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from ddvlm_ros.engine import EmotionEngine, EmotionResult
from ddvlm_ros.vision_link import VisionLink

VISION_WINDOW_S = 5.0  # analysed vs due face-analysis rate is judged over this long
VISION_BEHIND_RATIO = 0.5  # WARN when fewer than this share of the frames due are analysed


class RateMeter:
    """Events per second over the last report period."""

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


class NodeStats:
    """Arrivals and answers as the node sees them; status() is called once per diagnostics period."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # latency lists: appended on publish, read by diagnostics
        self._latency_ms: deque[float] = deque(maxlen=2000)
        self._inference_ms: deque[float] = deque(maxlen=2000)
        self._rates = {"image": RateMeter(), "transcript": RateMeter(), "emotion": RateMeter()}
        self._vision_window: deque[tuple[float, int, int]] = deque()  # (monotonic, received, analysed)

    def image_arrived(self) -> None:
        """A frame reached the vision process (called from the vision link's thread)."""
        self._rates["image"].tick()

    def transcript_arrived(self) -> None:
        self._rates["transcript"].tick()

    def answered(self, result: EmotionResult) -> None:
        """An answer to a transcript was published (latency counts a trailing-frames hold)."""
        self._rates["emotion"].tick()
        with self._lock:
            self._latency_ms.append((time.monotonic() - result.received_s) * 1000.0)
            self._inference_ms.append(result.inference_ms)

    def status(
        self,
        name: str,
        engine: EmotionEngine,
        model_dir: str,
        face_detection_rate_hz: float,
        vision: VisionLink,
    ) -> DiagnosticStatus:
        """OK, WARN (unanswered transcripts, vision behind) or ERROR (transcripts lost in transport, the
        vision process not running)."""
        snapshot = engine.status()
        counts = snapshot.counts
        with self._lock:
            lat = np.array(self._latency_ms) if self._latency_ms else None
            inf = np.array(self._inference_ms) if self._inference_ms else None
        drops = {k: v for k, v in counts.items() if k.startswith(("unanswered_", "image_"))}
        backend = engine.model.backend.name
        lost = counts.get("transcripts_lost", 0)
        rates = self._vision_rates(counts, face_detection_rate_hz)
        problems = []
        if lost:
            problems.append(f"{lost} transcript(s) lost in transport")
        if not vision.alive:
            problems.append("the vision process is not running (faces are not used)")
        if any(k.startswith("unanswered_") for k in drops):
            problems.append("some transcripts were not answered")
        if rates["state"] == "behind":
            problems.append(
                f"vision falls behind: {rates['analysed_hz']:.1f} Hz analysed of "
                f"{rates['due_hz']:.1f} Hz due (face_detection_rate_hz {rates['requested_hz']:g})"
            )
        status = DiagnosticStatus(name=f"{name}: emotion", hardware_id=backend)
        status.level = (
            DiagnosticStatus.ERROR
            if lost or not vision.alive
            else DiagnosticStatus.WARN
            if problems
            else DiagnosticStatus.OK
        )
        status.message = "; ".join(problems) if problems else "ok"
        values = {
            "backend": backend,
            "model": engine.model.name,
            "model_dir": model_dir,
            "latency_p50_ms": f"{np.percentile(lat, 50):.2f}" if lat is not None else "n/a",
            "latency_p95_ms": f"{np.percentile(lat, 95):.2f}" if lat is not None else "n/a",
            "inference_p50_ms": f"{np.percentile(inf, 50):.2f}" if inf is not None else "n/a",
            "image_rate_hz": f"{self._rates['image'].take():.1f}",
            "transcript_rate_hz": f"{self._rates['transcript'].take():.1f}",
            "emotion_rate_hz": f"{self._rates['emotion'].take():.1f}",
            "frame_buffer_depth": str(snapshot.frame_buffer_depth),
            "conversations": str(snapshot.conversations),
            "drops_total": str(sum(drops.values()) + lost),
            "vision": rates["state"] if vision.alive else "not running",
            "face_analysis_rate_hz": f"{rates['analysed_hz']:.2f}",
            "face_analysis_due_hz": f"{rates['due_hz']:.2f}",
            "vision_process_rss_mb": f"{vision.rss_bytes / 2**20:.1f}",
            "vision_process_pid": str(vision.pid or ""),
        }
        values.update({f"count.{k}": str(v) for k, v in sorted(counts.items())})
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def _vision_rates(self, counts: dict[str, int], requested_hz: float) -> dict:
        """Frames analysed per second vs those due (face_detection_rate_hz, at most the stream's rate)
        over the last VISION_WINDOW_S; state is idle (no stream or rate 0), ok or behind."""
        now = time.monotonic()
        window = self._vision_window
        window.append((now, counts.get("images_received", 0), counts.get("images_analysed", 0)))
        while len(window) > 2 and now - window[1][0] >= VISION_WINDOW_S:
            window.popleft()
        requested = float(requested_hz)
        t0, received0, analysed0 = window[0]
        span = now - t0
        image_hz = (window[-1][1] - received0) / span if span > 0 else 0.0
        analysed_hz = (window[-1][2] - analysed0) / span if span > 0 else 0.0
        due = min(requested, image_hz)
        state = "idle"
        if requested > 0 and image_hz > 0 and span >= 0.8 * VISION_WINDOW_S:
            state = "behind" if analysed_hz < VISION_BEHIND_RATIO * due else "ok"
        return {"state": state, "analysed_hz": analysed_hz, "due_hz": due, "requested_hz": requested}
