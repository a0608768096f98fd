"""TensorRT path up to the GPU boundary: selection reasons, engine cache key, profiles and chunking, the FP16
graph variant (torch-free conversion, accuracy on real MELD text with ONNX Runtime), the static
compatibility check; the engine itself only where a GPU is (skipped here with the probe's reason)."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_node_harness import MELD

from ddvlm_ros import cuda_runtime
from ddvlm_ros import tensorrt_backend as trtb
from ddvlm_ros.backends import BackendUnavailable, load_backend, read_metadata, select_backend
from ddvlm_ros.cuda_runtime import DeviceInfo, classify_device_count
from ddvlm_ros.trt_compat import check_graph, check_model_dir, check_profile
from ddvlm_ros.trt_graph import fp16_emulation, to_tensorrt_fp16

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ddvlm-meld-v3"
PROBE = trtb.probe()


class ListLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def warning(self, msg: str) -> None:
        self.lines.append(f"WARNING {msg}")


@pytest.fixture(scope="module")
def meta() -> dict:
    return read_metadata(MODEL)


@pytest.fixture(scope="module")
def trt_graphs(meta: dict) -> dict[str, onnx.ModelProto]:
    return {
        b: to_tensorrt_fp16(onnx.load(str(MODEL / meta["files"][b])))[0] for b in ("text", "face", "fusion")
    }


# --- selection: why auto chose what it chose ------------------------------------------------------
def test_probe_here_names_the_missing_part() -> None:
    if PROBE.ok:
        pytest.skip(f"TensorRT runs here: {PROBE.message}")
    assert PROBE.reason in ("no-tensorrt", "no-cuda-bindings", "no-driver", "no-device", "tensorrt-version")
    chosen, why = select_backend("auto")
    assert chosen == "onnxruntime" and PROBE.reason in why and PROBE.message in why
    with pytest.raises(BackendUnavailable, match=f"backend=tensorrt requested but {PROBE.reason}"):
        select_backend("tensorrt")


def _fake_tensorrt(monkeypatch: pytest.MonkeyPatch, version: str = "10.3.0") -> types.ModuleType:
    """A stand-in `tensorrt` module: the real one cannot be imported without a GPU.

    Only the import machinery is faked (sys.modules); its parser rejects every graph, which is what the
    build-failure test needs.
    """
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    class Parser:
        num_errors = 1

        def __init__(self, network: object, logger: object) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            return False

        def get_error(self, i: int) -> str:
            return "fake parser: unsupported node"

    class Builder:
        def __init__(self, logger: object) -> None:
            pass

        def create_network(self, flags: int) -> object:
            return object()

    trt.Logger, trt.OnnxParser, trt.Builder = Logger, Parser, Builder
    trt.Runtime = lambda logger: object()
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=0)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, error: str, count: int) -> None:
    """A stand-in cuda-python runtime module (cuda.bindings.runtime) answering cudaGetDeviceCount."""
    runtime = types.ModuleType("cuda.bindings.runtime")
    err = types.SimpleNamespace(name=error)
    ok = types.SimpleNamespace(name="cudaSuccess")
    runtime.cudaGetDeviceCount = lambda: (err, count)
    props = types.SimpleNamespace(name=b"NVIDIA Fake Orin", major=8, minor=7)
    runtime.cudaGetDeviceProperties = lambda i: (ok, props)
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings
    for name, module in (("cuda", cuda), ("cuda.bindings", bindings), ("cuda.bindings.runtime", runtime)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(cuda_runtime, "driver_library_found", lambda: True)  # as on a machine with a driver


def _block_cuda_python(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules = ImportError on import


def test_reason_no_cuda_bindings_with_cpu_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """tensorrt faked (no GPU here); cuda-python blocked; torch is the real CPU build of this venv."""
    import torch

    if torch.version.cuda is not None:
        pytest.skip("this torch is a CUDA build")
    _fake_tensorrt(monkeypatch)
    _block_cuda_python(monkeypatch)
    result = trtb.probe()
    assert not result.ok and result.reason == "no-cuda-bindings"
    assert "cuda-python is not installed" in result.message and "CPU build" in result.message
    assert "pip install 'cuda-python" in result.message


@pytest.mark.parametrize(
    ("error", "count", "reason", "words"),
    [
        ("cudaErrorNoDevice", 0, "no-device", "no CUDA-capable device"),
        ("cudaSuccess", 0, "no-device", "0 devices"),
        ("cudaErrorInsufficientDriver", 0, "no-driver", "older than the CUDA runtime"),
        ("cudaErrorInitializationError", 0, "no-driver", "cannot be initialised"),
    ],
)
def test_reason_driver_and_device(monkeypatch, error: str, count: int, reason: str, words: str) -> None:
    """tensorrt and cuda-python faked through sys.modules: neither can run without a GPU here."""
    _fake_tensorrt(monkeypatch)
    _fake_cuda(monkeypatch, error, count)
    result = trtb.probe()
    assert (result.ok, result.reason) == (False, reason) and words in result.message
    chosen, why = select_backend("auto")
    assert chosen == "onnxruntime" and reason in why


def test_reason_tensorrt_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tensorrt(monkeypatch, version="8.6.1")
    result = trtb.probe()
    assert result.reason == "tensorrt-version" and "8.6.1" in result.message


def test_reason_a_tensorrt_that_is_not_nvidias(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module merely named tensorrt (e.g. benchmarks/tensorrt.py on sys.path) is not TensorRT."""
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    result = trtb.probe()
    assert result.reason == "no-tensorrt" and "not NVIDIA's" in result.message


