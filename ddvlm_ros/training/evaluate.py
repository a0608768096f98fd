"""ddvlm-eval: score a DDVLM checkpoint (or an exported model directory) on a MELD split."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.runtime_model import resolve_model_dir
from ddvlm_ros.training.data import read_split, text_pairs
from ddvlm_ros.training.metrics import compute_metrics, format_report, group_metrics, save_confusion_png

MAIN_CAST = frozenset({"Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross"})


def installed_default_model() -> Path:
    """The installed package's default model directory, or a clear error saying what to do."""
    from ament_index_python.packages import PackageNotFoundError

    try:
        path = resolve_model_dir("")
    except PackageNotFoundError as exc:
        raise FileNotFoundError(
            "ddvlm_ros is not installed (after `make setup`, source scripts/env.sh), so there is no default "
            "model; pass --model"
        ) from exc
    if not (path / "metadata.json").is_file():
        raise FileNotFoundError(f"the installed default model is missing: {path}/metadata.json")
    return path


def speaker_group(speaker: str) -> str:
    """'main_six' for the six Friends leads, 'others' for everyone else (robots meet the others)."""
    return "main_six" if speaker in MAIN_CAST else "others"


def _batches(tok: TextTokenizer, firsts: list[str], contexts: list[str], batch_size: int):
    """Length-sorted batches padded by the tokenizer: yields (indices, input_ids, attention_mask)."""
    lengths = [len(tok.ids(a, b)) for a, b in zip(firsts, contexts, strict=True)]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        ids, mask = tok.encode([firsts[i] for i in idx], [contexts[i] for i in idx])
        yield idx, ids, mask


def predict_checkpoint(
    model_path: Path, firsts: list[str], contexts: list[str], batch_size: int, threads: int
) -> tuple[np.ndarray, dict]:
    """Text-modality predictions of a torch checkpoint (fused logits with text mask 1, no faces)."""
    import torch

    from ddvlm_ros.training.checkpoints import load_checkpoint
    from ddvlm_ros.training.face_branch import face_feature_dim

    torch.set_num_threads(threads)
    model = load_checkpoint(model_path)
    tok = TextTokenizer(max_length=model.config.max_length)
    preds = np.zeros(len(firsts), dtype=np.int64)
    f = model.config.max_frames
    with torch.no_grad():
        for idx, ids, mask in _batches(tok, firsts, contexts, batch_size):
            feats, _ = model.text(torch.from_numpy(ids), torch.from_numpy(mask))
            b = len(idx)
            fused, _ = model.fusion(
                feats, torch.ones(b), torch.zeros(b, f, face_feature_dim(model.config)), torch.zeros(b, f)
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
    preds = np.zeros(len(firsts), dtype=np.int64)
    f = int(meta.get("max_frames", 1))
    for idx, ids, mask in _batches(tok, firsts, contexts, batch_size):
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
    model: str | Path | None,
    data: str | Path,
    split: str = "test",
    context_turns: int | None = None,
    limit: int | None = None,
    batch_size: int = 64,
    threads: int = 2,
    backend: str = "auto",
) -> dict:
    """Metrics (metrics.compute_metrics), speaker groups and run info; model None = installed default."""
    t0 = time.time()
    model = Path(model) if model is not None else installed_default_model()
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
        from ddvlm_ros.training.checkpoints import checkpoint_config  # torch only on this path

        ctx = context_turns if context_turns is not None else int(checkpoint_config(model)["context_turns"])
    firsts, contexts = text_pairs(utts, ctx)
    if exported:
        preds, info = predict_exported(model, firsts, contexts, batch_size, threads, backend)
    else:
        preds, info = predict_checkpoint(model, firsts, contexts, batch_size, threads)
    m = compute_metrics(labels, preds, ["text"])
    m["speaker_groups"] = group_metrics(labels, preds, [speaker_group(u.speaker) for u in utts])
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
        default=None,
        help="checkpoint dir/file (checkpoint.pt) or exported model dir (metadata.json); "
        "default: the installed package's default model",
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
    print(f"model {m['run']['model']} ({m['run']['format']}), MELD {a.split}")
    print(format_report(m))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(m, indent=2))
        png = Path(a.png) if a.png else Path(a.json).with_suffix(".png")
        save_confusion_png(
            m, png, title=f"{Path(m['run']['model']).name} · {a.split} · weighted-F1 {m['weighted_f1']:.3f}"
        )
        print(f"wrote {a.json} and {png}")
    elif a.png:
        save_confusion_png(m, a.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
