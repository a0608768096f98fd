"""ddvlm-eval: score a DDVLM checkpoint (or an exported model directory) on a MELD split."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.data import read_split, text_pairs
from ddvlm_ros.training.metrics import compute_metrics, format_report, save_confusion_png


def _batches(seqs: list[list[int]], batch_size: int, pad_id: int):
    """Length-sorted padded batches: yields (indices, input_ids, attention_mask) int64 numpy."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        length = max(len(seqs[i]) for i in idx)
        ids = np.full((len(idx), length), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), length), dtype=np.int64)
        for r, i in enumerate(idx):
            ids[r, : len(seqs[i])] = seqs[i]
            mask[r, : len(seqs[i])] = 1
        yield idx, ids, mask


def predict_checkpoint(
    model_path: Path, firsts: list[str], contexts: list[str], batch_size: int, threads: int
) -> tuple[np.ndarray, dict]:
    """Text-modality predictions of a torch checkpoint (fused logits with text mask 1, no faces)."""
    import torch

    from ddvlm_ros.training.model import load_checkpoint

    torch.set_num_threads(threads)
    model = load_checkpoint(model_path)
    tok = TextTokenizer(max_length=model.config.max_length)
    seqs = [tok.ids(a, b) for a, b in zip(firsts, contexts, strict=True)]
    preds = np.zeros(len(seqs), dtype=np.int64)
    f = model.config.max_frames
    with torch.no_grad():
        for idx, ids, mask in _batches(seqs, batch_size, tok.pad_id):
            feats, _ = model.text(torch.from_numpy(ids), torch.from_numpy(mask))
            b = len(idx)
            fused, _ = model.fusion(
                feats, torch.ones(b), torch.zeros(b, f, model.config.face_dim), torch.zeros(b, f)
            )
            preds[idx] = fused.argmax(-1).numpy()
    return preds, {"context_turns": model.config.context_turns, "format": "torch-checkpoint"}


def predict_exported(
    model_dir: Path, firsts: list[str], contexts: list[str], batch_size: int, threads: int, backend: str
) -> tuple[np.ndarray, dict]:
    """Text-modality predictions through the node's inference backend (exported ONNX model dir)."""
    from ddvlm_ros.backends import load_backend

    be = load_backend(model_dir, backend=backend, threads=threads)
    meta = be.metadata
    tok = TextTokenizer(model_dir / "tokenizer", max_length=int(meta["max_length"]))
    seqs = [tok.ids(a, b) for a, b in zip(firsts, contexts, strict=True)]
    preds = np.zeros(len(seqs), dtype=np.int64)
    f = int(meta.get("max_frames", 1))
    for idx, ids, mask in _batches(seqs, batch_size, tok.pad_id):
        feats, _ = be.encode_text(ids, mask)
        b = len(idx)
        dv = int(meta.get("face_dim", 128))
        fused, _ = be.fuse(
            feats, np.ones(b, np.float32), np.zeros((b, f, dv), np.float32), np.zeros((b, f), np.float32)
        )
        preds[idx] = np.asarray(fused).argmax(-1)
    return preds, {
        "context_turns": int(meta["context_turns"]),
        "format": f"exported ({be.name})",
        "precision": meta.get("precision"),
    }


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = "test",
    context_turns: int | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    threads: int = 2,
    backend: str = "auto",
) -> dict:
    """Metrics dict (see metrics.compute_metrics) plus run info under 'run'."""
    t0 = time.time()
    model = Path(model)
    utts = read_split(data, split)[: limit or None]
    labels = np.array([u.label for u in utts])
    exported = (model / "metadata.json").is_file()
    if exported:
        ctx = (
            context_turns
            if context_turns is not None
            else int(json.loads((model / "metadata.json").read_text())["context_turns"])
        )
    else:
        from ddvlm_ros.training.model import checkpoint_config  # torch only on this path

        ctx = context_turns if context_turns is not None else int(checkpoint_config(model)["context_turns"])
    firsts, contexts = text_pairs(utts, ctx)
    if exported:
        preds, info = predict_exported(model, firsts, contexts, batch_size, threads, backend)
    else:
        preds, info = predict_checkpoint(model, firsts, contexts, batch_size, threads)
    m = compute_metrics(labels, preds, ["text"])
    m["run"] = info | {
        "model": str(model),
        "split": split,
        "context_turns_used": ctx,
        "wall_s": round(time.time() - t0, 1),
    }
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ddvlm-eval", description=__doc__)
    p.add_argument(
        "--model",
        required=True,
        help="checkpoint dir/file (checkpoint.pt) or exported model dir (metadata.json)",
    )
    p.add_argument("--data", required=True, help="directory with MELD {train,dev,test}_sent_emo.csv")
    p.add_argument("--split", default="test", choices=("train", "dev", "test"))
    p.add_argument("--json", default=None, help="write metrics here (confusion PNG next to it)")
    p.add_argument("--png", default=None, help="confusion-matrix PNG path (default: <json>.png)")
    p.add_argument(
        "--context-turns", type=int, default=None, help="override the model's dialogue context length"
    )
    p.add_argument("--limit", type=int, default=None, help="first N utterances only (smoke runs)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", default="auto", help="for exported models: auto|onnxruntime|tensorrt|torch")
    a = p.parse_args(argv)
    m = evaluate(a.model, a.data, a.split, a.context_turns, a.limit, a.batch_size, a.threads, a.backend)
    print(format_report(m))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(m, indent=2))
        png = Path(a.png) if a.png else Path(a.json).with_suffix(".png")
        save_confusion_png(
            m, png, title=f"{Path(a.model).name} · {a.split} · weighted-F1 {m['weighted_f1']:.3f}"
        )
        print(f"wrote {a.json} and {png}")
    elif a.png:
        save_confusion_png(m, a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
