"""MELD: annotation CSVs → utterances with dialogue context, and where each utterance's clip is.

MELD quirks handled here: mojibake (UTF-8 read as cp1252, e.g. 'â€™'), curly punctuation, timestamps
like '0:10:44,769', dialogues whose rows are not in utterance order, and missing video clips. No torch:
training, evaluation and replay (meld_to_bag) read MELD through this module.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ddvlm_ros.labels import label_index
from ddvlm_ros.preprocessing import Turn, format_context, format_turn

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


def find_clip(video_root: str | Path, u: Utterance) -> Path | None:
    """Path of the utterance's clip under MELD.Raw, or None when missing."""
    root = Path(video_root)
    for folder in (VIDEO_DIRS[u.split], u.split, ""):
        p = root / folder / f"{u.key}.mp4"
        if p.is_file():
            return p
    return None
