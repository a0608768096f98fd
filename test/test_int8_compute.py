"""INT8 compute from the WOQ weights: the load-time rewrite (int8_compute.py) and the ORT precision option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ddvlm_ros.backends import ModelError, load_backend, sha256_file
from ddvlm_ros.int8_compute import rewrite_int8_compute, woq_weight_layers
from ddvlm_ros.preprocessing import TextTokenizer
from ddvlm_ros.training.quantize import WoqConfig, quantize_woq

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "ddvlm-meld-v3"
INTEGER_OPS = {"MatMulInteger", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}


class ListLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def warning(self, msg: str) -> None:
        self.lines.append(msg)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], optimized: Path | None = None) -> list:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if optimized is not None:
        options.optimized_model_filepath = str(optimized)
    sess = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _attention_like_fp32(rng: np.random.Generator, d: int = 64) -> onnx.ModelProto:
    """x → LayerNorm → Q, K, V projections (one shared input) → sum → FFN up/down: a transformer's shape."""
    inits = {
        "ln_g": np.ones(d, np.float32),
        "ln_b": np.zeros(d, np.float32),
        "wq": rng.standard_normal((d, d)).astype(np.float32) * 0.1,
        "wk": rng.standard_normal((d, d)).astype(np.float32) * 0.1,
        "wv": rng.standard_normal((d, d)).astype(np.float32) * 0.1,
        "w1": rng.standard_normal((d, 4 * d)).astype(np.float32) * 0.1,
        "b1": rng.standard_normal(4 * d).astype(np.float32) * 0.1,
        "w2": rng.standard_normal((4 * d, 7)).astype(np.float32) * 0.1,
    }
    nodes = [
        helper.make_node("LayerNormalization", ["x", "ln_g", "ln_b"], ["h"], axis=-1, name="ln"),
        helper.make_node("MatMul", ["h", "wq"], ["q"], name="layer.0/query/MatMul"),
        helper.make_node("MatMul", ["h", "wk"], ["k"], name="layer.0/key/MatMul"),
        helper.make_node("MatMul", ["h", "wv"], ["v"], name="layer.0/value/MatMul"),
        helper.make_node("Sum", ["q", "k", "v"], ["s"], name="sum"),
        helper.make_node("MatMul", ["s", "w1"], ["u"], name="layer.0/ffn_in/MatMul"),
        helper.make_node("Add", ["u", "b1"], ["ub"], name="bias"),
        helper.make_node("Relu", ["ub"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="out/MatMul"),
    ]
    graph = helper.make_graph(
        nodes,
        "attention_like",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "L", d])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "L", 7])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def woq_small() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    woq, report = quantize_woq(
        _attention_like_fp32(rng), WoqConfig(keep_output_layers=False, min_elements=16)
    )
    assert len(report.quantized) == 5
    return woq


def test_rewrite_computes_with_the_stored_int8_weights_and_scales(woq_small: onnx.ModelProto) -> None:
    stored = {t.name: t for t in woq_small.graph.initializer}
    rewritten, report = rewrite_int8_compute(woq_small)
    inits = {t.name: t for t in rewritten.graph.initializer}
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("MatMulInteger") == 5 and len(report.matmuls) == 5
    assert "DequantizeLinear" not in ops and "MatMul" not in ops
    # Q, K and V read one activation: one quantizer for the three (plus ffn_in, out)
    assert ops.count("DynamicQuantizeLinear") == report.activation_quantizers == 3
    for node in (n for n in rewritten.graph.node if n.op_type == "MatMulInteger"):
        weight = inits[node.input[1]]
        assert weight.data_type == TensorProto.INT8
        assert weight.name in stored and weight.raw_data == stored[weight.name].raw_data  # not re-quantized
    scale_inputs = {i for n in rewritten.graph.node if n.op_type == "Mul" for i in n.input}
    dq_scales = {n.input[1] for n in woq_small.graph.node if n.op_type == "DequantizeLinear"}
    assert dq_scales <= scale_inputs  # the WOQ scales themselves, no new ones
    onnx.checker.check_model(rewritten, full_check=True)


