"""Graph-level weight-only quantization (WOQ) and FP16 weight storage of an exported FP32 ONNX graph.

Why at graph level: the rewrite is visible and checkable in the file itself (INT8 initializer →
`DequantizeLinear` → `MatMul`), uses standard ONNX operators only, so both ONNX Runtime (which fuses
the pattern into an 8-bit `MatMulNBits` kernel on CPU) and TensorRT's parser (explicit quantization)
take the same file. Activations, LayerNorm, Softmax, GELU, residual adds and the classifier head stay
FP32; only constant weights change representation.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ddvlm_ros.onnx_names import NameAllocator

EMBEDDING_MODES = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class WoqConfig:
    """What to quantize.

    exclude: fnmatch patterns matched against a MatMul/Gemm node name, its output name, its weight
        initializer name and its role tags "group:<role>" / "group:<role>.<layer>" (see layer_roles,
        e.g. "group:ffn_out.5" = the last FFN output projection of a 6-layer encoder); a match keeps
        that layer's weight in `excluded_dtype`.
    excluded_dtype: "fp32" or "fp16" storage for excluded layers.
    keep_output_layers: keep layers whose result is a graph output (the classifier heads) FP32.
    embedding: storage of large Gather tables (word embeddings): "fp32", "fp16" or "int8" (per row).
    embedding_min_rows: a Gather table with at least this many rows counts as a word-embedding table.
    min_elements: weights smaller than this stay FP32 (the saving would not pay for the node).
    int8_compute_exclude: fnmatch patterns on MatMul node names that the CPU INT8-compute path keeps
        weight-only (their activations stay float); not used here, written to metadata.json for it.
    """

    exclude: tuple[str, ...] = ()
    excluded_dtype: str = "fp32"
    keep_output_layers: bool = True
    embedding: str = "int8"
    embedding_min_rows: int = 1000
    min_elements: int = 1024
    int8_compute_exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.embedding not in EMBEDDING_MODES:
            raise ValueError(f"embedding must be one of {EMBEDDING_MODES}, got {self.embedding!r}")
        if self.excluded_dtype not in ("fp32", "fp16"):
            raise ValueError(f"excluded_dtype must be 'fp32' or 'fp16', got {self.excluded_dtype!r}")

    @classmethod
    def from_dict(cls, data: dict | None) -> WoqConfig:
        """Build from a YAML mapping (config/woq.yaml); unknown keys are an error, not ignored."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown WOQ config keys {sorted(unknown)}; known: {sorted(known)}")
        for key in ("exclude", "int8_compute_exclude"):
            if key in data:
                data[key] = tuple(data[key] or ())
        return cls(**data)


@dataclass
class QuantReport:
    """What the rewrite did, layer by layer (for logs, metadata and the sensitivity report)."""

    quantized: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    embeddings: dict[str, str] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0

    def as_dict(self) -> dict:
        return {
            "quantized_layers": len(self.quantized),
            "excluded_layers": self.excluded,
            "embeddings": self.embeddings,
            "weight_mb_before": round(self.bytes_before / 2**20, 3),
            "weight_mb_after": round(self.bytes_after / 2**20, 3),
        }


def quantize_per_channel(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric INT8 per-channel quantization along `axis` (the output channel): q in [-127, 127]."""
    reduce_axes = tuple(i for i in range(weight.ndim) if i != axis)
    amax = np.abs(weight).max(axis=reduce_axes).astype(np.float32)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.rint(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


class _Graph:
    """Index of a graph's initializers and consumers, plus helpers to add nodes and tensors."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        # Work on a plain list of node copies; write back once in finish() (protobuf's repeated
        # fields copy on extend, so object identity would not survive in-place edits).
        self.nodes: list[onnx.NodeProto] = [_copy(n) for n in self.graph.node]
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.reindex()
        self.outputs = {o.name for o in self.graph.output}
        self.unique = NameAllocator(self.graph)

    def reindex(self) -> None:
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.inits[name])

    def replace_init(self, old: str, arrays: dict[str, np.ndarray]) -> dict[str, str]:
        """Drop initializer `old` (if nothing else reads it) and add `arrays`; returns their final names."""
        names = {}
        for key, arr in arrays.items():
            name = self.unique(f"{old}_{key}")
            tensor = numpy_helper.from_array(arr, name)
            self.graph.initializer.append(tensor)
            self.inits[name] = self.graph.initializer[-1]
            names[key] = name
        return names

    def finish(self) -> None:
        """Write the node list back and drop initializers nothing reads any more."""
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)
        used = {i for n in self.nodes for i in n.input} | self.outputs
        keep = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)


