"""ddvlm-train: dual-distillation training of DDVLM (EMA self-distillation + text→visual KD).

Cheap on CPU: the frozen lower MiniLM layers run once per split and their token states are cached
(fp16); each epoch only runs the trainable top layers, the heads, and (when faces exist) the visual
student. Every epoch logs dev weighted-F1, saves a resumable state, and keeps the best on dev.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from sklearn.metrics import f1_score

from ddvlm_ros.labels import NUM_LABELS
from ddvlm_ros.model_files import sha256_file
from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.data import Utterance, cache_faces, load_faces, read_split, text_pairs
from ddvlm_ros.training.model import (
    DDVLM,
    ModelConfig,
    TextBranch,
    from_hf_name,
    load_checkpoint,
    round_trip,
    save_atomic,
    save_checkpoint,
)
from ddvlm_ros.training.teacher_logits import teacher_targets


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


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def model_config(cfg: dict[str, Any]) -> ModelConfig:
    """ModelConfig from the training config's data/model sections."""
    return ModelConfig(
        trainable_layers=int(cfg["model"]["trainable_layers"]),
        dropout=float(cfg["model"]["dropout"]),
        face_dim=int(cfg["model"].get("face_dim", 128)),
        max_length=int(cfg["data"]["max_length"]),
        context_turns=int(cfg["data"]["context_turns"]),
        max_frames=int(cfg["data"]["max_frames"]),
    )


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


