"""Inference backends: selection and its log, validation errors, ORT vs torch (TensorRT: test_tensorrt.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ddvlm_ros.backends import (
    BackendUnavailable,
    InputError,
    ModelError,
    load_backend,
    select_backend,
)
from ddvlm_ros.tensorrt_backend import tensorrt_status
from ddvlm_ros.training.checkpoints import load_checkpoint, save_checkpoint
from ddvlm_ros.training.export import export, load_woq_config
from ddvlm_ros.training.model import DDVLM

TRT_OK, TRT_WHY = tensorrt_status()


class ListLogger:
    """Collects log lines (the interface rclpy loggers and logging.Logger share)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def warning(self, msg: str) -> None:
        self.lines.append(msg)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WOQ model directory with its checkpoint inside (for the torch reference backend)."""
    torch.set_num_threads(1)
    torch.manual_seed(1)
    out = tmp_path_factory.mktemp("models") / "ddvlm-test"
    save_checkpoint(DDVLM.pretrained(), out / "checkpoint.pt")
    export(
        load_checkpoint(out / "checkpoint.pt"),
        out,
        precision="woq-int8",
        woq_config=load_woq_config(None),
        source={"checkpoint": "checkpoint.pt"},
    )
    return out


@pytest.fixture
def copy_dir(model_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "m"
    shutil.copytree(model_dir, dst)
    return dst


@pytest.fixture(scope="module")
def ort_backend(model_dir: Path):
    return load_backend(model_dir, "onnxruntime", threads=1)


@pytest.mark.slow
def test_auto_picks_onnxruntime_without_gpu_and_says_why(model_dir: Path) -> None:
    if TRT_OK:
        pytest.skip(f"this machine has TensorRT and a GPU ({TRT_WHY}); auto would pick tensorrt")
    log = ListLogger()
    backend = load_backend(model_dir, "auto", threads=1, logger=log)
    assert backend.name == "onnxruntime"
    line = next(x for x in log.lines if x.startswith("backend onnxruntime"))
    assert "auto" in line and "tensorrt" in line and "threads=1" in line and "warm-up" in line
    assert "woq-int8" in line


def test_explicit_tensorrt_without_gpu_fails_clearly() -> None:
    if TRT_OK:
        pytest.skip("TensorRT is usable here")
    with pytest.raises(BackendUnavailable, match="backend=tensorrt requested but"):
        select_backend("tensorrt")


def test_unknown_backend_and_bad_threads(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        load_backend(model_dir, "openvino")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        load_backend(model_dir, "onnxruntime", threads=0)


def test_outputs_have_contract_shapes(ort_backend) -> None:
    ids = np.full((2, 10), 2000, dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    feats, logits = ort_backend.encode_text(ids, np.ones_like(ids))
    assert feats.shape == (2, 384) and logits.shape == (2, 7) and feats.dtype == np.float32
    faces = ort_backend.encode_faces(np.zeros((3, 1, 64, 64), np.float32))
    assert faces.shape == (3, ort_backend.metadata["face_dim"])  # trunk features + FER logits
    fused, visual = ort_backend.fuse(
        feats, np.ones(2, np.float32), np.stack([faces, faces]), np.ones((2, 3), np.float32)
    )
    assert fused.shape == visual.shape == (2, 7)
    assert np.isfinite(fused).all()


def test_torch_reference_agrees_with_onnxruntime(model_dir: Path) -> None:
    # the graphs as stored (the export's fidelity); INT8 compute vs weight-only: test_int8_compute.py
    ort_backend = load_backend(model_dir, "onnxruntime", threads=1, precision="weights-only")
    ref = load_backend(model_dir, "torch", threads=1)
    assert ref.name == "torch"
    rng = np.random.default_rng(4)
    ids = rng.integers(1000, 9000, (3, 24)).astype(np.int64)
    ids[:, 0], ids[:, 12] = 101, 102
    mask = np.ones_like(ids)
    f_ref, l_ref = ref.encode_text(ids, mask)
    f, logits = ort_backend.encode_text(ids, mask)
    cos = (f * f_ref).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(f_ref, axis=1)
    assert cos.min() > 0.99
    assert np.abs(logits - l_ref).max() < 0.1
    faces = rng.random((2, 1, 64, 64), dtype=np.float32)
    np.testing.assert_allclose(ort_backend.encode_faces(faces), ref.encode_faces(faces), atol=1e-4)


@pytest.mark.parametrize(
    ("feeds", "match"),
    [
        (
            {"input_ids": np.ones((1, 5), np.int32), "attention_mask": np.ones((1, 5), np.int64)},
            "dtype int32",
        ),
        ({"input_ids": np.ones(5, np.int64), "attention_mask": np.ones(5, np.int64)}, "rank 1"),
        ({"input_ids": np.ones((2, 5), np.int64), "attention_mask": np.ones((1, 5), np.int64)}, "B is 2"),
        ({"input_ids": np.ones((1, 5), np.int64), "attention_mask": np.ones((1, 6), np.int64)}, "L is 5"),
        (
            {"input_ids": np.ones((1, 129), np.int64), "attention_mask": np.ones((1, 129), np.int64)},
            "maximum 128",
        ),
        ({"input_ids": np.ones((0, 5), np.int64), "attention_mask": np.ones((0, 5), np.int64)}, "empty"),
    ],
)
def test_text_input_validation(ort_backend, feeds: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        ort_backend.encode_text(feeds["input_ids"], feeds["attention_mask"])


def test_face_and_fusion_input_validation(ort_backend) -> None:
    with pytest.raises(InputError, match="axis 2 is 32, expected 64"):
        ort_backend.encode_faces(np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(InputError, match="dtype float64"):
        ort_backend.encode_faces(np.zeros((1, 1, 64, 64)))
    with pytest.raises(InputError, match="numpy array"):
        ort_backend.encode_faces([[0.0]])
    tf, ff = np.zeros((1, 384), np.float32), np.zeros((1, 4, ort_backend.metadata["face_dim"]), np.float32)
    with pytest.raises(InputError, match="F is 4 in face_features but 3 in face_mask"):
        ort_backend.fuse(tf, np.ones(1, np.float32), ff, np.ones((1, 3), np.float32))
    with pytest.raises(InputError, match="axis 1 is 256, expected 384"):
        ort_backend.fuse(
            np.zeros((1, 256), np.float32), np.ones(1, np.float32), ff, np.ones((1, 4), np.float32)
        )


def test_missing_metadata_and_files(copy_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="metadata.json not found"):
        load_backend(tmp_path / "nowhere", "onnxruntime")
    (copy_dir / "face.onnx").unlink()
    with pytest.raises(ModelError, match="face.onnx is missing"):
        load_backend(copy_dir, "onnxruntime")


def test_sha256_mismatch(copy_dir: Path) -> None:
    with open(copy_dir / "fusion.onnx", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="sha256 mismatch for .*fusion.onnx"):
        load_backend(copy_dir, "onnxruntime")


def test_corrupt_onnx_with_matching_sha(copy_dir: Path) -> None:
    (copy_dir / "fusion.onnx").write_bytes(b"this is not a protobuf")
    meta = json.loads((copy_dir / "metadata.json").read_text())
    from ddvlm_ros.backends import sha256_file

    meta["sha256"]["fusion.onnx"] = sha256_file(copy_dir / "fusion.onnx")
    (copy_dir / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="onnxruntime cannot load .*fusion.onnx"):
        load_backend(copy_dir, "onnxruntime")


def test_bad_metadata(copy_dir: Path) -> None:
    (copy_dir / "metadata.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_backend(copy_dir, "onnxruntime")
    (copy_dir / "metadata.json").write_text(json.dumps({"labels": []}))
    with pytest.raises(ModelError, match="lacks required key 'files'"):
        load_backend(copy_dir, "onnxruntime")


# TensorRT: test/test_tensorrt.py (selection reasons, cache key, profiles, static check, GPU engine).


def test_a_subset_of_graphs_loads_and_the_others_fail_clearly(model_dir: Path) -> None:
    """The vision process loads only the face graph; asking it for text is an error, not a silent zero."""
    face_only = load_backend(model_dir, backend="onnxruntime", precision="int8", branches=("face",))
    assert face_only.branches == ("face",) and set(face_only.sessions) == {"face"}
    assert face_only.encode_faces(np.zeros((1, 1, 64, 64), np.float32)).shape[0] == 1
    with pytest.raises(ModelError, match="text graph was not loaded"):
        face_only.encode_text(np.zeros((1, 4), np.int64), np.ones((1, 4), np.int64))
    with pytest.raises(ValueError, match="subset"):
        load_backend(model_dir, backend="onnxruntime", branches=("audio",))
