"""A MELD split as training sees it: the frozen lower MiniLM layers' token states, computed once and
cached on disk, with labels, faces and teacher logits; padded batches and predictions from them."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.checkpoints import save_atomic
from ddvlm_ros.training.data import Utterance, load_faces, text_pairs
from ddvlm_ros.training.model import DDVLM, TextBranch


@dataclass
class Split:
    """Cached inputs of one split: lower-layer token states, labels, optional faces."""

    hidden: list[torch.Tensor]  # [L_i, H] fp16
    labels: torch.Tensor  # [N] int64
    faces: torch.Tensor | None = None  # [N, F, 1, 64, 64] fp16
    face_mask: torch.Tensor | None = None  # [N, F] float32
    teacher: torch.Tensor | None = None  # [N, 7] logits of a larger fine-tuned text teacher

    def __len__(self) -> int:
        return len(self.hidden)


@torch.no_grad()
def encode_lower(
    text: TextBranch,
    tokenizer: TextTokenizer,
    firsts: list[str],
    contexts: list[str],
    batch_size: int = 64,
    progress: bool = True,
) -> list[torch.Tensor]:
    """Run the frozen lower layers once; returns per-sample fp16 token states trimmed to length."""
    from tqdm import tqdm

    text.eval()
    lengths = [len(tokenizer.ids(a, b)) for a, b in zip(firsts, contexts, strict=True)]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[torch.Tensor | None] = [None] * len(lengths)
    for start in tqdm(range(0, len(order), batch_size), desc="cache lower layers", disable=not progress):
        idx = order[start : start + batch_size]
        ids, mask = tokenizer.encode([firsts[i] for i in idx], [contexts[i] for i in idx])
        h = text.lower(torch.from_numpy(ids), torch.from_numpy(mask)).to(torch.float16)
        for r, i in enumerate(idx):
            out[i] = h[r, : lengths[i]].clone()
    return out  # type: ignore[return-value]


def cache_key(split: str, n: int, cfg: dict[str, Any], texts: list[str]) -> str:
    d = cfg["data"]
    payload = json.dumps(
        [
            split,
            n,
            d["context_turns"],
            d["max_length"],
            cfg["model"]["trainable_layers"],
            hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def build_split(
    model: DDVLM,
    tokenizer: TextTokenizer,
    utts: list[Utterance],
    cfg: dict[str, Any],
    cache_dir: Path | None,
    face_cache: Path | None,
    progress: bool,
) -> Split:
    """Cached lower states (from disk when the same inputs were encoded before) + labels + faces."""
    firsts, contexts = text_pairs(utts, int(cfg["data"]["context_turns"]))
    hidden = None
    path = None
    if cache_dir is not None:
        split = utts[0].split if utts else "empty"
        key = cache_key(split, len(utts), cfg, [a + "\t" + b for a, b in zip(firsts, contexts, strict=True)])
        path = cache_dir / f"{split}-{key}.pt"
        if path.is_file():
            hidden = torch.load(path, weights_only=True)
    if hidden is None:
        hidden = encode_lower(model.text, tokenizer, firsts, contexts, progress=progress)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_atomic(hidden, path)  # runs may share cache_dir
    labels = torch.tensor([u.label for u in utts], dtype=torch.long)
    faces = mask = None
    if face_cache is not None:
        frames = int(cfg["data"]["max_frames"])
        loaded = [load_faces(face_cache, u, frames) for u in utts]
        faces = torch.from_numpy(np.stack([f for f, _ in loaded])).to(torch.float16)
        mask = torch.from_numpy(np.stack([m for _, m in loaded]))
        if mask.sum() == 0:
            faces = mask = None
    return Split(hidden, labels, faces, mask)


def pad_batch(split: Split, idx: list[int]) -> dict[str, torch.Tensor]:
    """Pad the cached states of ``idx`` into a batch."""
    length = max(split.hidden[i].shape[0] for i in idx)
    h = torch.zeros(len(idx), length, split.hidden[idx[0]].shape[1], dtype=torch.float32)
    mask = torch.zeros(len(idx), length, dtype=torch.long)
    for r, i in enumerate(idx):
        n = split.hidden[i].shape[0]
        h[r, :n] = split.hidden[i].float()
        mask[r, :n] = 1
    batch = {"hidden": h, "mask": mask, "labels": split.labels[idx]}
    if split.teacher is not None:
        batch["teacher"] = split.teacher[idx]
    if split.faces is not None and split.face_mask is not None:
        batch["faces"] = split.faces[idx].float()
        batch["face_mask"] = split.face_mask[idx]
    return batch


def batches(n: int, batch_size: int, rng: random.Random, lengths: list[int] | None = None) -> list[list[int]]:
    """Shuffled batches, length-bucketed within chunks of 50 batches to save padding."""
    idx = list(range(n))
    rng.shuffle(idx)
    if lengths is not None:
        chunk = batch_size * 50
        idx = [i for s in range(0, n, chunk) for i in sorted(idx[s : s + chunk], key=lambda j: lengths[j])]
    out = [idx[s : s + batch_size] for s in range(0, n, batch_size)]
    rng.shuffle(out)
    return out


@torch.no_grad()
def predict_split(model: DDVLM, split: Split, batch_size: int = 64, modality: str = "text") -> np.ndarray:
    """Argmax predictions from cached states; modality text|visual|both."""
    model.eval()
    preds = []
    order = list(range(len(split)))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        batch = pad_batch(split, idx)
        feats, logits = model.text.upper(batch["hidden"], batch["mask"])
        if modality != "text":
            if "faces" not in batch:
                raise ValueError(f"modality {modality!r} needs faces")
            b, f = batch["faces"].shape[:2]
            ff = model.face(batch["faces"].reshape(b * f, 1, *batch["faces"].shape[3:])).reshape(b, f, -1)
            tmask = torch.ones(b) if modality == "both" else torch.zeros(b)
            fused, vl = model.fusion(feats, tmask, ff, batch["face_mask"])
            logits = fused
        preds.append(logits.argmax(-1))
    return torch.cat(preds).numpy()
