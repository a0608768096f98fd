"""`ddvlm-export`: DDVLM checkpoint → model directory (text/face/fusion ONNX, tokenizer, metadata.json).

Why three graphs: the node encodes faces as frames arrive and only runs text + fusion when an
utterance ends, so the branches must be callable separately. Precision is applied at graph level
after an FP32 export (quantize.py), so every variant comes from the same traced graph.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import onnx
import torch
import yaml

from ddvlm_ros.backends import sha256_file
from ddvlm_ros.labels import LABELS
from ddvlm_ros.training.checkpoints import load_checkpoint
from ddvlm_ros.training.face_branch import face_feature_dim
from ddvlm_ros.training.model import DDVLM, ModelConfig
from ddvlm_ros.training.quantize import WoqConfig, convert_fp16_weights, quantize_woq

PRECISIONS = ("fp32", "fp16", "woq-int8")
OPSET = 17
FORMAT_VERSION = 1
DEFAULT_WOQ_CONFIG = Path(__file__).resolve().parents[2] / "config" / "woq.yaml"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")

# Contract (docs/CONTRACTS.md): names, dtypes and symbolic shapes of every graph's inputs/outputs.
# Dims: B batch, L tokens, N face crops, F frames per utterance; integers are fixed sizes.
SPECS: dict[str, dict[str, list[tuple[str, str, list]]]] = {
    "text": {
        "inputs": [("input_ids", "int64", ["B", "L"]), ("attention_mask", "int64", ["B", "L"])],
        "outputs": [
            ("text_features", "float32", ["B", "Dt"]),
            ("text_logits", "float32", ["B", len(LABELS)]),
        ],
    },
    "face": {
        "inputs": [("faces", "float32", ["N", 1, "S", "S"])],
        "outputs": [("face_features", "float32", ["N", "Dv"])],
    },
    "fusion": {
        "inputs": [
            ("text_features", "float32", ["B", "Dt"]),
            ("text_mask", "float32", ["B"]),
            ("face_features", "float32", ["B", "F", "Dv"]),
            ("face_mask", "float32", ["B", "F"]),
            ("visual_weight", "float32", ["B"]),  # scales the learned visual weight: 1 as trained, 0 = text
        ],
        "outputs": [
            ("fused_logits", "float32", ["B", len(LABELS)]),
            ("visual_logits", "float32", ["B", len(LABELS)]),
        ],
    },
}


def _resolve(shape: list, sizes: dict[str, int]) -> list:
    """Replace model-fixed symbols (Dt, Dv, S) by their sizes; keep dynamic ones (B, L, N, F) symbolic."""
    return [sizes.get(d, d) if isinstance(d, str) else d for d in shape]


def _example_inputs(branch: str, c: ModelConfig) -> tuple[torch.Tensor, ...]:
    """Batch 2 example inputs (not 1, so the tracer cannot specialise the batch axis)."""
    if branch == "text":
        ids = torch.randint(1000, 2000, (2, 12))
        ids[:, 0], ids[:, 5] = 101, 102
        return ids, torch.ones(2, 12, dtype=torch.long)
    if branch == "face":
        return (torch.rand(3, 1, c.face_size, c.face_size),)
    frames = 3
    return (
        torch.randn(2, c.hidden),
        torch.ones(2),
        torch.randn(2, frames, face_feature_dim(c)),
        torch.ones(2, frames),
        torch.ones(2),
    )


def _dynamic_axes(branch: str) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    for kind in ("inputs", "outputs"):
        for name, _, shape in SPECS[branch][kind]:
            dyn = {i: d for i, d in enumerate(shape) if d in ("B", "L", "N", "F")}
            axes[name] = dyn
    return axes


def export_fp32(model: DDVLM, out_dir: Path) -> dict[str, Path]:
    """Trace each branch to an FP32 ONNX file (legacy exporter: it keeps torch module paths as node names)."""
    model.eval()
    paths = {}
    for branch in ("text", "face", "fusion"):
        path = out_dir / f"{branch}.onnx"
        spec = SPECS[branch]
        torch.onnx.export(
            getattr(model, branch),
            _example_inputs(branch, model.config),
            str(path),
            input_names=[n for n, _, _ in spec["inputs"]],
            output_names=[n for n, _, _ in spec["outputs"]],
            dynamic_axes=_dynamic_axes(branch),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        paths[branch] = path
    return paths


def load_woq_config(path: str | Path | None) -> WoqConfig:
    path = Path(path) if path else DEFAULT_WOQ_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"WOQ config not found: {path}")
    return WoqConfig.from_dict(yaml.safe_load(path.read_text()))


def apply_precision(src: Path, dst: Path, precision: str, woq: WoqConfig | None = None) -> dict:
    """Write `dst` from FP32 `src` in the requested precision; returns the quantization report."""
    if precision == "fp32":
        shutil.copyfile(src, dst)
        return {}
    model = onnx.load(str(src))
    if precision == "fp16":
        model, report = convert_fp16_weights(model)
    elif precision == "woq-int8":
        model, report = quantize_woq(model, woq or WoqConfig())
    else:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    onnx.save(model, str(dst))
    return report.as_dict()


def copy_tokenizer(dst: Path, src: Path | None = None) -> None:
    """Copy the tokenizer files beside the graphs so a model directory is self-contained."""
    from ddvlm_ros.preprocessing import default_tokenizer_dir

    src = Path(src) if src else default_tokenizer_dir()
    dst.mkdir(parents=True, exist_ok=True)
    if not (src / "tokenizer.json").is_file():
        raise FileNotFoundError(f"tokenizer.json not found in {src}")
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def _versions() -> dict[str, str]:
    import numpy
    import onnxruntime

    return {
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "opset": str(OPSET),
        "format": str(FORMAT_VERSION),
    }


def build_metadata(
    model: DDVLM, out: Path, name: str, version: str, precision: str, reports: dict, source: dict
) -> dict:
    c = model.config
    sizes = {"Dt": c.hidden, "Dv": face_feature_dim(c), "S": c.face_size}
    files = {b: f"{b}.onnx" for b in SPECS}

    def specs(branch: str, kind: str) -> list[dict]:
        return [{"name": n, "dtype": d, "shape": _resolve(s, sizes)} for n, d, s in SPECS[branch][kind]]

    return {
        "name": name,
        "version": version,
        "labels": list(c.labels),
        "precision": precision,
        "max_length": c.max_length,
        "context_turns": c.context_turns,
        "face_size": c.face_size,
        "max_frames": c.max_frames,
        "text_dim": c.hidden,
        "face_dim": face_feature_dim(c),  # width of face_features (trunk features + FER logits)
        "files": files,
        "sha256": {f: sha256_file(out / f) for f in files.values()},
        "size_bytes": {f: (out / f).stat().st_size for f in files.values()},
        "inputs": {b: specs(b, "inputs") for b in SPECS},
        "outputs": {b: specs(b, "outputs") for b in SPECS},
        "tokenizer": "tokenizer",
        "checkpoint": source.get("checkpoint"),
        "quantization": reports,
        "source": source,
        "versions": _versions(),
    }


def export(
    model: DDVLM,
    out: str | Path,
    precision: str = "woq-int8",
    name: str = "ddvlm-meld-v3",
    version: str = "1.0.0",
    woq_config: WoqConfig | None = None,
    source: dict | None = None,
) -> dict:
    """Export `model` into directory `out` (created; existing graph files replaced). Returns the metadata."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if list(model.config.labels) != list(LABELS):
        raise ValueError(f"model labels {model.config.labels} differ from ddvlm_ros.labels {LABELS}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_fp32(model, Path(tmp))
        for branch, src in fp32.items():
            reports[branch] = apply_precision(src, out / f"{branch}.onnx", precision, woq_config)
    copy_tokenizer(out / "tokenizer")
    meta = build_metadata(model, out, name, version, precision, reports, source or {})
    if precision == "woq-int8":  # what the CPU INT8-compute path keeps weight-only (backends.py reads it)
        meta["int8_compute_exclude"] = list((woq_config or WoqConfig()).int8_compute_exclude)
    (out / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ddvlm-export", description=__doc__.splitlines()[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="DDVLM checkpoint (file or directory with checkpoint.pt)")
    src.add_argument(
        "--random-init", action="store_true", help="export wheel weights + random heads (development/tests)"
    )
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument("--precision", choices=PRECISIONS, default="woq-int8")
    parser.add_argument("--woq-config", default=None, help=f"WOQ YAML (default {DEFAULT_WOQ_CONFIG})")
    parser.add_argument("--name", default="ddvlm-meld-v3")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-init")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint)
        ckpt = Path(args.checkpoint)
        ckpt = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
        # Relative to the model directory, so the torch reference backend finds it in a clone.
        rel = os.path.relpath(ckpt.resolve(), Path(args.out).resolve())
        source = {"checkpoint": rel, "checkpoint_sha256": sha256_file(ckpt)}
    else:
        torch.manual_seed(args.seed)
        model = DDVLM.pretrained().eval()
        source = {"checkpoint": None, "random_init_seed": args.seed}
    woq = load_woq_config(args.woq_config) if args.precision == "woq-int8" else None
    meta = export(model, args.out, args.precision, args.name, args.version, woq, source)
    total = sum(meta["size_bytes"].values()) / 2**20
    print(f"wrote {args.out} ({args.precision}, {total:.1f} MiB of ONNX): {json.dumps(meta['quantization'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