def _copy(node: onnx.NodeProto) -> onnx.NodeProto:
    new = onnx.NodeProto()
    new.CopyFrom(node)
    return new


def _is_float_init(g: _Graph, name: str) -> bool:
    return name in g.inits and g.inits[name].data_type == TensorProto.FLOAT


def _feeds_output(g: _Graph, node: onnx.NodeProto) -> bool:
    """True when the node's result reaches a graph output directly or through one bias Add."""
    out = node.output[0]
    if out in g.outputs:
        return True
    return any(c.op_type == "Add" and c.output[0] in g.outputs for c in g.consumers.get(out, []))


def _matches(patterns: Iterable[str], *names: str) -> bool:
    return any(fnmatch.fnmatch(n, p) for p in patterns for n in names if n)


def _gemm_to_matmul(g: _Graph, node: onnx.NodeProto) -> str | None:
    """Rewrite Gemm(x, W[N,K], b, transB=1) as MatMul(x, W^T) + Add(b); returns the new [K,N] weight name.

    Why: the DequantizeLinear → MatMul pattern is what ONNX Runtime fuses into an INT8 kernel, and a
    MatMul weight has one layout ([K, N], output channel on axis 1).
    """
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
        return None
    w_name = node.input[1]
    weight = g.array(w_name)
    if attrs.get("transB", 0):
        weight = weight.T
    new_w = g.replace_init(w_name, {"kn": np.ascontiguousarray(weight)})["kn"]
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    out = node.output[0]
    mm_out = g.unique(f"{out}_matmul") if bias else out
    new_nodes = [
        helper.make_node("MatMul", [node.input[0], new_w], [mm_out], name=g.unique(f"{node.name}_mm"))
    ]
    if bias:
        new_nodes.append(helper.make_node("Add", [mm_out, bias], [out], name=g.unique(f"{node.name}_bias")))
    _replace_node(g, node, new_nodes)
    return new_w


def _index(g: _Graph, node: onnx.NodeProto) -> int:
    return next(i for i, n in enumerate(g.nodes) if n is node)