def test_rewrite_is_close_to_weight_only_but_really_runs(woq_small: onnx.ModelProto, tmp_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((2, 9, 64)).astype(np.float32)
    ref = _run(woq_small, {"x": x})[0]
    rewritten, _ = rewrite_int8_compute(woq_small)
    got = _run(rewritten, {"x": x}, optimized=tmp_path / "opt.onnx")[0]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert 0 < err < 0.03, err  # activation rounding shows (> 0) and stays small
    optimized_ops = {n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node}
    assert optimized_ops & INTEGER_OPS and "MatMulNBits" not in optimized_ops


def test_excluded_and_asymmetric_layers_stay_weight_only_and_are_named(woq_small: onnx.ModelProto) -> None:
    model = onnx.ModelProto()
    model.CopyFrom(woq_small)
    dq = next(n for n in model.graph.node if n.op_type == "DequantizeLinear")
    zp_name = dq.input[0] + "_zp"
    w = next(t for t in model.graph.initializer if t.name == dq.input[0])
    model.graph.initializer.append(numpy_helper.from_array(np.full(w.dims[1], 3, np.int8), zp_name))
    dq.input.append(zp_name)
    rewritten, report = rewrite_int8_compute(model, exclude=("out/*",))
    assert report.skipped["out/MatMul"] == "excluded by pattern"
    assert any("zero point" in why for why in report.skipped.values())
    assert len(report.matmuls) == 3
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("DequantizeLinear") == 2 and ops.count("MatMul") == 2


def _woq_conv(rng: np.random.Generator, group: int) -> tuple[onnx.ModelProto, np.ndarray]:
    """Conv(3x3, bias) on 8 channels, INT8 per-output-channel weights behind DequantizeLinear."""
    cout, cin = 8, 8 // group
    w = rng.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.2
    b = rng.standard_normal(cout).astype(np.float32) * 0.1
    amax = np.abs(w).reshape(cout, -1).max(1)
    scale = (amax / 127).astype(np.float32)
    q = np.clip(np.rint(w / scale[:, None, None, None]), -127, 127).astype(np.int8)
    io = (
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 12, 12])],
    )
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=group, name="conv")
    woq = helper.make_graph(
        [
            helper.make_node("DequantizeLinear", ["wq", "ws"], ["wd"], axis=0, name="dq"),
            helper.make_node("Conv", ["x", "wd", "b"], ["y"], **conv),
        ],
        "woq_conv",
        *io,
        [
            numpy_helper.from_array(q, "wq"),
            numpy_helper.from_array(scale, "ws"),
            numpy_helper.from_array(b, "b"),
        ],
    )
    return helper.make_model(woq, opset_imports=[helper.make_opsetid("", 17)]), q


@pytest.mark.parametrize("group", [1, 8])
def test_conv_rewrite_uses_conv_integer_and_matches_weight_only(group: int) -> None:
    woq, q = _woq_conv(np.random.default_rng(group), group)
    rewritten, report = rewrite_int8_compute(woq)
    assert report.convs == ["conv"]
    core = next(n for n in rewritten.graph.node if n.op_type == "ConvInteger")
    weight = next(t for t in rewritten.graph.initializer if t.name == core.input[1])
    assert np.array_equal(numpy_helper.to_array(weight), q)
    assert next(a.i for a in core.attribute if a.name == "group") == group
    x = np.random.default_rng(5).random((1, 8, 12, 12), dtype=np.float32)
    ref, got = _run(woq, {"x": x})[0], _run(rewritten, {"x": x})[0]
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert 0 < err < 0.03, err


# --- the shipped artifact -------------------------------------------------------------------------
def _sentences() -> dict[str, np.ndarray]:
    tok = TextTokenizer(MODEL_DIR / "tokenizer", max_length=128)
    ids, mask = tok.encode(
        ["Oh my God, you got the job!", "I don't want to talk about it.", "Okay."],
        ["Ross: we need to talk", "Monica: what happened?", ""],
    )
    return {"input_ids": ids, "attention_mask": mask}


def test_artifact_rewrite_covers_every_woq_layer_with_its_own_bytes() -> None:
    woq = onnx.load(str(MODEL_DIR / "text.onnx"))
    stored = {t.name: t.raw_data for t in woq.graph.initializer if t.data_type == TensorProto.INT8}
    woq_matmuls = sum(
        1
        for n in woq.graph.node
        if n.op_type == "MatMul"
        and any(d.output[0] == n.input[1] for d in woq.graph.node if d.op_type == "DequantizeLinear")
    )
    rewritten, report = rewrite_int8_compute(woq)
    assert woq_matmuls > 0 and len(report.matmuls) == woq_matmuls and not report.skipped
    inits = {t.name: t for t in rewritten.graph.initializer}
    for node in (n for n in rewritten.graph.node if n.op_type == "MatMulInteger"):
        assert inits[node.input[1]].raw_data == stored[node.input[1]]
    feeds = _sentences()
    ref, got = _run(woq, feeds)[1], _run(rewritten, feeds)[1]
    assert 0 < np.abs(got - ref).max() < 0.5  # per-tensor over a padded batch of 3: the loose case
    per_token, report = rewrite_int8_compute(woq, activations="per-token")
    assert len(report.matmuls) == woq_matmuls
    got = _run(per_token, feeds)[1]
    assert np.array_equal(ref.argmax(1), got.argmax(1)) and 0 < np.abs(got - ref).max() < 0.3


