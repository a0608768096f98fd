"""ddvlm-train: dual-distillation training of DDVLM (EMA self-distillation + text→visual KD).

Cheap on CPU: the frozen lower MiniLM layers run once per split and their token states are cached
(fp16); each epoch only runs the trainable top layers, the heads, and (when faces exist) the visual
student. Every epoch logs dev weighted-F1, saves a resumable state, and keeps the best on dev.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from ddvlm_ros.model_files import sha256_file
from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.checkpoints import (
    average_checkpoints,
    round_trip,
    save_checkpoint,
    top_candidates,
)
from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.data import Utterance, cache_faces, read_split
from ddvlm_ros.training.model import DDVLM, ModelConfig
from ddvlm_ros.training.optim import autocast_dtype, class_weights, kl_t, lr_factor, set_seed, weighted_f1
from ddvlm_ros.training.splits import batches, build_split, pad_batch, predict_split
from ddvlm_ros.training.teacher_logits import teacher_targets


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