def _replace_node(g: _Graph, old: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
    idx = _index(g, old)
    g.nodes[idx : idx + 1] = new
    g.reindex()


def _insert_before(g: _Graph, anchor: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
    idx = _index(g, anchor)
    g.nodes[idx:idx] = new


def _weight_layers(g: _Graph) -> list[tuple[onnx.NodeProto, str]]:
    """(MatMul node, weight initializer name) for every MatMul with a constant 2-D FP32 weight."""
    for node in list(g.nodes):
        if node.op_type == "Gemm" and _is_float_init(g, node.input[1]):
            _gemm_to_matmul(g, node)
    layers = []
    for node in g.nodes:
        if (
            node.op_type == "MatMul"
            and _is_float_init(g, node.input[1])
            and len(g.inits[node.input[1]].dims) == 2
        ):
            layers.append((node, node.input[1]))
    return layers


def _store_as(g: _Graph, node: onnx.NodeProto, w_name: str, dtype: str) -> int:
    """Point the node at a copy of its weight stored as int8 (+ DequantizeLinear) or fp16 (+ Cast)."""
    weight = g.array(w_name)
    if dtype == "fp32":
        return weight.nbytes
    if dtype == "fp16":
        names = g.replace_init(w_name, {"fp16": weight.astype(np.float16)})
        deq = helper.make_node(
            "Cast",
            [names["fp16"]],
            [g.unique(f"{w_name}_f32")],
            to=TensorProto.FLOAT,
            name=g.unique(f"{w_name}_cast"),
        )
        size = weight.size * 2
    else:
        q, scale = quantize_per_channel(weight, axis=1)
        names = g.replace_init(w_name, {"int8": q, "scale": scale})
        deq = helper.make_node(
            "DequantizeLinear",
            [names["int8"], names["scale"]],
            [g.unique(f"{w_name}_dq")],
            axis=1,
            name=g.unique(f"{w_name}_DequantizeLinear"),
        )
        size = q.nbytes + scale.nbytes
    _insert_before(g, node, [deq])
    node.input[1] = deq.output[0]
    return size


def _embedding_tables(g: _Graph, min_rows: int) -> list[onnx.NodeProto]:
    return [
        n
        for n in g.nodes
        if n.op_type == "Gather"
        and _is_float_init(g, n.input[0])
        and len(g.inits[n.input[0]].dims) == 2
        and g.inits[n.input[0]].dims[0] >= min_rows
        and all(a.name != "axis" or a.i == 0 for a in n.attribute)
    ]


def _store_embedding(g: _Graph, node: onnx.NodeProto, mode: str) -> int:
    """Word-embedding table as FP16 (Gather → Cast) or INT8 per row (Gather q, Gather scale, Cast, Mul).

    Why not DequantizeLinear on the whole table: that would dequantize all rows on every call; looking
    up the INT8 rows first touches only the tokens in the batch.
    """
    table_name, ids = node.input[0], node.input[1]
    table = g.array(table_name)
    out = node.output[0]
    if mode == "fp32":
        return table.nbytes
    if mode == "fp16":
        names = g.replace_init(table_name, {"fp16": table.astype(np.float16)})
        rows = g.unique(f"{out}_fp16")
        new = [
            helper.make_node(
                "Gather", [names["fp16"], ids], [rows], axis=0, name=g.unique(f"{node.name}_fp16")
            ),
            helper.make_node("Cast", [rows], [out], to=TensorProto.FLOAT, name=g.unique(f"{node.name}_cast")),
        ]
        size = table.size * 2
    else:
        q, scale = quantize_per_channel(table, axis=0)
        names = g.replace_init(table_name, {"int8": q, "scale": scale.reshape(-1, 1)})
        q_rows, f_rows, s_rows = (g.unique(f"{out}_{k}") for k in ("int8", "f32", "scale"))
        new = [
            helper.make_node(
                "Gather", [names["int8"], ids], [q_rows], axis=0, name=g.unique(f"{node.name}_int8")
            ),
            helper.make_node(
                "Cast", [q_rows], [f_rows], to=TensorProto.FLOAT, name=g.unique(f"{node.name}_cast")
            ),
            helper.make_node(
                "Gather", [names["scale"], ids], [s_rows], axis=0, name=g.unique(f"{node.name}_scale")
            ),
            helper.make_node("Mul", [f_rows, s_rows], [out], name=g.unique(f"{node.name}_dequant")),
        ]
        size = q.nbytes + scale.nbytes
    _replace_node(g, node, new)
    return size


def _ensure_opset(model: onnx.ModelProto, minimum: int) -> None:
    """Per-axis DequantizeLinear needs opset >= 13; raise the default-domain opset if it is older."""
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < minimum:
            op.version = minimum


def quantize_woq(
    model: onnx.ModelProto, config: WoqConfig | None = None
) -> tuple[onnx.ModelProto, QuantReport]:
    """Return a WOQ copy of an FP32 model: INT8 per-output-channel weights behind DequantizeLinear."""
    return _rewrite(model, config or WoqConfig(), weight_dtype="int8")


def convert_fp16_weights(model: onnx.ModelProto) -> tuple[onnx.ModelProto, QuantReport]:
    """Return a copy whose MatMul/Gemm weights and embedding tables are stored FP16 (computed in FP32).

    Why weights only: inputs and outputs keep the float32 contract and CPU kernels stay FP32; the
    artifact is half the size and TensorRT still builds FP16 kernels from it with its FP16 flag.
    """
    config = WoqConfig(embedding="fp16", keep_output_layers=False)
    return _rewrite(model, config, weight_dtype="fp16")


def _rewrite(
    model: onnx.ModelProto, config: WoqConfig, weight_dtype: str
) -> tuple[onnx.ModelProto, QuantReport]:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _ensure_opset(out, 13)
    roles = layer_roles(out)  # before Gemm → MatMul renames nodes
    g = _Graph(out)
    report = QuantReport()
    for node, w_name in _weight_layers(g):
        role = roles.get(node.name) or roles.get(node.name.removesuffix("_mm"), "")
        weight = g.inits[w_name]
        size = int(np.prod(weight.dims)) * 4
        report.bytes_before += size
        keep = int(np.prod(weight.dims)) < config.min_elements
        tags = (f"group:{role}", f"group:{role.split('.')[0]}") if role else ()
        excluded = _matches(config.exclude, node.name, node.output[0], w_name, *tags) or (
            config.keep_output_layers and _feeds_output(g, node)
        )
        if keep or excluded:
            dtype = config.excluded_dtype if excluded else "fp32"
            report.excluded.append(f"{node.name or w_name} ({dtype})")
        else:
            dtype = weight_dtype
            report.quantized.append(node.name or w_name)
        report.bytes_after += _store_as(g, node, w_name, dtype)
    for node in _embedding_tables(g, config.embedding_min_rows):
        table = g.inits[node.input[0]]
        report.bytes_before += int(np.prod(table.dims)) * 4
        report.bytes_after += _store_embedding(g, node, config.embedding)
        report.embeddings[node.input[0]] = config.embedding
    g.finish()
    onnx.checker.check_model(out, full_check=True)
    return out, report


def layer_roles(model: onnx.ModelProto) -> dict[str, str]:
    """Role of every MatMul/Gemm with a constant weight, as "role" or "role.N" (N = transformer layer).

    Roles come from the graph's structure, not from names (the exporter's scope names depend on how
    the torch code calls its modules): a square weight whose input also feeds other weight MatMuls is
    attention_qkv, another square one attention_out, a widening one ffn_in, a narrowing one ffn_out.
    The layer index is the first "layer.N" / "layers.N" in the node name, if any.
    """
    g = _Graph(model)
    weighted = [n for n in g.nodes if n.op_type in ("MatMul", "Gemm") and _is_float_init(g, n.input[1])]
    fanout: dict[str, int] = {}
    for node in weighted:
        fanout[node.input[0]] = fanout.get(node.input[0], 0) + 1
    roles = {}
    for node in weighted:
        dims = list(g.inits[node.input[1]].dims)
        if len(dims) != 2:
            continue
        k, n = (dims[1], dims[0]) if node.op_type == "Gemm" and _attr(node, "transB", 0) else dims
        if n < 16:  # a few outputs: a classifier head
            role = "head"
        elif k == n:
            role = "attention_qkv" if fanout[node.input[0]] >= 3 else "attention_out"
        elif n > k:
            role = "ffn_in"
        else:
            role = "ffn_out"
        match = re.search(r"layers?\.(\d+)", node.name)
        roles[node.name] = f"{role}.{match.group(1)}" if match else role
    return roles


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def layer_groups(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Node names per role (layer index dropped), for exclusion lists and the sensitivity report."""
    groups: dict[str, list[str]] = {}
    for name, role in layer_roles(model).items():
        groups.setdefault(role.split(".")[0], []).append(name)
    return groups


def group_only_config(model: onnx.ModelProto, group: str, base: WoqConfig | None = None) -> WoqConfig:
    """A config that quantizes only one layer group ("embedding" = the word-embedding table alone).

    Why: the sensitivity report quantizes one group at a time against an FP32 rest, so each group's
    cost in accuracy is measured on its own.
    """
    base = base or WoqConfig()
    groups = layer_groups(model)
    if group != "embedding" and group not in groups:
        raise ValueError(f"unknown layer group {group!r}; groups: {sorted(groups) + ['embedding']}")
    others = [f"group:{g}" for g in groups if g != group]
    return WoqConfig(
        exclude=(*base.exclude, *others) if group != "embedding" else ("*",),
        excluded_dtype="fp32",
        keep_output_layers=base.keep_output_layers,
        embedding=base.embedding if group == "embedding" else "fp32",
        embedding_min_rows=base.embedding_min_rows,
        min_elements=base.min_elements,
    )
