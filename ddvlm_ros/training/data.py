"""MELD: annotation CSVs → utterances with dialogue context; MELD.Raw clips → cached face crops.

MELD quirks handled here: mojibake (UTF-8 read as cp1252, e.g. 'â€™'), curly punctuation, timestamps
like '0:10:44,769', dialogues whose rows are not in utterance order, and missing video clips.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddvlm_ros.labels import label_index
from ddvlm_ros.preprocessing import FACE_SIZE, FaceDetector, Turn, face_crops, format_context, format_turn

SPLITS = ("train", "dev", "test")
CSV_NAMES = {s: f"{s}_sent_emo.csv" for s in SPLITS}
# Folder names inside MELD.Raw (as extracted from the official tarballs).
VIDEO_DIRS = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")
_MOJIBAKE = re.compile("[âÃÂ][\u0080-\u00bf\u2018-\u203a\u0152-\u0178\u02c6-\u02dc\u20ac\u2122]")
_PUNCT = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2014": " - ",
        "\u2013": " - ",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_TIME = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?\s*$")


def fix_text(text: str) -> str:
    """Undo cp1252 mojibake when present, then plain-ASCII punctuation and single spaces."""
    if _MOJIBAKE.search(text):
        try:
            text = text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            for bad, good in (
                ("â€™", "'"),
                ("â€˜", "'"),
                ("â€œ", '"'),
                ("â€\x9d", '"'),
                ("â€¦", "..."),
                ("â€”", " - "),
                ("â€“", " - "),
                ("Â", ""),
            ):
                text = text.replace(bad, good)
    return " ".join(text.translate(_PUNCT).split())


def parse_timestamp(value: str) -> float:
    """'0:10:44,769' or '00:16:16.059' → seconds."""
    m = _TIME.match(value or "")
    if not m:
        raise ValueError(f"bad MELD timestamp {value!r}")
    h, mi, s, ms = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + (int(ms.ljust(3, "0")) / 1000.0 if ms else 0.0)


@dataclass(frozen=True)
class Utterance:
    """One MELD row, cleaned."""

    split: str
    dialogue_id: int
    utterance_id: int
    speaker: str
    text: str
    emotion: str
    label: int
    start: float | None
    end: float | None

    @property
    def key(self) -> str:
        """MELD clip name: dia{D}_utt{U}."""
        return f"dia{self.dialogue_id}_utt{self.utterance_id}"

    @property
    def turn(self) -> Turn:
        return Turn(self.speaker, self.text)


def read_split(data_dir: str | Path, split: str) -> list[Utterance]:
    """Utterances of one split, sorted by (dialogue, utterance)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    path = Path(data_dir) / CSV_NAMES[split]
    if not path.is_file():
        raise FileNotFoundError(f"MELD annotations not found: {path} (download MELD; see README)")
    out: list[Utterance] = []
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        for line, row in enumerate(reader, start=2):
            try:
                start = parse_timestamp(row["StartTime"]) if row.get("StartTime") else None
                end = parse_timestamp(row["EndTime"]) if row.get("EndTime") else None
                out.append(
                    Utterance(
                        split,
                        int(row["Dialogue_ID"]),
                        int(row["Utterance_ID"]),
                        fix_text(row["Speaker"]),
                        fix_text(row["Utterance"]),
                        row["Emotion"].strip().lower(),
                        label_index(row["Emotion"]),
                        start,
                        end,
                    )
                )
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: {exc}") from exc
    out.sort(key=lambda u: (u.dialogue_id, u.utterance_id))
    return out


def with_context(utterances: Sequence[Utterance]) -> list[list[Turn]]:
    """For each utterance, the previous turns of its dialogue (oldest first)."""
    history: dict[int, list[Turn]] = defaultdict(list)
    out = []
    for u in utterances:
        out.append(list(history[u.dialogue_id]))
        history[u.dialogue_id].append(u.turn)
    return out


def text_pairs(utterances: Sequence[Utterance], context_turns: int) -> tuple[list[str], list[str]]:
    """(first segments, context segments) exactly as the node formats them."""
    contexts = with_context(utterances)
    return ([format_turn(u.turn) for u in utterances], [format_context(c, context_turns) for c in contexts])


# ----------------------------------------------------------------------------- MELD.Raw faces
def find_clip(video_root: str | Path, u: Utterance) -> Path | None:
    """Path of the utterance's clip under MELD.Raw, or None when missing."""
    root = Path(video_root)
    for folder in (VIDEO_DIRS[u.split], u.split, ""):
        p = root / folder / f"{u.key}.mp4"
        if p.is_file():
            return p
    return None


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


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file (used by model cards and metadata)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