def _dequantized_copy(dst: Path) -> Path:
    """The shipped model dir with every INT8 weight folded back to float (an fp32-like model)."""
    shutil.copytree(MODEL_DIR, dst, ignore=shutil.ignore_patterns("checkpoint"))
    meta = json.loads((dst / "metadata.json").read_text())
    for branch, name in meta["files"].items():
        model = onnx.load(str(dst / name))
        inits = {t.name: t for t in model.graph.initializer}
        for node in [n for n in model.graph.node if n.op_type == "DequantizeLinear"]:
            q, s = numpy_helper.to_array(inits[node.input[0]]), numpy_helper.to_array(inits[node.input[1]])
            model.graph.initializer.append(
                numpy_helper.from_array((q * s).astype(np.float32), node.output[0])
            )
            model.graph.node.remove(node)
        onnx.save(model, str(dst / name))
        assert woq_weight_layers(model) == 0, branch
        meta["sha256"][name] = sha256_file(dst / name)
    meta["precision"] = "fp32"
    (dst / "metadata.json").write_text(json.dumps(meta))
    return dst


def test_backend_precision_selects_the_path_and_logs_it() -> None:
    feeds = _sentences()
    paths = {}
    for precision in ("int8", "weights-only", "auto"):
        log = ListLogger()
        backend = load_backend(MODEL_DIR, "onnxruntime", threads=1, logger=log, precision=precision)
        line = next(x for x in log.lines if x.startswith("backend onnxruntime"))
        paths[precision] = (line, backend.encode_text(feeds["input_ids"], feeds["attention_mask"])[1])
    assert "int8 compute" in paths["int8"][0] and "MatMul" in paths["int8"][0]
    assert "weights-only" in paths["weights-only"][0]
    assert "int8 compute" in paths["auto"][0]  # the CPU default
    np.testing.assert_array_equal(paths["auto"][1], paths["int8"][1])
    diff = np.abs(paths["int8"][1] - paths["weights-only"][1]).max()
    assert 0 < diff < 0.3  # the rewrite really runs, and stays close


@pytest.mark.parametrize("activations", ["per-tensor", "per-token"])
def test_int8_answers_do_not_depend_on_the_batch(activations: str) -> None:
    feeds = _sentences()
    backend = load_backend(
        MODEL_DIR, "onnxruntime", threads=1, precision="int8", int8_activations=activations, warmup=False
    )
    batched = backend.encode_text(feeds["input_ids"], feeds["attention_mask"])[1]
    for r in range(batched.shape[0]):
        n = int(feeds["attention_mask"][r].sum())
        ids, mask = feeds["input_ids"][r : r + 1, :n], feeds["attention_mask"][r : r + 1, :n]
        alone = backend.encode_text(np.ascontiguousarray(ids), np.ascontiguousarray(mask))[1]
        np.testing.assert_allclose(batched[r : r + 1], alone, atol=1e-4)


def test_int8_on_a_model_without_int8_weights_fails_clearly(tmp_path: Path) -> None:
    model_dir = _dequantized_copy(tmp_path / "fp32")
    with pytest.raises(ModelError, match="no graph .* has INT8 weights"):
        load_backend(model_dir, "onnxruntime", threads=1, precision="int8")
    log = ListLogger()
    load_backend(model_dir, "onnxruntime", threads=1, precision="auto", logger=log)
    assert any("no INT8 weights" in x for x in log.lines)
    with pytest.raises(ValueError, match="precision must be one of"):
        load_backend(MODEL_DIR, "onnxruntime", threads=1, precision="int4")
    with pytest.raises(ValueError, match="int8_activations must be one of"):
        load_backend(MODEL_DIR, "onnxruntime", threads=1, int8_activations="per-channel")


def test_metadata_int8_compute_exclude_keeps_those_layers_weight_only(tmp_path: Path) -> None:
    """The export's int8_compute_exclude (config/woq.yaml) decides which layers stay float on CPU."""
    shipped = json.loads((MODEL_DIR / "metadata.json").read_text())
    assert shipped["int8_compute_exclude"] == ["/layers.0/*"]  # chosen on MELD dev (config/woq.yaml)
    reports = {}
    for patterns in ([], ["/layers.1/*"]):
        dst = tmp_path / f"m{len(patterns)}"
        shutil.copytree(MODEL_DIR, dst, ignore=shutil.ignore_patterns("checkpoint"))
        meta = json.loads((dst / "metadata.json").read_text())
        meta["int8_compute_exclude"] = patterns
        (dst / "metadata.json").write_text(json.dumps(meta))
        backend = load_backend(dst, "onnxruntime", threads=1, precision="int8", branches=("text",))
        reports[len(patterns)] = backend.int8_reports["text"]
    assert not reports[0].skipped
    kept = sorted(reports[1].skipped)
    assert kept and all(name.startswith("/layers.1/") for name in kept), kept
    assert reports[1].layers == reports[0].layers - len(kept)
