"""ddvlm-ablation: mean ± std over seeds of finished ddvlm-train runs, as a markdown table.

Each run is scored with ddvlm-eval on MELD dev and test (text modality, its fp32 checkpoint); the scores
are cached in the run directory (eval_dev.json, eval_test.json), so a table can be re-made without
re-scoring. Dev is what the recipe was chosen on; test is reported, never used for a choice.

Usage:
  python -m ddvlm_ros.training.ablation --data ../shared/data/meld \
      --group "default=runs/v4-s13,runs/v4-s7,runs/v4-s21" --group "no EMA=runs/noema-s13,..." \
      [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from ddvlm_ros.labels import LABELS

SPLITS = ("dev", "test")


def run_scores(run: Path, data: Path, threads: int = 2) -> dict[str, dict[str, Any]]:
    """ddvlm-eval metrics of a run's checkpoint on dev and test, cached as <run>/eval_<split>.json."""
    from ddvlm_ros.training.evaluate import evaluate

    if not (run / "checkpoint" / "checkpoint.pt").is_file():
        raise FileNotFoundError(f"{run} has no checkpoint/checkpoint.pt (is the run finished?)")
    trained_at = (run / "checkpoint" / "checkpoint.pt").stat().st_mtime
    scores = {}
    for split in SPLITS:
        cached = run / f"eval_{split}.json"
        if cached.is_file() and cached.stat().st_mtime >= trained_at:
            scores[split] = json.loads(cached.read_text())
            continue
        scores[split] = evaluate(run / "checkpoint", data, split, threads=threads)
        cached.write_text(json.dumps(scores[split], indent=2))
    return scores


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(groups: dict[str, list[dict[str, dict[str, Any]]]]) -> dict[str, dict[str, Any]]:
    """Per group: n seeds, mean/std of dev and test weighted-F1 and of each class's test F1."""
    out: dict[str, dict[str, Any]] = {}
    for name, runs in groups.items():
        row: dict[str, Any] = {"seeds": len(runs)}
        for split in SPLITS:
            row[split] = mean_std([r[split]["weighted_f1"] for r in runs])
            row[f"{split}_each"] = [round(r[split]["weighted_f1"], 4) for r in runs]
        row["test_class_f1"] = {
            label: mean_std([r["test"]["per_class_f1"][label] for r in runs]) for label in LABELS
        }
        out[name] = row
    return out


def markdown(summary: dict[str, dict[str, Any]]) -> str:
    """The table the model card holds: weighted-F1 mean ± std (each seed) and rare-class test F1."""
    lines = [
        "| recipe | seeds | dev wF1 mean ± std (each) | test wF1 mean ± std (each) | fear F1 | disgust F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in summary.items():
        cells = []
        for split in SPLITS:
            m, s = row[split]
            cells.append(f"{m:.4f} ± {s:.4f} ({', '.join(f'{v:.4f}' for v in row[f'{split}_each'])})")
        rare = ["{:.3f} ± {:.3f}".format(*row["test_class_f1"][label]) for label in ("fear", "disgust")]
        lines.append(f"| {name} | {row['seeds']} | {' | '.join(cells)} | {' | '.join(rare)} |")
    return "\n".join(lines)


def parse_group(text: str) -> tuple[str, list[Path]]:
    name, sep, runs = text.partition("=")
    if not sep or not name.strip() or not runs.strip():
        raise argparse.ArgumentTypeError(f"--group wants 'name=run_dir,run_dir,...', got {text!r}")
    return name.strip(), [Path(r.strip()) for r in runs.split(",") if r.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ddvlm-ablation", description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, type=Path, help="directory with MELD {dev,test}_sent_emo.csv")
    p.add_argument("--group", action="append", required=True, type=parse_group, help="name=run,run,...")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="also write the summary here")
    a = p.parse_args(argv)
    groups = {name: [run_scores(r, a.data, a.threads) for r in runs] for name, runs in a.group}
    summary = summarize(groups)
    print(markdown(summary))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
