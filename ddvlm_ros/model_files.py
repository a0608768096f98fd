"""The exported model directory: metadata.json read and sha256-checked, inputs validated against the
shapes and dtypes it records. Shared by every backend (backends.py), export and the tools."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

BRANCHES = ("text", "face", "fusion")
_DTYPES = {"int64": np.int64, "int32": np.int32, "float32": np.float32, "float16": np.float16}


class ModelError(RuntimeError):
    """The model directory is unusable (missing/corrupt files, sha256 mismatch, bad metadata)."""


class InputError(ValueError):
    """An input array does not match the shape/dtype the model declares."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_metadata(model_dir: str | os.PathLike, verify: bool = True) -> dict:
    """Load metadata.json and check that every listed file exists and matches its recorded sha256."""
    model_dir = Path(model_dir)
    meta_path = model_dir / "metadata.json"
    if not meta_path.is_file():
        raise ModelError(f"{meta_path} not found: is {model_dir} an exported model directory (ddvlm-export)?")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{meta_path} is not valid JSON: {exc}") from exc
    for key in ("labels", "files", "sha256", "inputs", "outputs"):
        if key not in meta:
            raise ModelError(f"{meta_path} lacks required key {key!r}")
    for branch in BRANCHES:
        if branch not in meta["files"]:
            raise ModelError(f"{meta_path}: files lacks the {branch!r} graph")
        path = model_dir / meta["files"][branch]
        if not path.is_file():
            raise ModelError(f"model file {path} is missing")
        if verify:
            expected = meta["sha256"].get(meta["files"][branch])
            if expected is None:
                raise ModelError(f"{meta_path}: no sha256 recorded for {meta['files'][branch]}")
            actual = sha256_file(path)
            if actual != expected:
                raise ModelError(
                    f"sha256 mismatch for {path}: metadata says {expected[:12]}…, file is {actual[:12]}… "
                    "(file corrupt or replaced; re-export the model)"
                )
    return meta


def validate_inputs(metadata: dict, branch: str, feeds: dict[str, np.ndarray]) -> None:
    """Check names, dtypes, ranks, fixed sizes and that named dims (B, L, F, ...) agree across inputs."""
    specs = metadata["inputs"][branch]
    expected = [s["name"] for s in specs]
    if sorted(feeds) != sorted(expected):
        raise InputError(f"{branch}: expected inputs {expected}, got {sorted(feeds)}")
    dims: dict[str, tuple[str, int]] = {}
    for spec in specs:
        name, arr = spec["name"], feeds[spec["name"]]
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{branch}.{name}: expected a numpy array, got {type(arr).__name__}")
        want = np.dtype(_DTYPES[spec["dtype"]])
        if arr.dtype != want:
            raise InputError(f"{branch}.{name}: dtype {arr.dtype}, expected {want}")
        shape = spec["shape"]
        if arr.ndim != len(shape):
            raise InputError(f"{branch}.{name}: shape {arr.shape} has rank {arr.ndim}, expected {shape}")
        for axis, (size, dim) in enumerate(zip(arr.shape, shape, strict=True)):
            if isinstance(dim, int):
                if size != dim:
                    raise InputError(
                        f"{branch}.{name}: axis {axis} is {size}, expected {dim} (shape {shape})"
                    )
                continue
            if size == 0:
                raise InputError(f"{branch}.{name}: axis {axis} ({dim}) is empty")
            if dim in dims and dims[dim][1] != size:
                other, other_size = dims[dim]
                raise InputError(f"{branch}: {dim} is {other_size} in {other} but {size} in {name}")
            dims.setdefault(dim, (name, size))
    for dim, (name, size) in dims.items():
        limit = dim_limits(metadata).get(dim)
        if limit is not None and size > limit:
            raise InputError(f"{branch}.{name}: {dim}={size} exceeds the model's maximum {limit}")


def dim_limits(metadata: dict) -> dict[str, int]:
    """Upper bounds of named dims that the model was built for."""
    limits = {}
    if "max_length" in metadata:
        limits["L"] = int(metadata["max_length"])
    if "max_frames" in metadata:
        limits["F"] = int(metadata["max_frames"])
    return limits


def dummy_inputs(metadata: dict, branch: str, sizes: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """Valid all-ones inputs for a branch (warm-up, engine builds, tests); named dims default to 1, L to 8."""
    sizes = {"L": min(8, int(metadata.get("max_length", 8))), **(sizes or {})}
    feeds = {}
    for spec in metadata["inputs"][branch]:
        shape = [d if isinstance(d, int) else sizes.get(d, 1) for d in spec["shape"]]
        feeds[spec["name"]] = np.ones(shape, dtype=_DTYPES[spec["dtype"]])
    return feeds
