"""Replay evaluation of the full MELD test split: the bag through emotion_node over DDS vs ddvlm-eval.

One run does all of it, on the same model: `ddvlm-bag from-meld` (mcap), `ddvlm-eval` (batch scoring,
the reference), `ddvlm-bag eval --launch-node --rate R` (real node process, loopback DDS, sim time) and
`ddvlm-bag eval --offline` (in-process, no DDS).

    scripts/with_env python benchmarks/replay_eval.py [--rate 50] [--model models/ddvlm-meld-v3]

Writes a table to stdout and benchmarks/results/replay_eval.json (reports under --work).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str]) -> float:
    """Run a tool, fail loudly with its output; returns the wall time in seconds."""
    t0 = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "meld"))
    p.add_argument("--model", default=str(ROOT / "models" / "ddvlm-meld-v3"))
    p.add_argument("--split", default="test")
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--work", default=None, help="keep bag and reports here (default: a temp dir)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "replay_eval.json"))
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="replay_eval_"))
    bag = work / "bag"
    shutil.rmtree(bag, ignore_errors=True)
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    env.setdefault("ROS_DOMAIN_ID", "199")

    walls = {
        "from_meld": run(
            ["ddvlm-bag", "from-meld", "--data", a.data, "--split", a.split, "--out", str(bag)], env
        )
    }
    walls["ddvlm_eval"] = run(
        [
            "ddvlm-eval",
            "--model",
            a.model,
            "--data",
            a.data,
            "--split",
            a.split,
            "--json",
            str(work / "eval.json"),
        ],
        env,
    )
    common = ["--model-dir", a.model]
    walls["dds"] = run(
        [
            "ddvlm-bag",
            "eval",
            str(bag),
            "--launch-node",
            "--rate",
            str(a.rate),
            "--json",
            str(work / "dds.json"),
            *common,
        ],
        env,
    )
    walls["offline"] = run(
        ["ddvlm-bag", "eval", str(bag), "--offline", "--json", str(work / "offline.json"), *common], env
    )
    reference = json.loads((work / "eval.json").read_text())
    rows = []
    for mode in ("dds", "offline"):
        r = json.loads((work / f"{mode}.json").read_text())
        rows.append(
            {
                "mode": r["replay"]["mode"],
                "rate": a.rate if mode == "dds" else None,
                "n": r["n"],
                "weighted_f1": r["weighted_f1"],
                "delta_vs_ddvlm_eval": r["weighted_f1"] - reference["weighted_f1"],
                "unanswered": r["unanswered"]["count"],
                "replay_wall_s": r["replay"]["wall_s"],
                "tool_wall_s": round(walls[mode], 1),
                "latency_ms": r["latency_ms"],
                "inference_ms": r["inference_ms"],
                "bag_duration_s": r["run"]["duration_s"],
            }
        )
    print(
        f"ddvlm-eval ({a.split}, n={reference['n']}): weighted-F1 {reference['weighted_f1']:.4f} "
        f"in {walls['ddvlm_eval']:.1f} s"
    )
    print(
        f"{'mode':<18} {'rate':>5} {'w-F1':>7} {'Δ':>8} {'unans':>5} {'wall s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    for r in rows:
        lat = r["latency_ms"]
        rate = f"{r['rate']:g}" if r["rate"] else "-"
        print(
            f"{r['mode']:<18} {rate:>5} {r['weighted_f1']:>7.4f} {r['delta_vs_ddvlm_eval']:>+8.4f} "
            f"{r['unanswered']:>5} {r['replay_wall_s']:>7.1f} {lat['p50']:>7.2f} {lat['p99']:>7.2f}"
        )
    result = {
        "benchmark": "replay_eval",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "model": a.model,
        "split": a.split,
        "ddvlm_eval": {
            "weighted_f1": reference["weighted_f1"],
            "n": reference["n"],
            "wall_s": round(walls["ddvlm_eval"], 1),
        },
        "from_meld_wall_s": round(walls["from_meld"], 1),
        "replays": rows,
        "work_dir": str(work),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
