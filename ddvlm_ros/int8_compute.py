"""Load-time rewrite of a WOQ graph so that its linear layers compute in INT8 on CPU.

Why: the WOQ artifact stores each linear weight as INT8 (symmetric, per output channel) behind
`DequantizeLinear`; ONNX Runtime runs that weight-only (it dequantizes or uses MatMulNBits, FP32 math),
which on an AVX-512 VNNI / AMX CPU is no faster than FP32. Quantizing the *activation* at run time and
multiplying INT8 × INT8 uses those units. The rewrite reuses the stored INT8 weights and scales byte for
byte (no re-quantization), uses standard ONNX operators only, and happens in memory: the file on disk
stays the one TensorRT takes.

    DequantizeLinear(W_q, w_scale) ─┐
    x ──────────────────────────────┴→ MatMul → y
becomes
    x → DynamicQuantizeLinear → (x_q, x_scale, x_zp)      (one per activation, shared by Q/K/V)
    MatMulInteger(x_q, W_q, x_zp) → Cast(float) → Mul(x_scale · w_scale) → y

and likewise `DequantizeLinear(W_q) → Conv` becomes `ConvInteger → Cast → Mul(x_scale · w_scale) (+ bias)`.
Everything else (LayerNorm, Softmax, GELU, embeddings, residual adds, FP32 heads) is left as it is.
ONNX Runtime fuses the result into its MatMulIntegerToFloat / DynamicQuantizeMatMul kernels.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ddvlm_ros.onnx_names import NameAllocator

PRECISIONS = ("auto", "int8", "weights-only")
ACTIVATION_MODES = ("per-tensor", "per-token")


@dataclass
class Int8Report:
    """What the rewrite did: which layers compute in INT8, which stayed weight-only and why."""

    matmuls: list[str] = field(default_factory=list)
    convs: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    activation_quantizers: int = 0

    @property
    def layers(self) -> int:
        return len(self.matmuls) + len(self.convs)

    def summary(self) -> str:
        text = (
            f"{len(self.matmuls)} MatMul + {len(self.convs)} Conv in INT8 "
            f"({self.activation_quantizers} dynamic activation quantizers)"
        )
        if self.skipped:
            text += f", {len(self.skipped)} kept weight-only"
        return text


def woq_weight_layers(model: onnx.ModelProto) -> int:
    """How many DequantizeLinear nodes read a constant INT8 weight (0: not a WOQ graph)."""
    inits = {t.name: t for t in model.graph.initializer}
    return sum(
        1
        for n in model.graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[0] in inits
        and inits[n.input[0]].data_type == TensorProto.INT8
    )


def rewrite_int8_compute(
    model: onnx.ModelProto,
    exclude: tuple[str, ...] = (),
    inplace: bool = False,
    activations: str = "per-tensor",
) -> tuple[onnx.ModelProto, Int8Report]:
    """Return a copy of `model` whose WOQ linear/conv layers compute in INT8 (see module docstring).

    exclude: fnmatch patterns on the consuming MatMul/Conv node name or output; a match stays weight-only.
    inplace: rewrite `model` itself (a loader that drops the original saves a copy of the weights).
    activations: "per-tensor" (DynamicQuantizeLinear, asymmetric uint8: what ONNX Runtime fuses into
        its fastest kernels) or "per-token" (symmetric per row of MatMul inputs: robust to the
        few outlier tokens of a transformer and independent of what else is in the batch).
    A layer whose weight is not symmetric INT8 (non-zero zero point) or whose scale layout does not match
    its output channels is kept weight-only and named in the report, never silently changed.
    """
    if inplace:
        out = model
    else:
        out = onnx.ModelProto()
        out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    unique = NameAllocator(graph)

    if activations not in ACTIVATION_MODES:
        raise ValueError(f"activations must be one of {ACTIVATION_MODES}, got {activations!r}")
    report = Int8Report()
    uses_ms_domain = False
    quantizers: dict[str, tuple[str, str, str, list[onnx.NodeProto]]] = {}  # x → (q, scale, zp, nodes)
    replaced: dict[int, list[onnx.NodeProto]] = {}  # id(old node) → new nodes
    added_inits: list[onnx.TensorProto] = []

    opset = next((o.version for o in out.opset_import if o.domain in ("", "ai.onnx")), 13)

    def quantizer(x: str, per_token: bool) -> tuple[str, str, str]:
        """(quantized x, its scale, its zero point) for activation x, built once per activation."""
        if x not in quantizers:
            q, s, z = unique(f"{x}_q8"), unique(f"{x}_q8_scale"), unique(f"{x}_q8_zp")
            if per_token:
                nodes_q = _per_token_quantizer(x, q, s, z, unique, added_inits, opset)
            else:
                nodes_q = [
                    helper.make_node(
                        "DynamicQuantizeLinear", [x], [q, s, z], name=unique(f"{x}_DynamicQuantize")
                    )
                ]
            quantizers[x] = (q, s, z, nodes_q)
        q, s, z, _ = quantizers[x]
        return q, s, z

    for dq in graph.node:
        if dq.op_type != "DequantizeLinear":
            continue
        w_name, scale_name = dq.input[0], dq.input[1]
        if w_name not in inits or inits[w_name].data_type != TensorProto.INT8 or scale_name not in inits:
            continue
        why = _unsupported(dq, inits)
        for node in consumers.get(dq.output[0], []):
            label = node.name or node.output[0]
            if node.op_type not in ("MatMul", "Conv") or node.input[1] != dq.output[0]:
                report.skipped[label] = (
                    f"{node.op_type} reads the dequantized weight as input {list(node.input)}"
                )
                continue
            if why:
                report.skipped[label] = why
                continue
            if any(fnmatch.fnmatch(n, p) for p in exclude for n in (node.name, node.output[0])):
                report.skipped[label] = "excluded by pattern"
                continue
            weight, scale = inits[w_name], numpy_helper.to_array(inits[scale_name]).astype(np.float32)
            axis = _attr(dq, "axis", 1)
            channels = weight.dims[1] if node.op_type == "MatMul" else weight.dims[0]
            want_axis = 1 if node.op_type == "MatMul" else 0
            if scale.size not in (1, channels) or (scale.size > 1 and axis % len(weight.dims) != want_axis):
                report.skipped[label] = f"scale of size {scale.size} on axis {axis} is not per output channel"
                continue
            per_token = activations == "per-token" and node.op_type == "MatMul"
            x_q, x_s, x_z = quantizer(node.input[0], per_token)
            acc, acc_f, combined = unique(f"{label}_i32"), unique(f"{label}_i32_f"), unique(f"{label}_scale")
            if node.op_type == "MatMul":
                core = helper.make_node(
                    "MatMulInteger",
                    [x_q, w_name, *([x_z] if x_z else [])],
                    [acc],
                    name=unique(f"{label}_int8"),
                )
                w_scale = scale_name
                report.matmuls.append(label)
            else:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                core = helper.make_node(
                    "ConvInteger", [x_q, w_name, x_z], [acc], name=unique(f"{label}_int8"), **attrs
                )
                shaped = unique(f"{scale_name}_nchw")
                added_inits.append(numpy_helper.from_array(scale.reshape(1, -1, 1, 1), shaped))
                w_scale = shaped
                report.convs.append(label)
            new = [
                core,
                helper.make_node("Cast", [acc], [acc_f], to=TensorProto.FLOAT, name=unique(f"{label}_cast")),
                helper.make_node("Mul", [x_s, w_scale], [combined], name=unique(f"{label}_scale_mul")),
            ]
            y = node.output[0]
            if node.op_type == "Conv" and len(node.input) > 2 and node.input[2]:
                bias = numpy_helper.to_array(inits[node.input[2]]).reshape(1, -1, 1, 1)
                shaped_bias = unique(f"{node.input[2]}_nchw")
                added_inits.append(numpy_helper.from_array(bias.astype(np.float32), shaped_bias))
                scaled = unique(f"{label}_scaled")
                new.append(
                    helper.make_node("Mul", [acc_f, combined], [scaled], name=unique(f"{label}_dequant"))
                )
                new.append(helper.make_node("Add", [scaled, shaped_bias], [y], name=unique(f"{label}_bias")))
            elif per_token:
                # ONNX Runtime does not fuse a per-token scale; its MatMulIntegerToFloat kernel applies
                # the per-column weight scale inside the GEMM (a_scale 1), the token scale follows.
                one, col = unique(f"{label}_unit_scale"), unique(f"{label}_col_scaled")
                added_inits.append(numpy_helper.from_array(np.array(1.0, np.float32), one))
                new = [
                    helper.make_node(
                        "MatMulIntegerToFloat",
                        [x_q, w_name, one, w_scale, x_z],
                        [col],
                        domain="com.microsoft",
                        name=unique(f"{label}_int8"),
                    ),
                    helper.make_node("Mul", [col, x_s], [y], name=unique(f"{label}_token_scale")),
                ]
                uses_ms_domain = True
            else:
                new.append(helper.make_node("Mul", [acc_f, combined], [y], name=unique(f"{label}_dequant")))
            replaced[id(node)] = new

    if not replaced:
        return out, report
    report.activation_quantizers = len(quantizers)
    first_use = {x: None for x in quantizers}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        for x in node.input:  # the quantizer goes right before the first rewritten layer reading x
            if x in first_use and first_use[x] is None and id(node) in replaced:
                first_use[x] = node
                nodes.extend(quantizers[x][3])
        nodes.extend(replaced.get(id(node), [node]))
    used = {i for n in nodes for i in n.input}
    nodes = [
        n for n in nodes if not (n.op_type == "DequantizeLinear" and all(o not in used for o in n.output))
    ]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added_inits)
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    _ensure_opset(out, 13)
    if uses_ms_domain and not any(o.domain == "com.microsoft" for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return out, report


def _per_token_quantizer(
    x: str, q: str, s: str, z: str, unique, added_inits: list, opset: int
) -> list[onnx.NodeProto]:
    """Nodes computing s = max|x| / 127 over the last axis (keepdims) and q = uint8(round(x / s) + 128).

    Why uint8 with zero point 128 rather than int8: ONNX Runtime's x86 integer GEMM is u8 × s8 (VNNI);
    an int8 left operand takes a far slower path. The values are the symmetric int8 ones, shifted.
    """
    inv, eps, shift = unique(f"{x}_inv127"), unique(f"{x}_eps"), unique(f"{x}_shift128")
    full = unique(f"{x}_127")
    added_inits += [
        numpy_helper.from_array(np.array(1 / 127, np.float32), inv),
        numpy_helper.from_array(np.array(127, np.float32), full),
        numpy_helper.from_array(np.array(1e-12, np.float32), eps),
        numpy_helper.from_array(np.array(128, np.float32), shift),
        numpy_helper.from_array(np.array(128, np.uint8), z),
    ]
    names = ("abs", "amax", "amax_floor", "inv_scale", "div", "round", "shifted")
    absx, amax, floor, inv_s, div, rnd, shifted = (unique(f"{x}_{k}") for k in names)
    if opset >= 18:
        axes = unique(f"{x}_last_axis")
        added_inits.append(numpy_helper.from_array(np.array([-1], np.int64), axes))
        reduce = helper.make_node("ReduceMax", [absx, axes], [amax], keepdims=1, name=unique(f"{x}_rmax"))
    else:
        reduce = helper.make_node(
            "ReduceMax", [absx], [amax], axes=[-1], keepdims=1, name=unique(f"{x}_rmax")
        )
    return [
        helper.make_node("Abs", [x], [absx], name=unique(f"{x}_abs_op")),
        reduce,
        helper.make_node("Max", [amax, eps], [floor], name=unique(f"{x}_amax_floor_op")),
        helper.make_node("Mul", [floor, inv], [s], name=unique(f"{x}_scale_op")),  # [..., 1]: tiny
        helper.make_node("Div", [full, floor], [inv_s], name=unique(f"{x}_inv_scale_op")),
        helper.make_node("Mul", [x, inv_s], [div], name=unique(f"{x}_div_op")),
        helper.make_node("Round", [div], [rnd], name=unique(f"{x}_round_op")),
        helper.make_node("Add", [rnd, shift], [shifted], name=unique(f"{x}_shift_op")),
        helper.make_node("Cast", [shifted], [q], to=TensorProto.UINT8, name=unique(f"{x}_to_uint8")),
    ]


def _unsupported(dq: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> str:
    """Why this DequantizeLinear cannot feed an integer kernel as is ('' when it can)."""
    if len(dq.input) > 2 and dq.input[2]:
        zp = inits.get(dq.input[2])
        if zp is None:
            return "weight zero point is not a constant"
        if np.any(numpy_helper.to_array(zp) != 0):
            return "weight zero point is not 0 (asymmetric weights)"
    if _attr(dq, "block_size", 0):
        return "blocked quantization"
    return ""


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((int(helper.get_attribute_value(a)) for a in node.attribute if a.name == name), default)


def _ensure_opset(model: onnx.ModelProto, minimum: int) -> None:
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx") and op.version < minimum:
            op.version = minimum
