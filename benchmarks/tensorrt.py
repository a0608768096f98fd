"""TensorRT benchmark (NVIDIA GPU only): build, accuracy vs ONNX Runtime, latency, engine sizes.

For each engine variant, from an empty engine cache:
  woq-int8  the committed model directory (INT8 weights behind DequantizeLinear, FP16 compute);
  fp16      an FP32 export of the same checkpoint, converted by the same trt_graph rewrite (FP16 weights).
It times the build (graph conversion + static check + three engine builds), runs the MELD test split
(text modality, batches of 64 as ddvlm-eval makes them) through TensorRT and through ONNX Runtime on the
same inputs (the same graphs as stored, precision weights-only), and reports max |Δ fused logit|,
weighted-F1 of both, batch-1 and batch-8 p50/p90 of the utterance critical path (text encoder + fusion)
as the median over 3 interleaved repeats, and the engine file sizes. Writes
benchmarks/results/tensorrt.json. Without a usable GPU it prints one line saying why and exits 0.

    python benchmarks/tensorrt.py [--limit N] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This file is named tensorrt.py: drop its folder from the path so `import tensorrt` finds NVIDIA's module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from ddvlm_ros import tensorrt_backend as trtb  # noqa: E402

MODEL = ROOT / "models" / "ddvlm-meld-v3"
DATA = ROOT.parent / "shared" / "data" / "meld"
OUT = ROOT / "benchmarks" / "results" / "tensorrt.json"


def _fp32_model_dir(dst: Path) -> Path:
    """A model directory with the FP32 export of the committed checkpoint (torch needed, GPU not)."""
    import torch

    from ddvlm_ros.backends import sha256_file
    from ddvlm_ros.training.checkpoints import load_checkpoint
    from ddvlm_ros.training.export import export_fp32

    torch.set_num_threads(4)
    shutil.copytree(MODEL, dst, ignore=shutil.ignore_patterns("checkpoint", "*.onnx"))
    export_fp32(load_checkpoint(MODEL / "checkpoint" / "checkpoint.pt"), dst)
    meta = json.loads((MODEL / "metadata.json").read_text())
    meta["precision"] = "fp32"
    meta["sha256"] = {f: sha256_file(dst / f) for f in meta["files"].values()}
    meta["size_bytes"] = {f: (dst / f).stat().st_size for f in meta["files"].values()}
    (dst / "metadata.json").write_text(json.dumps(meta, indent=2))
    return dst


def _batches(meta: dict, limit: int | None) -> tuple[list, np.ndarray]:
    from ddvlm_ros.preprocessing import TextTokenizer
    from ddvlm_ros.training.data import read_split, text_pairs
    from ddvlm_ros.training.evaluate import _batches as eval_batches

    utts = read_split(DATA, "test")[: limit or None]
    firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
    tok = TextTokenizer(MODEL / "tokenizer", max_length=int(meta["max_length"]))
    return list(eval_batches(tok, firsts, contexts, 64)), np.array([u.label for u in utts])


def _critical_path(backend, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    meta = backend.metadata
    feats, _ = backend.encode_text(ids, mask)
    b, f, dv = ids.shape[0], int(meta["max_frames"]), int(meta["face_dim"])
    fused, _ = backend.fuse(
        feats, np.ones(b, np.float32), np.zeros((b, f, dv), np.float32), np.zeros((b, f), np.float32)
    )
    return fused


def _logits(backend, batches: list, n: int) -> np.ndarray:
    out = np.zeros((n, 7), np.float32)
    for idx, ids, mask in batches:
        out[idx] = _critical_path(backend, ids, mask)
    return out


def _times(backend, ids: np.ndarray, mask: np.ndarray, runs: int) -> list[float]:
    _critical_path(backend, ids, mask)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        _critical_path(backend, ids, mask)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N MELD test utterances")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved latency repeats (median)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    status = trtb.probe()
    if not status.ok:
        print(f"tensorrt benchmark skipped: {status.reason}: {status.message}")
        return 0
    from ddvlm_ros.backends import load_backend
    from ddvlm_ros.training.metrics import compute_metrics

    t_start = time.perf_counter()
    report: dict = {
        "machine": {
            "gpu": status.device.name,
            "capability": status.device.sm,
            "cuda_binding": status.device.runtime,
            "tensorrt": status.trt_version,
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "variants": {},
        "skipped": {},
    }
    meta = json.loads((MODEL / "metadata.json").read_text())
    batches, labels = _batches(meta, args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"woq-int8": MODEL}
        try:
            dirs["fp16"] = _fp32_model_dir(Path(tmp) / "fp32")
        except Exception as exc:  # torch absent or checkpoint/code mismatch: say so, keep going
            report["skipped"]["fp16"] = f"no FP32 export: {exc}"
        engines, refs = {}, {}
        for name, model_dir in dirs.items():
            start = time.perf_counter()
            engine = load_backend(
                model_dir, "tensorrt", cache_dir=Path(tmp) / f"engines-{name}", warmup=False
            )
            build_s = time.perf_counter() - start
            engines[name] = engine
            refs[name] = load_backend(model_dir, "onnxruntime", threads=4, precision="weights-only")
            logits_trt = _logits(engine, batches, len(labels))
            logits_ort = _logits(refs[name], batches, len(labels))
            f1_trt = compute_metrics(labels, logits_trt.argmax(-1), ["text"])["weighted_f1"]
            f1_ort = compute_metrics(labels, logits_ort.argmax(-1), ["text"])["weighted_f1"]
            report["variants"][name] = {
                "build_s": round(build_s, 1),
                "build_s_per_engine": {b: round(s, 1) for b, s in engine.build_seconds.items()},
                "engine_bytes": engine.engine_bytes(),
                "engine_mb_total": round(sum(engine.engine_bytes().values()) / 2**20, 2),
                "max_abs_logit_diff_vs_ort": float(np.abs(logits_trt - logits_ort).max()),
                "prediction_agreement_vs_ort": float((logits_trt.argmax(-1) == logits_ort.argmax(-1)).mean()),
                "weighted_f1_tensorrt": f1_trt,
                "weighted_f1_onnxruntime": f1_ort,
                "f1_drop_points_vs_ort": round((f1_ort - f1_trt) * 100, 3),
            }
        _, ids8, mask8 = batches[len(batches) // 2]
        ids8, mask8 = ids8[:8], mask8[:8]
        samples = {(n, b): [] for n in engines for b in (1, 8)}
        for _ in range(args.repeats):  # interleaved: every variant and batch once per repeat
            for name, engine in engines.items():
                samples[(name, 1)].append(_times(engine, ids8[:1], mask8[:1], 200))
                samples[(name, 8)].append(_times(engine, ids8, mask8, 100))
        for (name, b), repeats in samples.items():
            row = report["variants"][name]
            row[f"latency_ms_b{b}_p50"] = float(np.median([np.percentile(r, 50) for r in repeats]))
            row[f"latency_ms_b{b}_p90"] = float(np.median([np.percentile(r, 90) for r in repeats]))
    report["utterances"] = int(len(labels))
    report["latency_inputs"] = f"MELD test batch of length {ids8.shape[1]} (batch 1 = its first row)"
    report["repeats"] = args.repeats
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['machine']['gpu']} · TensorRT {status.trt_version} · {len(labels)} utterances")
    heads = ("build s", "MB", "max|Δ|", "F1 trt", "F1 ort", "b1 p50", "b8 p50")
    print(f"{'variant':9} " + " ".join(f"{h:>8}" for h in heads))
    for name, row in report["variants"].items():
        print(
            f"{name:9} {row['build_s']:8.1f} {row['engine_mb_total']:8.1f} "
            f"{row['max_abs_logit_diff_vs_ort']:8.3f} {row['weighted_f1_tensorrt']:8.4f} "
            f"{row['weighted_f1_onnxruntime']:8.4f} {row['latency_ms_b1_p50']:8.2f} "
            f"{row['latency_ms_b8_p50']:8.2f}"
        )
    for name, why in report["skipped"].items():
        print(f"{name}: skipped ({why})")
    print(f"wrote {args.out} in {report['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
