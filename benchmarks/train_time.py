"""Record the wall time of the default DDVLM training recipe (and optional ablations) on this machine.

Usage: python benchmarks/train_time.py --data ../shared/data/meld --out runs/bench [--set loss.ema_weight=0]
It runs ddvlm-train in-process, then writes benchmarks/results/train_time.json with the wall time, the
cache time, the per-epoch times, the best dev weighted-F1, the CPU count and torch's thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.train import train

RESULTS = Path(__file__).resolve().parent / "results" / "train_time.json"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--results", default=str(RESULTS))
    a = p.parse_args()
    cfg = load_config(a.config, a.set)
    t0 = time.time()
    summary = train(cfg, a.data, a.out, progress=False)
    record = {
        "config": a.config or "config/train_meld.yaml",
        "overrides": a.set,
        "wall_s": round(time.time() - t0, 1),
        "cache_s": summary["cache_s"],
        "epoch_train_s": [h["train_s"] for h in summary["history"]],
        "best": summary["best"],
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = Path(a.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()) if path.is_file() else []
    runs.append(record)
    path.write_text(json.dumps(runs, indent=2))
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
