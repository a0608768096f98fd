"""Graph-level WOQ: the rewritten graph's structure, and that ONNX Runtime computes the same function."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ddvlm_ros.training.quantize import (
    WoqConfig,
    convert_fp16_weights,
    group_only_config,
    layer_groups,
    layer_roles,
    quantize_per_channel,
    quantize_woq,
)

VOCAB, H, FF, OUT = 2000, 64, 128, 7


def _tiny_transformerish(seed: int = 0) -> onnx.ModelProto:
    """Embedding Gather → LayerNorm → MatMul+Add → GELU (Erf) → Gemm + residual → head Gemm."""
    rng = np.random.default_rng(seed)
    inits = {
        "emb.word_embeddings.weight": rng.normal(0, 0.5, (VOCAB, H)),
        "ln.weight": np.ones(H),
        "ln.bias": np.zeros(H),
        "layer.0.intermediate.dense.weight_t": rng.normal(0, 0.1, (H, FF)),
        "layer.0.intermediate.dense.bias": rng.normal(0, 0.1, FF),
        "layer.0.output.dense.weight": rng.normal(0, 0.1, (H, FF)),  # Gemm, transB=1 layout [N, K]
        "layer.0.output.dense.bias": rng.normal(0, 0.1, H),
        "head.weight": rng.normal(0, 0.1, (OUT, H)),
        "head.bias": rng.normal(0, 0.1, OUT),
        "sqrt_half": np.array(0.7071067811865476),
        "half": np.array(0.5),
        "one": np.array(1.0),
    }
    tensors = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()]
    nodes = [
        helper.make_node("Gather", ["emb.word_embeddings.weight", "ids"], ["e"], name="/emb/Gather"),
        helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0, name="/pool"),
        helper.make_node("LayerNormalization", ["pooled", "ln.weight", "ln.bias"], ["x"], name="/ln"),
        helper.make_node(
            "MatMul", ["x", "layer.0.intermediate.dense.weight_t"], ["h0"], name="/ffn_in/MatMul"
        ),
        helper.make_node("Add", ["h0", "layer.0.intermediate.dense.bias"], ["h1"], name="/ffn_in/Add"),
        helper.make_node("Mul", ["h1", "sqrt_half"], ["g0"], name="/gelu/Mul"),
        helper.make_node("Erf", ["g0"], ["g1"], name="/gelu/Erf"),
        helper.make_node("Add", ["g1", "one"], ["g2"], name="/gelu/Add"),
        helper.make_node("Mul", ["h1", "g2"], ["g3"], name="/gelu/Mul1"),
        helper.make_node("Mul", ["g3", "half"], ["g4"], name="/gelu/Mul2"),
        helper.make_node(
            "Gemm",
            ["g4", "layer.0.output.dense.weight", "layer.0.output.dense.bias"],
            ["y"],
            transB=1,
            name="/layer.0/output/dense/Gemm",
        ),
        helper.make_node("Add", ["x", "y"], ["features"], name="/residual"),
        helper.make_node(
            "Gemm", ["features", "head.weight", "head.bias"], ["logits"], transB=1, name="/head/Gemm"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["B", "L"])],
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", H]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", OUT]),
        ],
        tensors,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _run(model: onnx.ModelProto, ids: np.ndarray) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"ids": ids})


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


@pytest.fixture(scope="module")
def fp32() -> onnx.ModelProto:
    return _tiny_transformerish()


@pytest.fixture(scope="module")
def ids() -> np.ndarray:
    return np.random.default_rng(1).integers(0, VOCAB, (4, 9)).astype(np.int64)


def test_per_channel_quantization_error_is_at_most_half_a_step() -> None:
    w = np.random.default_rng(2).normal(0, 1, (32, 16)).astype(np.float32)
    w[:, 3] = 0.0  # an all-zero channel must not divide by zero
    q, scale = quantize_per_channel(w, axis=1)
    assert q.dtype == np.int8 and scale.shape == (16,)
    assert q.min() >= -127 and q.max() <= 127
    err = np.abs(q.astype(np.float32) * scale - w)
    assert np.all(err <= scale / 2 + 1e-7)
    assert np.all(np.abs(q).max(axis=0)[np.arange(16) != 3] == 127)


def test_woq_graph_structure(fp32: onnx.ModelProto) -> None:
    woq, report = quantize_woq(fp32, WoqConfig(embedding="int8"))
    onnx.checker.check_model(woq, full_check=True)
    inits = _inits(woq)
    producers = {o: n for n in woq.graph.node for o in n.output}
    assert {op.domain for op in woq.opset_import} <= {"", "ai.onnx"}
    assert all(n.domain in ("", "ai.onnx") for n in woq.graph.node)
    assert not any(n.op_type == "Gemm" for n in woq.graph.node if "head" not in n.name)
    quantized = 0
    for node in woq.graph.node:
        if node.op_type != "MatMul":
            continue
        src = node.input[1]
        if "head" in node.name:  # classifier head feeds a graph output: stays FP32
            assert inits[src].dtype == np.float32
            continue
        dq = producers[src]
        assert dq.op_type == "DequantizeLinear"
        assert len(dq.input) == 2, "symmetric: no zero point"
        assert helper.get_attribute_value(dq.attribute[0]) == 1, "axis = output channel of a [K,N] weight"
        q, scale = inits[dq.input[0]], inits[dq.input[1]]
        assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (q.shape[1],)
        quantized += 1
    assert quantized == 2 == len(report.quantized)
    # LayerNorm, Erf (GELU), residual Add are untouched FP32 ops.
    assert sum(n.op_type == "LayerNormalization" for n in woq.graph.node) == 1
    assert any(n.op_type == "Erf" for n in woq.graph.node)
    assert "emb.word_embeddings.weight" not in inits  # the FP32 table is gone ...
    assert any(v.dtype == np.int8 and v.shape == (VOCAB, H) for v in inits.values())  # ... stored INT8


def test_woq_computes_the_same_function(fp32: onnx.ModelProto, ids: np.ndarray) -> None:
    ref_feat, ref_logits = _run(fp32, ids)
    for emb in ("fp32", "fp16", "int8"):
        woq, _ = quantize_woq(fp32, WoqConfig(embedding=emb))
        feat, logits = _run(woq, ids)
        rel = np.abs(feat - ref_feat).max() / np.abs(ref_feat).max()
        assert rel < 0.03, (emb, rel)
        assert np.abs(logits - ref_logits).max() < 0.05 * np.abs(ref_logits).max(), emb
    # Not a no-op: the INT8 result differs from FP32 a little.
    woq, _ = quantize_woq(fp32)
    assert np.abs(_run(woq, ids)[0] - ref_feat).max() > 0


def test_woq_shrinks_weights(fp32: onnx.ModelProto) -> None:
    woq, report = quantize_woq(fp32, WoqConfig(embedding="int8"))
    before, after = len(fp32.SerializeToString()), len(woq.SerializeToString())
    assert after < 0.32 * before, (after, before)
    assert report.bytes_after < 0.3 * report.bytes_before


def test_exclusion_list_keeps_layers_in_requested_dtype(fp32: onnx.ModelProto, ids: np.ndarray) -> None:
    woq, report = quantize_woq(fp32, WoqConfig(exclude=("*output/dense*",), excluded_dtype="fp16"))
    assert any("output/dense" in e and "fp16" in e for e in report.excluded)
    assert len(report.quantized) == 1
    producers = {o: n for n in woq.graph.node for o in n.output}
    mm = next(n for n in woq.graph.node if n.op_type == "MatMul" and "output/dense" in n.name)
    assert producers[mm.input[1]].op_type == "Cast"
    onnx.checker.check_model(woq, full_check=True)
    assert np.allclose(_run(woq, ids)[1], _run(fp32, ids)[1], atol=0.05)


def test_fp16_weights(fp32: onnx.ModelProto, ids: np.ndarray) -> None:
    half, _ = convert_fp16_weights(fp32)
    onnx.checker.check_model(half, full_check=True)
    assert not any(v.dtype == np.float32 and v.size > 1024 for v in _inits(half).values())
    assert len(half.SerializeToString()) < 0.55 * len(fp32.SerializeToString())
    for got, ref in zip(_run(half, ids), _run(fp32, ids), strict=True):
        assert np.allclose(got, ref, atol=2e-3)


def test_config_rejects_unknown_keys_and_modes() -> None:
    with pytest.raises(ValueError, match="unknown WOQ config keys"):
        WoqConfig.from_dict({"exclude": [], "embeddings": "int8"})
    with pytest.raises(ValueError, match="embedding must be"):
        WoqConfig(embedding="int4")
    assert WoqConfig.from_dict({"exclude": ["*head*"]}).exclude == ("*head*",)


def test_layer_roles_come_from_structure(fp32: onnx.ModelProto) -> None:
    assert layer_roles(fp32) == {
        "/ffn_in/MatMul": "ffn_in",
        "/layer.0/output/dense/Gemm": "ffn_out.0",
        "/head/Gemm": "head",
    }
    assert layer_groups(fp32)["ffn_out"] == ["/layer.0/output/dense/Gemm"]


def test_group_tags_and_group_only_configs(fp32: onnx.ModelProto) -> None:
    _, report = quantize_woq(fp32, WoqConfig(exclude=("group:ffn_out.0",)))
    assert report.quantized == ["/ffn_in/MatMul"]
    _, report = quantize_woq(fp32, group_only_config(fp32, "ffn_out"))
    assert len(report.quantized) == 1 and report.embeddings == {"emb.word_embeddings.weight": "fp32"}
    _, report = quantize_woq(fp32, group_only_config(fp32, "embedding"))
    assert report.quantized == [] and report.embeddings == {"emb.word_embeddings.weight": "int8"}
    with pytest.raises(ValueError, match="unknown layer group"):
        group_only_config(fp32, "attention_qkv")
