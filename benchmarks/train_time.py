"""Wall time per phase of the DDVLM training recipe on this machine: lower-layer cache, each epoch's
training and dev evaluation, checkpoint averaging, total.

Usage:
  python benchmarks/train_time.py --data ../shared/data/meld --out runs/bench [--config ...] [--set k=v]
      runs ddvlm-train in-process and records its phases;
  python benchmarks/train_time.py --from-run runs/meld-v2-s13 [--teacher-run runs/teacher-mpnet]
      records the phases of a finished ddvlm-train run from its summary.json and train_log (the run is
      not repeated; the record says so); with --teacher-run also the ddvlm-teacher run whose logits the
      student distilled (recipe v5), and the two together.
Appends one record to benchmarks/results/train_time.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "train_time.json"


def phases(summary: dict[str, Any]) -> dict[str, Any]:
    """Per-phase wall times (seconds) from a ddvlm-train summary."""
    hist = summary["history"]
    train_s = [h["train_s"] for h in hist]
    eval_s = [h.get("eval_s") for h in hist]
    averaged = summary.get("averaged") or {}
    return {
        "cache_s": summary["cache_s"],
        "epoch_train_s": train_s,
        "epoch_eval_s": eval_s,
        "average_s": averaged.get("s"),
        "wall_s": summary["wall_s"],
        "epochs_s_total": round(sum(train_s) + sum(e or 0 for e in eval_s), 1),
    }


def stopped_run_summary(run: Path, cache_s: float | None) -> dict[str, Any]:
    """What a summary would hold for a run stopped early: its epochs so far; no total wall time."""
    if cache_s is None:
        raise SystemExit(f"{run} has no summary.json: pass --cache-s (the 'cached lower layers' log line)")
    hist = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines() if x.strip()]
    best = max(
        (
            {"dev_weighted_f1": h[k], "epoch": h["epoch"], "weights": k.rsplit("_", 1)[1]}
            for h in hist
            for k in h
            if k.startswith("dev_weighted_f1_")
        ),
        key=lambda b: b["dev_weighted_f1"],
    )
    epochs_s = sum(h["train_s"] + h.get("eval_s", 0.0) for h in hist)
    return {
        "history": hist,
        "cache_s": cache_s,
        "wall_s": round(cache_s + epochs_s, 1),
        "best": best,
        "stopped_after_epoch": hist[-1]["epoch"],
        "torch_threads": None,
    }


def teacher_phases(run: Path) -> dict[str, Any]:
    """Per-phase wall times of a ddvlm-teacher run (fine-tuning epochs, logits of every split, total)."""
    summary = json.loads((run / "summary.json").read_text())
    return {
        "run": str(run),
        "epoch_train_s": [h["train_s"] for h in summary["history"]],
        "logits_s": summary["logits_s"],
        "wall_s": summary["wall_s"],
        "torch_threads": summary.get("torch_threads"),
        "weighted_f1": summary["weighted_f1"],
    }


def table(p: dict[str, Any], teacher: dict[str, Any] | None = None) -> str:
    rows = []
    if teacher:
        rows += [(f"teacher epoch {i} train", t) for i, t in enumerate(teacher["epoch_train_s"], start=1)]
        rows += [
            ("teacher logits (all splits)", teacher["logits_s"]),
            ("teacher total (wall)", teacher["wall_s"]),
        ]
    rows += [("lower-layer cache", p["cache_s"])]
    for i, (t, e) in enumerate(zip(p["epoch_train_s"], p["epoch_eval_s"], strict=True), start=1):
        rows += [(f"epoch {i} train", t), (f"epoch {i} dev eval", e)]
    rows += [("checkpoint averaging", p["average_s"]), ("student total (wall)", p["wall_s"])]
    if teacher:
        rows += [("teacher + student (wall)", round(teacher["wall_s"] + p["wall_s"], 1))]
    return "\n".join(
        ["| phase | s |", "| --- | --- |"] + [f"| {n} | {'-' if v is None else v} |" for n, v in rows]
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--from-run", default=None, help="a finished ddvlm-train run directory")
    p.add_argument("--cache-s", type=float, default=None, help="cache time of a run without summary.json")
    p.add_argument("--teacher-run", default=None, help="the ddvlm-teacher run the student distilled")
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument(
        "--note",
        default=None,
        help="how the machine was shared while the run trained (recorded with it; none by default)",
    )
    a = p.parse_args()
    if a.from_run:
        run = Path(a.from_run)
        cfg_path = run / "train_config.yaml"
        if (run / "summary.json").is_file():
            summary = json.loads((run / "summary.json").read_text())
            source = f"ddvlm-train summary.json of {run} (recorded from the run's log, not re-run here)"
        else:
            summary = stopped_run_summary(run, a.cache_s)
            source = f"train_log.jsonl of {run}, a run stopped before its last epoch (not re-run here)"
        config = str(cfg_path)
        import torch

        threads = summary.get("torch_threads")
    else:
        if not (a.data and a.out):
            p.error("--data and --out are required unless --from-run is given")
        import torch

        from ddvlm_ros.training.config import load_config
        from ddvlm_ros.training.train import train

        summary = train(load_config(a.config, a.set), a.data, a.out, progress=False)
        source = "run in-process by benchmarks/train_time.py"
        config = a.config or "config/train_meld.yaml"
        threads = torch.get_num_threads()
    ph = phases(summary)
    teacher = teacher_phases(Path(a.teacher_run)) if a.teacher_run else None
    record = {
        "source": source,
        "config": config,
        "overrides": a.set,
        **ph,
        "best": summary["best"],
        "stopped_after_epoch": summary.get("stopped_after_epoch"),
        "teacher": teacher,
        "recipe_wall_s": round(teacher["wall_s"] + ph["wall_s"], 1) if teacher else ph["wall_s"],
        "cpus": os.cpu_count(),
        "torch_threads": threads,
        "machine": platform.machine(),
        "torch": torch.__version__,
        "load_avg_at_record": os.getloadavg()[0],
        "note": a.note,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = Path(a.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(record)
    path.write_text(json.dumps(runs, indent=2) + "\n")
    print(table(ph, teacher))
    print(json.dumps({"best": record["best"], "wall_s": record["wall_s"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
