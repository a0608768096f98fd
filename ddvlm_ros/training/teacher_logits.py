"""A fine-tuned text teacher's per-utterance logits: written by ddvlm-teacher, read by ddvlm-train.

Keyed by MELD clip name (``dia{D}_utt{U}``) per split, so the student's batches find their targets whatever
order or subset they use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ddvlm_ros.labels import NUM_LABELS
from ddvlm_ros.meld import Utterance

LOGITS_FORMAT = "ddvlm-teacher-logits/1"


def teacher_payload(
    teacher: str,
    context_turns: int,
    keys: dict[str, list[str]],
    logits: dict[str, torch.Tensor],
    scores: dict[str, float],
    best: dict[str, Any],
) -> dict[str, Any]:
    """What ``logits.pt`` holds; checks that each split has one [N, 7] row per key."""
    for split, k in keys.items():
        if tuple(logits[split].shape) != (len(k), NUM_LABELS):
            raise ValueError(f"{split}: {len(k)} keys but logits of shape {tuple(logits[split].shape)}")
    return {
        "format": LOGITS_FORMAT,
        "teacher": teacher,
        "context_turns": context_turns,
        "keys": keys,
        "logits": logits,
        "weighted_f1": scores,
        "best": best,
    }


def teacher_targets(path: str | Path, utts: list[Utterance]) -> torch.Tensor:
    """The stored logits [N, 7] of ``utts`` (one split) in their order; a clear error when any are missing."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    if payload.get("format") != LOGITS_FORMAT:
        raise ValueError(f"{path} is not a ddvlm-teacher logits file (format {payload.get('format')!r})")
    split = utts[0].split if utts else "train"
    if split not in payload["keys"]:
        raise KeyError(f"{path} holds no logits for split {split!r} (has {sorted(payload['keys'])})")
    row = {k: i for i, k in enumerate(payload["keys"][split])}
    missing = [u.key for u in utts if u.key not in row]
    if missing:
        raise KeyError(f"{path}: no teacher logits for {len(missing)} {split} utterances, e.g. {missing[:3]}")
    return payload["logits"][split][[row[u.key] for u in utts]].float()
