"""The pieces of a training step that are not the model: seeding, the KD loss, class weights, the
learning-rate schedule, autocast, and the dev score."""

from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score

from ddvlm_ros.labels import NUM_LABELS


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def kl_t(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    t: float,
    sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """KL(teacher || student) on temperature-softened distributions, times T² (Hinton KD).

    Mean over samples, or the ``sample_weight``-weighted mean (e.g. only samples that have a face).
    """
    per_sample = F.kl_div(
        F.log_softmax(student_logits / t, -1), F.softmax(teacher_logits / t, -1), reduction="none"
    ).sum(-1)
    if sample_weight is None:
        return per_sample.mean() * t * t
    return (per_sample * sample_weight).sum() / sample_weight.sum().clamp(min=1.0) * t * t


def lr_factor(step: int, warm: int, total: int, schedule: str, min_ratio: float) -> float:
    """Learning-rate multiplier: linear warm-up, then linear (to 0) or cosine (to ``min_ratio``) decay.

    The cosine floor keeps the last epochs learning, so dev can still improve when training ends.
    """
    if step < warm:
        return (step + 1) / warm
    done = min(1.0, (step - warm) / max(1, total - warm))
    if schedule == "linear":
        return max(0.0, 1.0 - done)
    if schedule == "cosine":
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * done))
    raise ValueError(f"optim.schedule must be linear or cosine, got {schedule!r}")


def autocast_dtype(name: str | None) -> torch.dtype | None:
    """The training-step autocast dtype of ``optim.autocast``: null (fp32) or bfloat16.

    Why bf16: on a CPU with AMX-BF16 the matmuls of a training step run ~1.6x faster; the weights,
    the optimizer state and the dev scoring stay fp32.
    """
    if name in (None, "none", "fp32"):
        return None
    if name in ("bfloat16", "bf16"):
        return torch.bfloat16
    raise ValueError(f"optim.autocast must be null or bfloat16, got {name!r}")


def class_weights(labels: torch.Tensor, power: float) -> torch.Tensor | None:
    if power <= 0:
        return None
    counts = torch.bincount(labels, minlength=NUM_LABELS).float().clamp(min=1)
    w = (counts.sum() / counts) ** power
    return w / (w * counts).sum() * counts.sum()


def weighted_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    return float(f1_score(labels, preds, labels=list(range(NUM_LABELS)), average="weighted", zero_division=0))