class Trainer:
    """Holds the model, its EMA text teacher, optimizer and schedule; one method per job."""

    def __init__(
        self,
        cfg: dict[str, Any],
        model: DDVLM,
        steps_total: int,
        class_weight: torch.Tensor | None,
        ema_start_step: int = 0,
    ) -> None:
        self.cfg = cfg
        self.model = model
        lc = cfg["loss"]
        self.loss_cfg = lc
        self.class_weight = class_weight
        trainable = set(model.text.trainable_names())
        for n, p in model.text.named_parameters():
            p.requires_grad_(n in trainable)
        self.ema = copy.deepcopy(model.text).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        # Before ema_start_step the EMA neither teaches nor averages; at it, it is reset to the student,
        # so the teacher never carries the random initial head.
        self.ema_start_step = int(ema_start_step)
        self.steps_done = 0
        o = cfg["optim"]
        head_ids = {id(p) for p in model.text.head.parameters()}
        groups = [
            {
                "params": [
                    p for n, p in model.text.named_parameters() if p.requires_grad and id(p) not in head_ids
                ],
                "lr": float(o["lr"]),
            },
            {
                "params": list(model.text.head.parameters())
                + [p for n, p in model.fusion.named_parameters() if not n.startswith("text_head.")],
                "lr": float(o["head_lr"]),
            },
            {"params": list(model.face.parameters()), "lr": float(o.get("visual_lr", o["lr"]))},
        ]
        self.opt = torch.optim.AdamW(
            [g for g in groups if g["params"]], weight_decay=float(o["weight_decay"])
        )
        warm = max(1, int(float(o["warmup_ratio"]) * steps_total))
        schedule, min_ratio = str(o.get("schedule", "linear")), float(o.get("min_lr_ratio", 0.0))
        lr_factor(0, warm, steps_total, schedule, min_ratio)  # reject a bad schedule name now
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, warm, steps_total, schedule, min_ratio)
        )
        self.rng = np.random.default_rng(int(cfg["seed"]))
        self.autocast = autocast_dtype(o.get("autocast"))

    def ce(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits, labels, weight=self.class_weight, label_smoothing=float(self.loss_cfg["label_smoothing"])
        )

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """All loss terms of one batch (each term is separately logged and ablatable)."""
        lc = self.loss_cfg
        y = batch["labels"]
        feats, logits = self.model.text.upper(batch["hidden"], batch["mask"])
        out = {"text_ce": self.ce(logits, y)}
        if float(lc["ema_weight"]) > 0 and self.ema_active:
            with torch.no_grad():
                ef, el = self.ema.upper(batch["hidden"], batch["mask"])
            out["ema"] = float(lc["ema_weight"]) * (
                kl_t(el, logits, float(lc["ema_temperature"]))
                + float(lc.get("ema_feature_weight", 0.0)) * F.mse_loss(feats, ef)
            )
        if "teacher" in batch:
            out["teacher_kd"] = float(lc.get("teacher_weight", 1.0)) * kl_t(
                batch["teacher"], logits, float(lc.get("teacher_temperature", 2.0))
            )
        if "faces" in batch:
            out.update(self.visual_losses(batch, feats, logits))
        return out

    @torch.no_grad()
    def teacher_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """KD targets for the visual student: the text branch in eval mode (no dropout noise), detached."""
        text = self.model.text
        was_training = text.training
        text.eval()
        try:
            return text.upper(batch["hidden"], batch["mask"])[1].detach()
        finally:
            text.train(was_training)

    def visual_losses(
        self, batch: dict[str, torch.Tensor], feats: torch.Tensor, text_logits: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Visual student (CE + KD from the text teacher) and fusion under random modality masks."""
        lc = self.loss_cfg
        y = batch["labels"]
        faces, fmask = batch["faces"], batch["face_mask"]
        b, f = faces.shape[:2]
        ff = self.model.face(faces.reshape(b * f, *faces.shape[2:])).reshape(b, f, -1)
        has_face = (fmask.sum(1) > 0).float()
        mode = torch.from_numpy(self.rng.choice(3, size=b, p=lc.get("modality_dropout", [0.4, 0.3, 0.3])))
        text_mask = torch.where((mode == 2) & (has_face > 0), 0.0, 1.0)  # visual only drops text
        use_face = (mode != 1).float()  # text only drops faces
        fused, vl = self.model.fusion(feats, text_mask, ff, fmask * use_face[:, None])
        _, vl_all = self.model.fusion(feats, torch.ones(b), ff, fmask)
        n = has_face.sum().clamp(min=1.0)
        vce = (F.cross_entropy(vl_all, y, reduction="none") * has_face).sum() / n
        kd = kl_t(self.teacher_logits(batch), vl_all, float(lc["kd_temperature"]), has_face)
        return {
            "visual_ce": float(lc["visual_ce_weight"]) * vce,
            "kd": float(lc["kd_weight"]) * kd,
            "fusion_ce": float(lc["fusion_ce_weight"]) * self.ce(fused, y),
        }

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        self.model.train()
        with torch.autocast("cpu", dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            parts = self.losses(batch)
        total = sum(parts.values())
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], 1.0)
        self.opt.step()
        self.sched.step()
        self.update_ema()
        return {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}

    @property
    def ema_active(self) -> bool:
        """Whether the EMA teacher has started (it is the student's copy from then on)."""
        return self.steps_done >= self.ema_start_step

    @torch.no_grad()
    def update_ema(self) -> None:
        """Called after each optimizer step: reset the EMA to the student at the start step, then average."""
        self.steps_done += 1
        if self.steps_done < self.ema_start_step:
            return
        if self.steps_done == self.ema_start_step:
            self.ema.load_state_dict(self.model.text.state_dict())
            return
        d = float(self.loss_cfg["ema_decay"])
        src = dict(self.model.text.named_parameters())
        for n, p in self.ema.named_parameters():
            if src[n].requires_grad:
                p.mul_(d).add_(src[n].detach(), alpha=1 - d)

    def with_ema_text(self) -> DDVLM:
        """A copy of the model whose text branch carries the EMA weights."""
        m = copy.deepcopy(self.model)
        m.text.load_state_dict(self.ema.state_dict())
        return m


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


def weighted_f1(labels: np.ndarray, preds: np.ndarray) -> float:
    return float(f1_score(labels, preds, labels=list(range(NUM_LABELS)), average="weighted", zero_division=0))


def top_candidates(folder: Path, k: int) -> list[Path]:
    """The ``k`` saved candidates (any epoch, student or EMA) with the best dev weighted-F1."""
    scored = [(torch.load(p, weights_only=True)["extra"]["dev_f1"], p) for p in sorted(folder.glob("*.pt"))]
    return [p for _, p in sorted(scored, key=lambda t: -t[0])[:k]]


def average_checkpoints(paths: list[Path]) -> DDVLM:
    """Uniform average of the trained tensors of several checkpoints of one run (weight averaging)."""
    model = load_checkpoint(paths[0])
    sd = model.state_dict()
    payloads = [torch.load(p, weights_only=True) for p in paths]
    if any("int8_delta_scales" in p for p in payloads):
        raise ValueError("average_checkpoints needs the run's own (fp16) candidates, not INT8-delta files")
    tensors = [p["tensors"] for p in payloads]
    with torch.no_grad():
        for k in tensors[0]:
            if sd[k].is_floating_point():
                sd[k].copy_(torch.stack([t[k].float() for t in tensors]).mean(0))
    return model


def rebase_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Re-save a text-only run's checkpoint on the current face/fusion code; returns ``dst``.

    Why: a run without faces never changes the face branch or the fusion (they get no gradient), so
    when their architecture changes after the run, the text weights (all that trained) carry over
    exactly and face/fusion take the current code's initialisation, as a new run would.
    """
    src = Path(src)
    payload = torch.load(
        src / "checkpoint.pt" if src.is_dir() else src, map_location="cpu", weights_only=True
    )
    if "int8_delta_scales" in payload:
        raise ValueError(f"{src} holds INT8 deltas: rebase the run's own (fp16) checkpoint")
    if payload.get("extra", {}).get("dev_modality", "text") != "text":
        raise ValueError(f"{src} was trained with faces; its face/fusion weights cannot be replaced")
    fields = set(ModelConfig.__dataclass_fields__)
    model = DDVLM.pretrained(ModelConfig(**{k: v for k, v in payload["config"].items() if k in fields}))
    text = {from_hf_name(k): t for k, t in payload["tensors"].items() if k.startswith("text.")}
    expected = {f"text.{n}" for n in model.text.trainable_names()}
    if set(text) != expected:
        raise ValueError(f"text tensors mismatch: {sorted(set(text) ^ expected)}")
    sd = model.state_dict()
    with torch.no_grad():
        for k, t in text.items():
            sd[k].copy_(t.to(sd[k].dtype))
    extra = dict(payload.get("extra", {})) | {"rebased_from": str(src)}
    return save_checkpoint(model, dst, extra=extra)


def class_weights(labels: torch.Tensor, power: float) -> torch.Tensor | None:
    if power <= 0:
        return None
    counts = torch.bincount(labels, minlength=NUM_LABELS).float().clamp(min=1)
    w = (counts.sum() / counts) ** power
    return w / (w * counts).sum() * counts.sum()


def train(
    cfg: dict[str, Any],
    data_dir: str | Path,
    out: str | Path,
    resume: bool = False,
    limit: int | None = None,
    progress: bool = True,
    splits: dict[str, list[Utterance]] | None = None,
    face_cache: str | Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Train, evaluate on dev each epoch, keep the best; returns the summary (also in out/summary.json)."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg.get("threads", 2)))
    set_seed(int(cfg["seed"]))
    config_text = yaml.safe_dump(cfg, sort_keys=False)
    before = (
        (out / "train_config.yaml").read_text() if resume and (out / "train_config.yaml").is_file() else None
    )
    (out / "train_config.yaml").write_text(config_text)
    mc = model_config(cfg)
    model = DDVLM.pretrained(mc)
    tokenizer = TextTokenizer(max_length=mc.max_length)
    if splits is None:
        splits = {s: read_split(data_dir, s) for s in ("train", "dev")}
        if limit:
            splits = {s: u[:limit] for s, u in splits.items()}
    d = cfg["data"]
    if face_cache is None and d.get("video_root"):
        face_cache = Path(d.get("face_cache") or out / "faces")
        for s, utts in splits.items():
            log(
                f"faces {s}: {cache_faces(utts, d['video_root'], face_cache, int(d['max_frames']), progress)}"
            )
    cache_dir = Path(cfg.get("cache_dir") or out / "cache")
    data = {
        s: build_split(
            model, tokenizer, u, cfg, cache_dir, Path(face_cache) if face_cache else None, progress
        )
        for s, u in splits.items()
    }
    teacher_sha = None
    if d.get("teacher_logits"):
        data["train"].teacher = teacher_targets(d["teacher_logits"], splits["train"])
        teacher_sha = sha256_file(Path(d["teacher_logits"]))
        log(f"teacher logits: {d['teacher_logits']} (sha256 {teacher_sha[:16]})")
    t_cache = time.time() - t0
    log(f"cached lower layers: {', '.join(f'{s}={len(v)}' for s, v in data.items())} in {t_cache:.0f}s")
    o = cfg["optim"]
    train_split, dev_split = data["train"], data["dev"]
    bs = int(o["batch_size"])
    epochs = int(o["epochs"])
    steps_per_epoch = math.ceil(len(train_split) / bs)
    steps_total = epochs * steps_per_epoch
    trainer = Trainer(
        cfg,
        model,
        steps_total,
        class_weights(train_split.labels, float(cfg["loss"].get("class_weight_power", 0.0))),
        ema_start_step=round(float(cfg["loss"].get("ema_warmup_epochs", 0.0)) * steps_per_epoch),
    )
    state_path = out / "last_state.pt"
    start_epoch, best, history = 0, {"dev_weighted_f1": -1.0}, []
    if resume and state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        model.load_state_dict(st["model"])
        trainer.ema.load_state_dict(st["ema"])
        trainer.opt.load_state_dict(st["opt"])
        trainer.sched.load_state_dict(st["sched"])
        start_epoch, best, history = st["epoch"], st["best"], st["history"]
        trainer.steps_done = int(st.get("steps_done", start_epoch * steps_per_epoch))
        log(f"resumed from {state_path} at epoch {start_epoch}")
        if before is not None and before != config_text:  # keep what the earlier epochs ran under
            kept = out / f"train_config.epochs-1-{start_epoch}.yaml"
            kept.write_text(before)
            log(f"config changed on resume; epochs 1-{start_epoch} ran under {kept.name}")
    rng = random.Random(int(cfg["seed"]))
    for _ in range(start_epoch):  # keep batch order identical to an uninterrupted run
        batches(len(train_split), bs, rng)
    lengths = [h.shape[0] for h in train_split.hidden]
    dev_y = dev_split.labels.numpy()
    modality = "both" if dev_split.faces is not None else "text"
    for epoch in range(start_epoch, epochs):
        te = time.time()
        sums: dict[str, float] = {}
        plan = batches(len(train_split), bs, rng, lengths)
        for idx in plan:
            for k, v in trainer.step(pad_batch(train_split, idx)).items():
                sums[k] = sums.get(k, 0.0) + v
        record = {
            "epoch": epoch + 1,
            "train_loss": {k: v / len(plan) for k, v in sums.items()},
            "train_s": round(time.time() - te, 1),
            "lr_end": [round(g["lr"], 8) for g in trainer.opt.param_groups],
        }
        tv = time.time()
        candidates = {"student": copy.deepcopy(model)}
        wants_ema = (
            float(cfg["loss"]["ema_weight"]) > 0 or cfg["eval"].get("select") == "best_of_student_and_ema"
        )
        if wants_ema and trainer.ema_active:
            candidates["ema"] = trainer.with_ema_text()
        for name, cand in candidates.items():
            round_trip(cand)  # score exactly what the fp16 checkpoint will hold
            f1 = weighted_f1(dev_y, predict_split(cand, dev_split, int(cfg["eval"]["batch_size"]), modality))
            record[f"dev_weighted_f1_{name}"] = round(f1, 4)
            # every epoch's student and EMA weights are kept, for averaging or ensembling later
            save_checkpoint(cand, out / "candidates" / f"epoch{epoch + 1}-{name}.pt", extra={"dev_f1": f1})
            if f1 > best["dev_weighted_f1"]:
                best = {"dev_weighted_f1": f1, "epoch": epoch + 1, "weights": name}
                save_checkpoint(
                    cand,
                    out / "checkpoint" / "checkpoint.pt",
                    extra={"train_config": cfg, "best": best, "dev_modality": modality},
                )
        record["eval_s"] = round(time.time() - tv, 1)
        history.append(record)
        log(json.dumps(record))
        with (out / "train_log.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        torch.save(
            {
                "model": model.state_dict(),
                "ema": trainer.ema.state_dict(),
                "opt": trainer.opt.state_dict(),
                "sched": trainer.sched.state_dict(),
                "epoch": epoch + 1,
                "steps_done": trainer.steps_done,
                "best": best,
                "history": history,
            },
            state_path,
        )
    top_k = int(cfg["eval"].get("average_top_k", 0))
    averaged = None
    if top_k > 1:
        ta = time.time()
        paths = top_candidates(out / "candidates", top_k)
        avg = average_checkpoints(paths)
        round_trip(avg)
        f1 = weighted_f1(dev_y, predict_split(avg, dev_split, int(cfg["eval"]["batch_size"]), modality))
        averaged = {
            "dev_weighted_f1": round(f1, 4),
            "of": [p.name for p in paths],
            "s": round(time.time() - ta, 1),
        }
        log(json.dumps({"averaged": averaged}))
        if f1 > best["dev_weighted_f1"]:
            best = {"dev_weighted_f1": f1, "epoch": None, "weights": "average", "of": averaged["of"]}
            save_checkpoint(
                avg,
                out / "checkpoint" / "checkpoint.pt",
                extra={"train_config": cfg, "best": best, "dev_modality": modality},
            )
    summary = {
        "best": best,
        "history": history,
        "wall_s": round(time.time() - t0, 1),
        "cache_s": round(t_cache, 1),
        "averaged": averaged,
        "n_train": len(train_split),
        "n_dev": len(dev_split),
        "torch_threads": torch.get_num_threads(),
        "teacher_logits_sha256": teacher_sha,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ddvlm-train", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="training YAML (default config/train_meld.yaml)")
    p.add_argument("--data", required=True, help="directory with MELD {train,dev,test}_sent_emo.csv")
    p.add_argument("--out", required=True, help="run directory (checkpoint/, train_log.jsonl, summary.json)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last_state.pt")
    p.add_argument(
        "--limit", type=int, default=None, help="use only the first N utterances per split (smoke runs)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, e.g. loss.ema_weight=0",
    )
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = load_config(a.config, a.set)
    summary = train(cfg, a.data, a.out, resume=a.resume, limit=a.limit, progress=not a.no_progress)
    print(json.dumps({"best": summary["best"], "wall_s": summary["wall_s"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
