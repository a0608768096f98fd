"""ddvlm-soup: the uniform weight average of finished runs of one recipe that differ only in seed.

Why: runs fine-tuned from the same pretrained weights usually stay in one basin, so their average
often scores better than each of them, with the same runtime model (no ensemble at inference). The
soup is a candidate like any other: choose it on dev (ddvlm-eval), never on test.

Usage:
  python -m ddvlm_ros.training.soup --out runs/v4-soup runs/v4-s13 runs/v4-s7 runs/v4-s21
writes <out>/checkpoint/checkpoint.pt, <out>/train_config.yaml (the first run's) and <out>/soup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

# config keys that may differ between the soup's ingredients
MAY_DIFFER = frozenset({"seed", "threads", "cache_dir"})


def recipe_of(run: Path) -> dict[str, Any]:
    """The run's recorded config without what may differ between seeds."""
    cfg = yaml.safe_load((run / "train_config.yaml").read_text())
    return {k: v for k, v in cfg.items() if k not in MAY_DIFFER}


def make_soup(runs: list[Path], out: Path) -> Path:
    """Average the runs' checkpoints into ``out``; refuses runs of different recipes."""
    import torch

    from ddvlm_ros.training.checkpoints import average_checkpoints, save_checkpoint

    if len(runs) < 2:
        raise ValueError("a soup needs at least two runs")
    first = recipe_of(runs[0])
    for run in runs[1:]:
        if recipe_of(run) != first:
            raise ValueError(f"{run} was trained with another recipe than {runs[0]}: not averaged")
    paths = [run / "checkpoint" / "checkpoint.pt" for run in runs]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (is the run finished?)")
    model = average_checkpoints(paths)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(runs[0] / "train_config.yaml", out / "train_config.yaml")
    # one recipe, so one modality: whether faces were trained (rebase_checkpoint relies on it)
    first_extra = torch.load(paths[0], map_location="cpu", weights_only=True)["extra"]
    modality = first_extra.get("dev_modality", "text")
    extra = {"soup_of": [str(r) for r in runs], "dev_modality": modality}
    ckpt = save_checkpoint(model, out / "checkpoint" / "checkpoint.pt", extra=extra)
    (out / "soup.json").write_text(json.dumps(extra, indent=2))
    return ckpt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ddvlm-soup", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("runs", nargs="+", type=Path, help="ddvlm-train run directories")
    a = p.parse_args(argv)
    print(make_soup(a.runs, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
