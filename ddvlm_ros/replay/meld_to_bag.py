"""MELD split → rosbag2: one Transcript per utterance, clip frames as Images, labels on their own topic.

Timeline: dialogues follow each other with a pause between them; inside a dialogue the utterances keep
MELD's order, durations (EndTime − StartTime) and pauses between turns, so the node sees a conversation
as a robot would. MELD's times come from the episode and are sometimes missing, negative or overlapping,
so durations outside (0, 60] s are replaced by an estimate from the word count and pauses outside
[0, MAX_PAUSE_S] by DEFAULT_PAUSE_S; the order of utterances is never changed.

Ground truth is published as ddvlm_msgs/EmotionState on GROUND_TRUTH_TOPIC (emotion = the MELD label,
probabilities one-hot, model = "MELD annotation"), so no extra message package is needed.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
from sensor_msgs.msg import Image

from ddvlm_msgs.msg import EmotionState, Transcript
from ddvlm_ros.alignment import seconds_to_ns
from ddvlm_ros.labels import LABELS
from ddvlm_ros.meld import Utterance, find_clip, read_split
from ddvlm_ros.replay.bagfile import BagWriter
from ddvlm_ros.stamps import seconds_to_stamp

TRANSCRIPT_TOPIC = "/transcript"
IMAGE_TOPIC = "/image"
GROUND_TRUTH_TOPIC = "/emotion/ground_truth"
GROUND_TRUTH_MODEL = "MELD annotation"
DEFAULT_START_S = 1_767_225_600  # 2026-01-01T00:00:00Z: bags are reproducible byte for byte
DIALOGUE_GAP_S = 2.0
DEFAULT_PAUSE_S = 0.3
MAX_PAUSE_S = 5.0
MAX_DURATION_S = 60.0

log = logging.getLogger("ddvlm-bag")


@dataclass(frozen=True)
class TimedUtterance:
    utterance: Utterance
    conversation_id: str
    start_s: float  # on the bag timeline
    end_s: float


def estimated_duration(text: str) -> float:
    """Speaking time of a transcript at about 2.5 words per second, within [0.5, 10] s."""
    return min(max(0.4 * len(text.split()) + 0.4, 0.5), 10.0)


def lay_out(utterances: Sequence[Utterance], start_s: float = DEFAULT_START_S) -> list[TimedUtterance]:
    """Place every utterance on one timeline (see the module docstring); input sorted by dialogue, utt."""
    out: list[TimedUtterance] = []
    cursor = float(start_s)
    for dialogue_id, group in groupby(utterances, key=lambda u: u.dialogue_id):
        previous: Utterance | None = None
        for u in group:
            duration = (u.end - u.start) if u.start is not None and u.end is not None else math.nan
            if not 0.0 < duration <= MAX_DURATION_S:
                duration = estimated_duration(u.text)
            pause = DEFAULT_PAUSE_S
            if previous is not None and previous.end is not None and u.start is not None:
                gap = u.start - previous.end
                pause = gap if 0.0 <= gap <= MAX_PAUSE_S else DEFAULT_PAUSE_S
            begin = cursor + (pause if previous is not None else 0.0)
            cid = f"meld/{u.split}/dia{dialogue_id}"
            out.append(TimedUtterance(u, cid, begin, begin + duration))
            cursor = begin + duration
            previous = u
        cursor += DIALOGUE_GAP_S
    return out


def transcript_msg(t: TimedUtterance) -> Transcript:
    u = t.utterance
    msg = Transcript(
        conversation_id=t.conversation_id,
        utterance_id=u.key,
        speaker=u.speaker,
        text=u.text,
        is_final=True,
        confidence=math.nan,
    )
    msg.header.stamp = seconds_to_stamp(t.end_s)
    msg.header.frame_id = "meld"
    msg.start_stamp = seconds_to_stamp(t.start_s)
    return msg


def ground_truth_msg(t: TimedUtterance) -> EmotionState:
    u = t.utterance
    one_hot = [0.0] * len(LABELS)
    one_hot[u.label] = 1.0
    msg = EmotionState(
        conversation_id=t.conversation_id,
        utterance_id=u.key,
        speaker=u.speaker,
        text=u.text,
        emotion=LABELS[u.label],
        confidence=1.0,
        labels=list(LABELS),
        probabilities=one_hot,
        text_used=True,
        model=GROUND_TRUTH_MODEL,
        backend="none",
    )
    msg.header.stamp = seconds_to_stamp(t.end_s)
    msg.header.frame_id = "meld"
    return msg


def clip_frames(
    clip: Path, duration_s: float, fps: float, max_width: int
) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds into the clip, BGR frame) about `fps` times per second, within the utterance."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    if not cap.isOpened():
        raise OSError(f"cannot open video {clip}")
    try:
        clip_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        step = max(1, round(clip_fps / fps))
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            offset = index / clip_fps
            if offset > duration_s:
                break
            if index % step == 0:
                h, w = frame.shape[:2]
                if w > max_width:
                    frame = cv2.resize(
                        frame, (max_width, round(h * max_width / w)), interpolation=cv2.INTER_AREA
                    )
                yield offset, frame
            index += 1
    finally:
        cap.release()


def image_msg(frame: np.ndarray, seconds: float) -> Image:
    h, w = frame.shape[:2]
    msg = Image(height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3)
    msg.data = np.ascontiguousarray(frame).tobytes()
    msg.header.stamp = seconds_to_stamp(seconds)
    msg.header.frame_id = "camera"
    return msg


def write_meld_bag(
    data_dir: str | Path,
    split: str,
    out: str | Path,
    videos: str | Path | None = None,
    storage: str = "mcap",
    dialogues: int | None = None,
    fps: float = 10.0,
    max_width: int = 640,
    start_s: float = DEFAULT_START_S,
) -> dict:
    """Write the bag; returns a summary (utterances, frames, missing clips, duration, per-topic counts)."""
    utterances = read_split(data_dir, split)
    if dialogues is not None:
        keep = set(sorted({u.dialogue_id for u in utterances})[:dialogues])
        utterances = [u for u in utterances if u.dialogue_id in keep]
    timeline = lay_out(utterances, start_s)
    stats: Counter[str] = Counter()
    types = ["ddvlm_msgs/msg/Transcript", "ddvlm_msgs/msg/EmotionState", "sensor_msgs/msg/Image"]
    with BagWriter(out, storage, types) as bag:
        bag.add_topic(TRANSCRIPT_TOPIC, types[0])
        bag.add_topic(GROUND_TRUTH_TOPIC, types[1])
        for t in timeline:
            if videos is not None:
                clip = find_clip(videos, t.utterance)
                if clip is None:
                    stats["missing_clips"] += 1
                    log.warning("no clip for %s under %s", t.utterance.key, videos)
                else:
                    for offset, frame in clip_frames(clip, t.end_s - t.start_s, fps, max_width):
                        bag.write(
                            IMAGE_TOPIC,
                            seconds_to_ns(t.start_s + offset),
                            image_msg(frame, t.start_s + offset),
                        )
                        stats["frames"] += 1
            end_ns = seconds_to_ns(t.end_s)
            bag.write(TRANSCRIPT_TOPIC, end_ns, transcript_msg(t))
            bag.write(GROUND_TRUTH_TOPIC, end_ns, ground_truth_msg(t))
            stats["utterances"] += 1
        counts = dict(bag.counts)
    return {
        "bag": str(out),
        "storage": storage,
        "split": split,
        "dialogues": len({t.conversation_id for t in timeline}),
        "utterances": stats["utterances"],
        "frames": stats["frames"],
        "missing_clips": stats["missing_clips"],
        "duration_s": round(timeline[-1].end_s - timeline[0].start_s, 3) if timeline else 0.0,
        "topics": counts,
    }
