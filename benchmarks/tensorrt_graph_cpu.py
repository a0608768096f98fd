"""CPU accuracy check of the TensorRT graph variant: weighted-F1 on MELD test, ONNX Runtime, no GPU.

What runs (all with ONNX Runtime's CPU provider, text modality, batches as ddvlm-eval makes them,
scored by ddvlm_ros.training.metrics.compute_metrics like ddvlm-eval):
  fp32          the checkpoint exported afresh at fp32 (the reference);
  woq-int8      the committed model directory's graphs, as stored;
  trt-fp16      trt_graph.to_tensorrt_fp16 of the committed graphs: the exact files TensorRT parses.
                ORT's CPU provider has FP16 kernels for few ops and runs the rest in FP32 via inserted
                Casts, so this row is "FP16 weights/storage where ORT keeps it";
  trt-fp16-emu  trt_graph.fp16_emulation of that graph: every FP16 tensor rounded to FP16 where it is
                produced, FP32 inside each op, ORT graph optimizations off (no fusion across roundings).
Checkpoint, graphs and code are taken from one commit (by default the last that wrote the model
directory), so a working tree mid-re-export does not mix generations.
Writes benchmarks/results/tensorrt_graph_cpu.json and prints a table.

    python benchmarks/tensorrt_graph_cpu.py [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ddvlm_ros.backends import read_metadata  # noqa: E402
from ddvlm_ros.preprocessing import TextTokenizer  # noqa: E402
from ddvlm_ros.training.data import read_split, text_pairs  # noqa: E402
from ddvlm_ros.training.evaluate import _batches  # noqa: E402
from ddvlm_ros.training.metrics import compute_metrics  # noqa: E402
from ddvlm_ros.trt_graph import fp16_emulation, to_tensorrt_fp16  # noqa: E402

MODEL = ROOT / "models" / "ddvlm-meld-v3"
DATA = ROOT.parent / "shared" / "data" / "meld"
OUT = ROOT / "benchmarks" / "results" / "tensorrt_graph_cpu.json"


def _session(model: onnx.ModelProto | str, optimize: bool, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    blob = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])


def _snapshot(dst: Path, commit: str | None) -> tuple[Path, str]:
    """Code (ddvlm_ros) and model directory as of one commit: by default the last that wrote the model.

    Why a snapshot: checkpoint, WOQ graphs and the code that wrote them belong together; a working tree
    with a re-export or model-code change in progress would mix generations.
    """
    git = ["git", "-C", str(ROOT)]
    if commit is None:
        log = [*git, "log", "-1", "--format=%H", "--", str(MODEL / "metadata.json")]
        commit = subprocess.run(log, capture_output=True, text=True, check=True).stdout.strip() or "HEAD"
    paths = ["ddvlm_ros", str(MODEL.relative_to(ROOT))]
    archive = subprocess.run([*git, "archive", commit, *paths], capture_output=True, check=True)
    dst.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive.stdout, check=True)
    return dst, commit


def _fp32_graphs(src: Path, model_dir: Path, out: Path) -> dict[str, str]:
    """FP32 export of the snapshot's checkpoint by the snapshot's code (in a subprocess)."""
    code = (
        "import sys, torch; from pathlib import Path; torch.set_num_threads(2);"
        "from ddvlm_ros.training.export import export_fp32;"
        "from ddvlm_ros.training.checkpoints import load_checkpoint;"
        "export_fp32(load_checkpoint(sys.argv[1]), Path(sys.argv[2]))"
    )
    out.mkdir()
    ckpt = model_dir / "checkpoint" / "checkpoint.pt"
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", code, str(ckpt), str(out)], check=True, env=env, cwd=out)
    return {b: str(out / f"{b}.onnx") for b in ("text", "face", "fusion")}


def _logits(
    text: ort.InferenceSession, fusion: ort.InferenceSession, batches: list, meta: dict
) -> np.ndarray:
    f, dv = int(meta["max_frames"]), int(meta["face_dim"])
    out = np.zeros((sum(len(b[0]) for b in batches), len(meta["labels"])), np.float32)
    for idx, ids, mask in batches:
        feats, _ = text.run(None, {"input_ids": ids, "attention_mask": mask})
        b = len(idx)
        feeds = {
            "text_features": feats,
            "text_mask": np.ones(b, np.float32),
            "face_features": np.zeros((b, f, dv), np.float32),
            "face_mask": np.zeros((b, f), np.float32),
        }
        for extra in fusion.get_inputs():  # e.g. visual_weight [B]: 1 = as trained
            feeds.setdefault(extra.name, np.ones(b, np.float32))
        out[idx] = fusion.run(["fused_logits"], feeds)[0]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N test utterances (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--commit", default=None, help="model + code snapshot (default: last model export)")
    args = parser.parse_args(argv)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src, commit = _snapshot(Path(tmp) / "src", args.commit)
        model_dir = src / MODEL.relative_to(ROOT)
        meta = read_metadata(model_dir)
        utts = read_split(DATA, "test")[: args.limit or None]
        labels = np.array([u.label for u in utts])
        tok = TextTokenizer(model_dir / "tokenizer", max_length=int(meta["max_length"]))
        firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
        batches = list(_batches(tok, firsts, contexts, 64))
        committed = {b: str(model_dir / meta["files"][b]) for b in ("text", "fusion")}
        trt = {b: to_tensorrt_fp16(onnx.load(p)) for b, p in committed.items()}
        fp32 = _fp32_graphs(src, model_dir, Path(tmp) / "fp32")
        variants = {
            "fp32": ({b: fp32[b] for b in committed}, True),
            "woq-int8": (committed, True),
            "trt-fp16": ({b: m for b, (m, _) in trt.items()}, True),
            "trt-fp16-emu": ({b: fp16_emulation(m) for b, (m, _) in trt.items()}, False),
        }
        logits = {}
        for name, (graphs, optimize) in variants.items():
            start = time.perf_counter()
            sessions = {b: _session(g, optimize, args.threads) for b, g in graphs.items()}
            logits[name] = _logits(sessions["text"], sessions["fusion"], batches, meta)
            metrics = compute_metrics(labels, logits[name].argmax(-1), ["text"])
            results[name] = {
                "weighted_f1": metrics["weighted_f1"],
                "accuracy": metrics["accuracy"],
                "seconds": round(time.perf_counter() - start, 1),
                "ort_graph_optimizations": "all" if optimize else "disabled",
            }
    ref_f1 = results["fp32"]["weighted_f1"]
    for name, row in results.items():
        row["f1_drop_points"] = round((ref_f1 - row["weighted_f1"]) * 100, 3)
        row["max_abs_logit_diff_vs_fp32"] = float(np.abs(logits[name] - logits["fp32"]).max())
        row["prediction_agreement_vs_fp32"] = float(
            (logits[name].argmax(-1) == logits["fp32"].argmax(-1)).mean()
        )
    report = {
        "utterances": len(utts),
        "model_commit": commit,
        "split": "test",
        "modality": "text (face mask 0), batch 64 length-sorted as ddvlm-eval",
        "conversion": {b: r.as_dict() for b, (_, r) in trt.items()},
        "variants": results,
        "target_f1_drop_points_max": 0.5,
        "target_met": all(results[v]["f1_drop_points"] <= 0.5 for v in ("trt-fp16", "trt-fp16-emu")),
        "machine": {"cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'variant':14} {'wF1':>7} {'drop pt':>8} {'max|Δlogit|':>12} {'agree':>6}")
    for name, row in results.items():
        print(
            f"{name:14} {row['weighted_f1']:7.4f} {row['f1_drop_points']:8.3f} "
            f"{row['max_abs_logit_diff_vs_fp32']:12.4f} {row['prediction_agreement_vs_fp32']:6.3f}"
        )
    print(f"wrote {args.out}; target (drop <= 0.5 points) met: {report['target_met']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
