"""EmotionEngine: frames and utterances in, EmotionResults (or the named reason why not) out. No ROS.

The engine owns everything between the inputs and the answer: the face-feature buffer, the dialogue
context, smoothing, the one rule that holds a final transcript for its trailing frames, classification
and visual-only updates. Its two clocks are injected (`now_ns`: the stamp clock, ROS time in the node or
the bag's time in replay; `wall_s`: what waits are measured in), so fed the same inputs in the same order
with the same clocks it gives the same answers: offline replay relies on that.

Threads: `note_frame` may be called from another thread (the node's link to its vision process);
every other method is called from one thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ddvlm_ros.alignment import AddResult, FaceFeatureBuffer, pick_evenly, seconds_to_ns, utterance_window
from ddvlm_ros.dialogue import DialogueContext
from ddvlm_ros.engine_types import (
    Answer,
    EmotionResult,
    EngineSettings,
    EngineStatus,
    FrameRefused,
    Unanswered,
    Utterance,
)
from ddvlm_ros.frame_analysis import FrameAnalyser, FrameEvent
from ddvlm_ros.logs import Logger, ThrottledLog
from ddvlm_ros.node_params import SPECS
from ddvlm_ros.preprocessing import Turn
from ddvlm_ros.runtime_model import Model, check_frames_per_utterance
from ddvlm_ros.smoothing import smooth, softmax

__all__ = [
    "Answer",
    "EmotionEngine",
    "EmotionResult",
    "EngineSettings",
    "EngineStatus",
    "FrameEvent",
    "FrameRefused",
    "Model",
    "Unanswered",
    "Utterance",
]

STREAMING_S = 1.0  # a frame came within this wall time: the camera streams, trailing frames will come


@dataclass(frozen=True)
class _Held:
    utterance: Utterance
    received_s: float
    deadline_s: float  # wall_s after which it is answered with the frames there are
    window_end_ns: int | None  # answered once frames up to this stamp are in; None: only behind others


class _Unanswerable(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class EmotionEngine:
    """See the module docstring; `counts` holds every counter the node reports in /diagnostics."""

    def __init__(
        self,
        model: Model,
        settings: EngineSettings,
        now_ns: Callable[[], int],
        wall_s: Callable[[], float] = time.monotonic,
        logger: Logger | None = None,
    ) -> None:
        check_frames_per_utterance(settings.frames_per_utterance, model.max_frames)
        self.model = model
        self._settings = settings
        self._now_ns = now_ns
        self._wall_s = wall_s
        self.log = ThrottledLog(logger or logging.getLogger("ddvlm_ros.engine"))
        self._warn_if_context_differs(settings.context_turns)
        self._lock = threading.Lock()  # counts, face buffer, frames-done stamp (the vision thread's)
        self.counts: Counter[str] = Counter()
        self._faces: FaceFeatureBuffer[np.ndarray] = FaceFeatureBuffer(
            settings.frame_buffer_size, seconds_to_ns(settings.frame_buffer_age_s)
        )
        self._dialogue: DialogueContext[Turn] = DialogueContext(
            settings.context_turns,
            seconds_to_ns(settings.conversation_idle_timeout_s),
            settings.max_conversations,
        )
        # None without a face detector: frames are then analysed elsewhere (the node's vision process)
        # and only their FrameEvents arrive, through note_frame
        self.frames = (
            FrameAnalyser(
                model, settings.face_detection_rate_hz, settings.max_future_s, now_ns, self.count, self.log
            )
            if model.detector is not None
            else None
        )
        self._frames_done_ns = 0  # newest frame stamp analysed or skipped by the detection rate
        self._last_frame_s = float("-inf")
        self._last_speech_s = float("-inf")
        self._last_visual_only_ns = 0
        self._held: deque[_Held] = deque()
        if model.tokenizer is None:
            raise ValueError(f"{model.name}: the engine needs the text graph (loaded without it)")
        ids, mask = model.tokenizer.encode([""])  # the text input of visual-only updates (masked out)
        self._no_text_features = model.backend.encode_text(ids, mask)[0]

    # ---- settings --------------------------------------------------------------------------------
    @property
    def settings(self) -> EngineSettings:
        return self._settings

    def check(self, values: Mapping[str, Any]) -> None:
        """Raise ValueError when a value is wrong for this model (beyond node_params' ranges)."""
        if "frames_per_utterance" in values:
            check_frames_per_utterance(values["frames_per_utterance"], self.model.max_frames)

    def apply(self, values: Mapping[str, Any]) -> None:
        """Change live settings (node_params live=True); start-only ones are refused."""
        names = {f.name for f in fields(EngineSettings)}
        mine = {k: v for k, v in values.items() if k in names}
        start_only = sorted(k for k in mine if not SPECS[k].live)
        if start_only:
            raise ValueError(f"{', '.join(start_only)} can only be set when the engine is made")
        self.check(mine)
        with self._lock:
            self._settings = replace(self._settings, **mine)
            if "context_turns" in mine:
                self._dialogue.set_max_turns(mine["context_turns"])
            if "conversation_idle_timeout_s" in mine:
                self._dialogue.idle_timeout_ns = seconds_to_ns(mine["conversation_idle_timeout_s"])
        if "context_turns" in mine:
            self._warn_if_context_differs(mine["context_turns"])
        if self.frames is not None:
            self.frames.apply(mine.get("face_detection_rate_hz"), mine.get("max_future_s"))

    def _warn_if_context_differs(self, context_turns: int) -> None:
        """A model reads best the context it was trained with; another count is allowed, but said."""
        trained = self.model.trained_context_turns
        if context_turns != trained:
            self.log.warning(
                f"context_turns {context_turns} differs from the {trained} previous turns {self.model.name} "
                "was trained with; its measured accuracy assumes the latter"
            )

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def status(self) -> EngineStatus:
        """Counters and depths, one consistent snapshot (for diagnostics)."""
        with self._lock:
            return EngineStatus(dict(self.counts), len(self._faces), len(self._dialogue), len(self._held))

    # ---- frames: admitted and analysed by a FrameAnalyser (here, or in the vision process) ---------
    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        """Admit, analyse and keep one frame in the caller's thread (offline replay, tests); FrameRefused
        for a bad stamp."""
        if self.frames is None:
            raise ValueError(f"{self.model.name} was loaded without a face detector: no frame analysis here")
        self.note_frame(self.frames.offer(stamp_ns, lambda: image))

    def note_frame(self, event: FrameEvent) -> None:
        """What a FrameAnalyser made of one frame (any thread): its face features into the buffer, and
        frames up to its stamp are done (what held transcripts wait for)."""
        self._last_frame_s = self._wall_s()
        with self._lock:
            if event.clear_buffer:
                self._faces.clear()
            if event.features is not None:
                added = self._faces.add(event.stamp_ns, event.features)
                if added is not AddResult.OK:
                    self.counts[f"face_{added.value}"] += 1
            self._frames_done_ns = max(self._frames_done_ns, event.stamp_ns)

    # ---- utterances ----------------------------------------------------------------------------------
    def frame_window(self, utterance: Utterance, settings: EngineSettings | None = None) -> tuple[int, int]:
        """[lo, hi] stamps of the frames that are the utterance's visual evidence."""
        s = settings or self._settings
        return utterance_window(
            utterance.end_ns,
            utterance.start_ns,
            seconds_to_ns(s.window_pad_s),
            seconds_to_ns(s.fallback_window_s),
        )

    @property
    def held(self) -> int:
        """Transcripts held for trailing frames (release() answers them when due)."""
        return len(self._held)

    def submit(self, utterance: Utterance) -> list[Answer]:
        """Take one transcript; returns the answers due now, in arrival order: this one's (none for a
        partial one) unless it is held for its trailing frames, then release() or flush() answers it."""
        received = self._wall_s()
        self._last_speech_s = received
        s = self._settings
        window_end = self._trailing_window_end(utterance, s, received)
        if window_end is None and not self._held:
            return self._answer(utterance, received)
        # held, or behind held ones so that answers keep their order
        self._held.append(_Held(utterance, received, received + s.trailing_frames_wait_s, window_end))
        return self.release()

    def release(self) -> list[Answer]:
        """Answers to held transcripts, oldest first, whose trailing frames are in or whose wait is up."""
        out: list[Answer] = []
        while self._held:
            held = self._held[0]
            with self._lock:
                frames_in = held.window_end_ns is None or self._frames_done_ns >= held.window_end_ns
            if not frames_in and self._wall_s() < held.deadline_s:
                break
            if not frames_in:
                self.count("trailing_frames_wait_timeout")
            self._held.popleft()
            out += self._answer(held.utterance, held.received_s)
        return out

    def flush(self) -> list[Answer]:
        """Answer every held transcript now, with the frames there are (shutdown, end of a bag)."""
        out: list[Answer] = []
        while self._held:
            held = self._held.popleft()
            out += self._answer(held.utterance, held.received_s)
        return out

    def reset_context(self) -> int:
        """Forget every conversation's context and smoothing; returns how many were cleared."""
        with self._lock:
            return self._dialogue.reset()

    def _trailing_window_end(self, utt: Utterance, s: EngineSettings, now_s: float) -> int | None:
        """End of the utterance's frame window when it is to be held for frames up to it, else None."""
        if s.trailing_frames_wait_s <= 0 or s.face_detection_rate_hz <= 0:
            return None
        if not utt.is_final or utt.end_ns <= 0:
            return None
        if now_s - self._last_frame_s > STREAMING_S:
            return None  # no camera stream: nothing to wait for
        window_end = self.frame_window(utt, s)[1]
        with self._lock:
            return window_end if self._frames_done_ns < window_end else None

    def _answer(self, utt: Utterance, received_s: float) -> list[Answer]:
        if not utt.is_final:
            self.count("transcripts_partial")
            return []
        self.count("transcripts_final")
        name = f"{utt.conversation_id!r}/{utt.utterance_id!r}"
        try:
            return [self._classify(utt, received_s)]
        except _Unanswerable as err:
            self.count(f"unanswered_{err.reason}")
            self.log.warning(f"utterance {name} not answered ({err.reason}): {err}")
            return [Unanswered(utt, err.reason, str(err), received_s)]
        except Exception as err:
            self.count("unanswered_inference_error")
            self.log.error(f"utterance {name} not answered (inference_error): {err!r}")
            return [Unanswered(utt, "inference_error", repr(err), received_s)]

    def _classify(self, utt: Utterance, received_s: float) -> EmotionResult:
        s = self._settings
        end, conv = utt.end_ns, utt.conversation_id
        now = self._now_ns()
        if now > 0 and end - now > seconds_to_ns(s.max_future_s):
            self.count("transcript_future_stamp")
            self.log.warning(
                f"transcript {utt.utterance_id!r} is stamped {(end - now) / 1e9:.3f} s in the future; "
                "answered anyway",
                key="transcript_future_stamp",
            )
        with self._lock:  # kept with the conversation's context, so it expires and is bounded with it
            state = self._dialogue.state(conv, now)
        previous_end = state.get("last_end_ns")
        if previous_end is not None and end < previous_end:
            self.count("transcript_out_of_order")
            self.log.warning(
                f"transcript {utt.utterance_id!r} is older than the previous one of conversation "
                f"{conv!r}; answered anyway",
                key="transcript_out_of_order",
            )
        state["last_end_ns"] = end if previous_end is None else max(end, previous_end)
        text = utt.text.strip()
        if len(text) > s.max_text_chars:
            self.count("transcript_truncated")
            self.log.warning(
                f"transcript {utt.utterance_id!r} has {len(text)} characters; truncated to "
                f"max_text_chars={s.max_text_chars}",
                key="transcript_truncated",
            )
            text = text[: s.max_text_chars]
        if not text:
            self.count("transcript_empty_text")

        frames: list[tuple[int, np.ndarray]] = []
        if end > 0 and s.face_detection_rate_hz > 0:
            lo, hi = self.frame_window(utt, s)
            with self._lock:
                frames = pick_evenly(self._faces.window(lo, hi), s.frames_per_utterance)
        if not text and not frames:
            raise _Unanswerable("nothing_to_classify", "empty text and no face in the utterance window")

        turn = Turn(utt.speaker, text)
        with self._lock:
            previous = self._dialogue.turns(conv, now)
        ids, mask = self.model.tokenizer.encode_dialogue(turn, previous, s.context_turns)
        t0 = time.perf_counter()
        text_features, text_logits = self.model.backend.encode_text(ids, mask)
        fused, visual = self._fuse(text_features, bool(text), [f for _, f in frames])
        inference_ms = (time.perf_counter() - t0) * 1000.0
        with self._lock:
            state = self._dialogue.state(conv, now)
            probs = smooth(softmax(fused[0]), state.get("smoothed"), s.smoothing)
            state["smoothed"] = probs
            if text:
                self._dialogue.add(conv, turn, now)
        return EmotionResult(
            stamp_ns=end,
            probabilities=probs,
            text_probabilities=softmax(text_logits[0]) if text else None,
            visual_probabilities=softmax(visual[0]) if frames else None,
            frames_used=len(frames),
            inference_ms=inference_ms,
            model=self.model.name,
            backend=self.model.backend.name,
            received_s=received_s,
            utterance=utt,
            text=text,
        )

    def _fuse(self, text_features: np.ndarray, text_present: bool, faces: list[np.ndarray]):
        m = self.model
        face_features = np.zeros((1, m.max_frames, m.face_dim), np.float32)
        face_mask = np.zeros((1, m.max_frames), np.float32)
        for i, f in enumerate(faces[: m.max_frames]):
            face_features[0, i] = f
            face_mask[0, i] = 1.0
        text_mask = np.array([1.0 if text_present else 0.0], np.float32)
        weight = np.array([self._settings.visual_weight], np.float32)  # node parameter visual_weight
        return m.backend.fuse(text_features.astype(np.float32), text_mask, face_features, face_mask, weight)

    # ---- visual-only updates ---------------------------------------------------------------------------
    def visual_only(self) -> EmotionResult | None:
        """A face-only answer from the frames since the last one, while nobody spoke for 1/visual_rate_hz;
        None when off, nobody was seen since, or it is below min_confidence (counted)."""
        s = self._settings
        rate = s.visual_rate_hz
        now_s = self._wall_s()
        if rate <= 0 or now_s - self._last_speech_s < 1.0 / rate:
            return None
        with self._lock:
            newest = self._faces.newest_ns
            if newest is None or newest <= self._last_visual_only_ns:
                return None
            lo = max(self._last_visual_only_ns + 1, newest - seconds_to_ns(1.0 / rate))
            frames = pick_evenly(self._faces.window(lo, newest), s.frames_per_utterance)
        self._last_visual_only_ns = newest
        try:
            t0 = time.perf_counter()
            fused, visual = self._fuse(self._no_text_features, False, [f for _, f in frames])
            inference_ms = (time.perf_counter() - t0) * 1000.0
        except Exception as err:
            self.count("visual_only_error")
            self.log.error(f"visual-only update failed: {err!r}", key="visual_only")
            return None
        probs = softmax(fused[0])
        if float(probs.max()) < s.min_confidence:
            self.count("visual_only_below_min_confidence")
            return None
        return EmotionResult(
            stamp_ns=newest,
            probabilities=probs,
            text_probabilities=None,
            visual_probabilities=softmax(visual[0]),
            frames_used=len(frames),
            inference_ms=inference_ms,
            model=self.model.name,
            backend=self.model.backend.name,
            received_s=now_s,
        )