def test_reason_tensorrt_installed_but_its_libraries_do_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """An import that fails with OSError (as a tensorrt wheel without libnvinfer/libcuda does), through a
    meta-path finder: the real wheel cannot be installed here."""
    import importlib.abc

    class Broken(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tensorrt":
                raise OSError("libnvinfer.so.10: cannot open shared object file")
            return None

    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    result = trtb.probe()
    assert result.reason == "no-tensorrt" and "does not load (OSError: libnvinfer" in result.message


def test_benchmark_without_gpu_exits_0_with_one_line() -> None:
    if PROBE.ok:
        pytest.skip("a GPU is here: the benchmark would run")
    import subprocess

    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "tensorrt.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0
    assert run.stdout.strip().splitlines() == [f"tensorrt benchmark skipped: {PROBE.reason}: {PROBE.message}"]


def test_classify_device_count() -> None:
    assert classify_device_count("cudaSuccess", 1) is None
    assert classify_device_count("cudaErrorNoDevice", 0)[0] == "no-device"
    assert classify_device_count("cudaErrorSystemDriverMismatch", 0)[0] == "no-driver"
    reason, words = classify_device_count("cudaErrorInsufficientDriver", None, driver_found=False)
    assert reason == "no-driver" and "libcuda.so.1 cannot be loaded" in words


def test_real_cuda_python_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real cuda-python runtime API (optional extra `tensorrt`) on a machine without an NVIDIA driver;
    tensorrt itself is faked through sys.modules because it cannot be imported without a GPU."""
    pytest.importorskip(
        "cuda.bindings.runtime", reason="cuda-python not installed (setup.py extra 'tensorrt')"
    )
    from ddvlm_ros.cuda_runtime import driver_library_found

    if driver_library_found():
        pytest.skip("an NVIDIA driver is installed here")
    _fake_tensorrt(monkeypatch)
    result = trtb.probe()
    assert result.reason == "no-driver" and "libcuda.so.1 cannot be loaded" in result.message


def test_auto_logs_engine_build_failure_and_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GPU faked (tensorrt + cuda-python via sys.modules); the graph conversion and static check before
    the build are the real ones; the fake parser then rejects the graph, as a real failed build would."""
    _fake_tensorrt(monkeypatch)
    _fake_cuda(monkeypatch, "cudaSuccess", 1)
    assert trtb.probe().ok
    log = ListLogger()
    backend = load_backend(MODEL, "auto", logger=log, cache_dir=tmp_path)
    assert backend.name == "onnxruntime"
    warning = next(x for x in log.lines if x.startswith("WARNING"))
    assert "TensorRT engine build failed" in warning and "fake parser" in warning
    line = next(x for x in log.lines if x.startswith("backend onnxruntime"))
    assert "because the TensorRT engine build failed" in line
    assert len(list(tmp_path.glob("text-*.onnx"))) == 1  # the converted variant is cached
    with pytest.raises(Exception, match="fake parser"):
        load_backend(MODEL, "tensorrt", logger=log, cache_dir=tmp_path)


# --- engine cache key, profiles, chunking ----------------------------------------------------------
def test_engine_cache_key_changes_with_each_component(tmp_path: Path) -> None:
    orin = DeviceInfo("Orin", (8, 7), "cuda-python 12.6.2")
    base = dict(device=orin, trt_version="10.3.0", onnx_sha256="a" * 64, build_options={"max_batch": 64})
    key = trtb.engine_cache_key(**base)
    assert key == trtb.engine_cache_key(**{**base, "device": DeviceInfo("Orin", (8, 7), "torch 2.5")})
    for field, value in (
        ("device", DeviceInfo("NVIDIA H100", (8, 7), "x")),
        ("device", DeviceInfo("Orin", (9, 0), "x")),
        ("trt_version", "10.4.0"),
        ("onnx_sha256", "b" * 64),
        ("build_options", {"max_batch": 16}),
    ):
        assert trtb.engine_cache_key(**{**base, field: value}) != key, field
    assert trtb.engine_cache_path(tmp_path, "text", key) == tmp_path / f"text-{key}.engine"


def test_profiles_cover_the_callers(meta: dict) -> None:
    from ddvlm_ros.training.evaluate import evaluate

    text = trtb.optimization_profile(meta, "text")
    assert text["input_ids"] == ((1, 1), (1, 64), (64, 128))
    assert trtb.optimization_profile(meta, "face")["faces"] == (
        (1, 1, 64, 64),
        (1, 1, 64, 64),
        (512, 1, 64, 64),
    )
    face_spec = next(s for s in meta["inputs"]["fusion"] if s["name"] == "face_features")
    assert trtb.optimization_profile(meta, "fusion")["face_features"][2] == (
        64,
        meta["max_frames"],
        face_spec["shape"][2],
    )
    eval_batch = evaluate.__defaults__[evaluate.__code__.co_varnames.index("batch_size") - 2]
    assert eval_batch <= trtb.batch_limit(text)  # ddvlm-eval's default batch fits without chunking


def test_chunks_split_and_rejoin() -> None:
    feeds = {"a": np.arange(150 * 3).reshape(150, 3), "b": np.arange(150)}
    parts = trtb.chunks(feeds, 64)
    assert [len(p["b"]) for p in parts] == [64, 64, 22]
    np.testing.assert_array_equal(np.concatenate([p["a"] for p in parts]), feeds["a"])
    assert trtb.chunks(feeds, 150) == [feeds]
    with pytest.raises(ValueError, match="disagree on axis 0"):
        trtb.chunks({"a": np.zeros((2, 1)), "b": np.zeros(3)}, 1)


# --- the FP16 TensorRT variant ---------------------------------------------------------------------
def test_variant_is_fp16_with_the_same_int8_weights(meta: dict, trt_graphs: dict) -> None:
    woq = onnx.load(str(MODEL / meta["files"]["text"]))
    trt = trt_graphs["text"]
    assert next(o.version for o in trt.opset_import if o.domain == "") >= 19
    int8 = {
        t.name: numpy_helper.to_array(t) for t in woq.graph.initializer if t.data_type == TensorProto.INT8
    }
    same = {
        t.name: numpy_helper.to_array(t) for t in trt.graph.initializer if t.data_type == TensorProto.INT8
    }
    assert int8 and set(int8) == set(same)
    assert all(np.array_equal(int8[k], same[k]) for k in int8)
    assert not [
        t.name for t in trt.graph.initializer if t.data_type == TensorProto.FLOAT and "fp32" not in t.name
    ]
    dq = [n for n in trt.graph.node if n.op_type == "DequantizeLinear"]
    scales = {t.name: t.data_type for t in trt.graph.initializer}
    assert dq and all(scales[n.input[1]] == TensorProto.FLOAT16 for n in dq)
    gathers = [n for n in trt.graph.node if n.op_type == "Gather" and n.input[0] in {d.output[0] for d in dq}]
    assert len(gathers) == 1  # the word-embedding table: DequantizeLinear → Gather
    for value in [*trt.graph.input, *trt.graph.output]:
        assert value.type.tensor_type.elem_type in (TensorProto.FLOAT, TensorProto.INT64)


def _meld_text_batch(meta: dict, n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    from ddvlm_ros.preprocessing import TextTokenizer
    from ddvlm_ros.training.data import read_split, text_pairs

    utts = read_split(MELD, "test")[:n]
    firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
    tok = TextTokenizer(MODEL / "tokenizer", max_length=int(meta["max_length"]))
    return tok.encode(firsts, contexts)


def test_variant_matches_the_woq_graph_on_meld_text(meta: dict, trt_graphs: dict) -> None:
    """ONNX Runtime runs the exact TensorRT graph and its FP16-rounding twin on real MELD utterances."""
    ids, mask = _meld_text_batch(meta)
    feeds = {"input_ids": ids, "attention_mask": mask}
    ref = ort.InferenceSession(str(MODEL / meta["files"]["text"]), providers=["CPUExecutionProvider"]).run(
        None, feeds
    )
    off = ort.SessionOptions()
    off.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    for graph, options in ((trt_graphs["text"], None), (fp16_emulation(trt_graphs["text"]), off)):
        sess = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feats, logits = sess.run(None, feeds)
        assert feats.dtype == np.float32 and np.isfinite(logits).all()
        assert np.abs(logits - ref[1]).max() < 0.1
        assert (logits.argmax(1) == ref[1].argmax(1)).mean() >= 0.9


# --- static TensorRT-compatibility check ---------------------------------------------------------
def test_static_check_fails_on_the_int8_gather_graph(meta: dict) -> None:
    text = onnx.load(str(MODEL / meta["files"]["text"]))
    findings = check_graph(text, trtb.optimization_profile(meta, "text"))
    messages = [str(f) for f in findings]
    assert any(
        "Gather" in m and "INT8" in m and f.rule == "dtype" for m, f in zip(messages, findings, strict=True)
    )
    assert any(f.rule == "quantized-type" and "feeds Gather" in f.message for f in findings)
    assert any("Cast" in m and "INT8" in m for m in messages)
    assert any("CumSum" in m and "INT64" in m for m in messages)
    fp32 = check_graph(text, require_fp16=True)
    assert any(f.rule == "fp32-compute" and "MatMul" in f.node for f in fp32)


def test_static_check_passes_on_the_tensorrt_variant() -> None:
    results = check_model_dir(MODEL)
    assert results == {"text": [], "face": [], "fusion": []}, results


def _tiny(op: str, domain: str = "", **attrs: object) -> onnx.ModelProto:
    node = helper.make_node(op, ["x"], ["y"], domain=domain, **attrs)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["B", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["B", 4])
    opsets = [helper.make_opsetid("", 19)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(helper.make_graph([node], "g", [x], [y]), opset_imports=opsets)


def test_static_check_vendor_ops_attributes_opset_and_profiles() -> None:
    assert check_graph(_tiny("Relu")) == []
    assert [f.rule for f in check_graph(_tiny("FastGelu", domain="com.microsoft"))] == ["vendor-op"]
    assert [f.rule for f in check_graph(_tiny("Relu", bogus=1))] == ["attribute"]
    assert [f.rule for f in check_graph(_tiny("Hardmax"))] == ["restriction"]
    old = _tiny("Relu")
    old.opset_import[0].version = 8
    assert "opset" in [f.rule for f in check_graph(old)]
    good = {"x": ((1, 4), (1, 4), (64, 4))}
    assert check_profile(_tiny("Relu"), good) == []
    assert check_profile(_tiny("Relu"), {"x": ((1, 4), (1, 4), (64, 8))})[0].rule == "profile"
    assert check_profile(_tiny("Relu"), {})[0].message == "no optimization-profile entry"


def test_static_check_on_a_fresh_face_or_fusion_export_is_generic(tmp_path: Path, meta: dict) -> None:
    """Whatever face/fusion graphs the model directory holds, the variant passes with metadata's profile."""
    for branch in ("face", "fusion"):
        model, _ = to_tensorrt_fp16(onnx.load(str(MODEL / meta["files"][branch])))
        assert check_graph(model, trtb.optimization_profile(meta, branch), require_fp16=True) == []


# --- the engine (GPU only) -------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(
    not PROBE.ok, reason=f"TensorRT engine tests need TensorRT and a CUDA GPU: {PROBE.message}"
)
def test_tensorrt_engine_matches_onnxruntime_and_is_cached(meta: dict, tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    shutil.copytree(MODEL, model_dir, ignore=shutil.ignore_patterns("checkpoint"))
    log = ListLogger()
    engine = load_backend(model_dir, "tensorrt", logger=log, cache_dir=tmp_path / "engines")
    assert any("building text engine" in x for x in log.lines)
    assert len(list((tmp_path / "engines").glob("*.engine"))) == 3
    ref = load_backend(model_dir, "onnxruntime", precision="weights-only")
    ids, mask = _meld_text_batch(meta, n=80)  # > max batch 64: chunked
    f_trt, l_trt = engine.encode_text(ids, mask)
    f_ort, l_ort = ref.encode_text(ids, mask)
    assert l_trt.shape == l_ort.shape and np.abs(l_trt - l_ort).max() < 0.1
    faces = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    assert np.abs(engine.encode_faces(faces) - ref.encode_faces(faces)).max() < 0.05
    log2 = ListLogger()
    load_backend(model_dir, "tensorrt", logger=log2, cache_dir=tmp_path / "engines")
    assert any("loading cached engine" in x for x in log2.lines)
    assert not any("building" in x for x in log2.lines)
    assert json.loads((model_dir / "metadata.json").read_text())["precision"] == meta["precision"]
