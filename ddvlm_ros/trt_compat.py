"""Static TensorRT-compatibility check of ONNX graphs, on CPU: would TensorRT 10's ONNX parser take them?

Why static: TensorRT cannot be imported without a GPU, and a graph it rejects should fail in CI, not on
the robot. Checked per graph: the default-domain opset is in the parser's range; no node outside the
default ONNX domain (vendor ops such as com.microsoft); every op is in the support matrix
(trt_support.py, source noted there) with its main input dtypes (and Cast's target) among the listed
types; quantized types (INT8/INT4/FP8/FP4) only feed DequantizeLinear; attributes are known to the op's
schema and meet the matrix's restrictions; every dynamic input dim is covered by the optimization
profile; optionally (require_fp16) no FP32 compute outside the declared FP32 islands.

    python -m ddvlm_ros.trt_compat models/ddvlm-meld-v3            # the TensorRT variant (trt_graph)
    python -m ddvlm_ros.trt_compat models/ddvlm-meld-v3 --as-is    # the committed graphs unchanged
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from ddvlm_ros import trt_support as matrix

TYPE_NAMES = {
    TensorProto.FLOAT: "FP32",
    TensorProto.FLOAT16: "FP16",
    TensorProto.BFLOAT16: "BF16",
    TensorProto.DOUBLE: "DOUBLE",
    TensorProto.INT32: "INT32",
    TensorProto.INT64: "INT64",
    TensorProto.INT8: "INT8",
    TensorProto.UINT8: "UINT8",
    TensorProto.BOOL: "BOOL",
    TensorProto.INT4: "INT4",
    TensorProto.FLOAT8E4M3FN: "FP8",
    TensorProto.FLOAT4E2M1: "FP4",
}
# Ops that move or reshape data or compute shapes; they do not set the precision of arithmetic.
_NO_ARITHMETIC = frozenset(
    {
        "Cast",
        "Shape",
        "Reshape",
        "Transpose",
        "Unsqueeze",
        "Squeeze",
        "Gather",
        "Concat",
        "Slice",
        "Identity",
        "Flatten",
        "Expand",
        "Constant",
        "ConstantOfShape",
        "Split",
        "Tile",
        "Pad",
    }
)


@dataclass(frozen=True)
class Finding:
    """One reason TensorRT would reject (or mis-type) the graph."""

    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.node}: {self.message}"


def type_name(elem_type: int) -> str:
    return TYPE_NAMES.get(elem_type, TensorProto.DataType.Name(elem_type))


class _Index:
    """Types of every tensor (shape inference) and which tensors are build-time constants."""

    def __init__(self, model: onnx.ModelProto) -> None:
        inferred = onnx.shape_inference.infer_shapes(model)
        g = inferred.graph
        self.inits = {t.name: t for t in g.initializer}
        self.types = {t.name: t.data_type for t in g.initializer}
        for v in [*g.value_info, *g.input, *g.output]:
            self.types[v.name] = v.type.tensor_type.elem_type
        self.const_values: dict[str, np.ndarray] = {
            name: numpy_helper.to_array(t) for name, t in self.inits.items()
        }
        self.constant = set(self.inits)
        for node in g.node:
            if node.op_type == "Constant":
                self.constant.update(node.output)
                value = next((a.t for a in node.attribute if a.name == "value"), None)
                if value is not None:
                    self.const_values[node.output[0]] = numpy_helper.to_array(value)
            elif node.input and all(not i or i in self.constant for i in node.input):
                self.constant.update(node.output)  # foldable: "resolvable to a constant"
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.producer: dict[str, onnx.NodeProto] = {}
        for node in g.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            for name in node.output:
                self.producer[name] = node
        self.graph_io = {v.name for v in [*g.input, *g.output]}

    def type_of(self, name: str) -> str:
        return type_name(self.types[name]) if name in self.types else "unknown"


def check_graph(
    model: onnx.ModelProto,
    profile: dict[str, tuple[tuple, tuple, tuple]] | None = None,
    require_fp16: bool = False,
    fp32_islands: frozenset[str] = frozenset({"LayerNormalization", "Softmax"}),
) -> list[Finding]:
    """All findings for one graph (empty = passes). `profile`: input name → (min, opt, max) shapes."""
    findings: list[Finding] = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not matrix.MIN_OPSET <= opset <= matrix.MAX_OPSET:
        findings.append(
            Finding("opset", "<model>", f"opset {opset} outside {matrix.MIN_OPSET}..{matrix.MAX_OPSET}")
        )
    index = _Index(model)
    for value in [*model.graph.input, *model.graph.output]:
        kind = type_name(value.type.tensor_type.elem_type)
        if kind not in ("FP32", "FP16", "BF16", "INT32", "INT64", "BOOL", "UINT8"):
            findings.append(Finding("io-dtype", value.name, f"graph input/output of type {kind}"))
    for node in model.graph.node:
        findings += _check_node(node, index, opset)
        if require_fp16:
            findings += _check_precision(node, index, fp32_islands)
    for name in index.inits:
        if index.type_of(name) == "DOUBLE":
            findings.append(Finding("dtype", name, "DOUBLE initializer (TensorRT casts it down)"))
    for name in index.types:
        kind = index.type_of(name)
        if kind in matrix.QUANTIZED_TYPES:
            for consumer in index.consumers.get(name, []):
                if consumer.op_type != "DequantizeLinear":
                    findings.append(
                        Finding(
                            "quantized-type",
                            _label(consumer),
                            f"{kind} tensor {name!r} feeds {consumer.op_type}; quantized types are "
                            "supported only through DequantizeLinear",
                        )
                    )
    if profile is not None:
        findings += check_profile(model, profile)
    return findings


def _label(node: onnx.NodeProto) -> str:
    return f"{node.op_type} {node.name or node.output[0]!r}"


def _check_node(node: onnx.NodeProto, index: _Index, opset: int) -> list[Finding]:
    where = _label(node)
    if node.domain not in ("", "ai.onnx"):
        return [Finding("vendor-op", where, f"domain {node.domain!r} is not standard ONNX")]
    types = matrix.SUPPORTED_TYPES.get(node.op_type)
    if types is None:
        return [Finding("unsupported-op", where, "not supported by TensorRT's ONNX parser")]
    found: list[Finding] = []
    aux = matrix.AUXILIARY_INPUTS.get(node.op_type, frozenset())
    for i, name in enumerate(node.input):
        if not name or i in aux:
            continue
        kind = index.type_of(name)
        if kind not in types and not (kind in matrix.IO_ONLY_TYPES and name in index.graph_io):
            found.append(Finding("dtype", where, f"input {i} {name!r} is {kind}; supported: {sorted(types)}"))
    if node.op_type in ("Cast", "CastLike", "Constant", "ConstantOfShape"):
        for out in node.output:
            kind = index.type_of(out)
            if kind not in types:
                found.append(Finding("dtype", where, f"output {out!r} is {kind}; supported: {sorted(types)}"))
    if node.op_type in ("DequantizeLinear", "QuantizeLinear") and len(node.input) > 1:
        kind = index.type_of(node.input[1])
        if kind not in matrix.SCALE_TYPES:
            found.append(Finding("dtype", where, f"scale is {kind}; supported: {sorted(matrix.SCALE_TYPES)}"))
        if kind == "FP16" and opset < 19:
            found.append(Finding("opset", where, "FP16 scales need opset >= 19"))
    found += _check_attributes(node, opset)
    found += _check_restriction(node, index)
    return found


def _check_attributes(node: onnx.NodeProto, opset: int) -> list[Finding]:
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return [Finding("schema", _label(node), f"no ONNX schema at opset {opset}")]
    unknown = [a.name for a in node.attribute if a.name not in schema.attributes]
    return [Finding("attribute", _label(node), f"unknown attribute {name!r}") for name in unknown]


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _check_restriction(node: onnx.NodeProto, index: _Index) -> list[Finding]:
    """The matrix's Restrictions column for this op: checked, or reported as not checkable."""
    op, where = node.op_type, _label(node)
    text = matrix.RESTRICTIONS.get(op)
    if text is None:
        return []

    def fail(msg: str) -> list[Finding]:
        return [Finding("restriction", where, f"{msg} (matrix: {text})")]

    def constant_input(i: int) -> bool:
        return len(node.input) <= i or not node.input[i] or node.input[i] in index.constant

    if op == "Constant":
        bad = [a.name for a in node.attribute if a.name in ("sparse_value", "value_string", "value_strings")]
        return fail(f"uses {bad}") if bad else []
    if op == "CumSum" or op.startswith("Reduce") or op in ("Squeeze", "Unsqueeze", "OneHot"):
        return [] if constant_input(1) else fail(f"input 1 {node.input[1]!r} is computed at run time")
    if op in ("DequantizeLinear", "QuantizeLinear"):
        if len(node.input) > 2 and node.input[2]:
            zp = index.const_values.get(node.input[2])
            if zp is None or np.any(zp != 0):
                return fail("zero point is not a constant zero")
        return []
    if op == "Dropout":
        if len(node.input) > 2 and node.input[2]:
            flag = index.const_values.get(node.input[2])
            if flag is None or bool(np.asarray(flag).item()):
                return fail("is_training is not a constant False")
        return []
    if op == "LayerNormalization":
        return fail("uses Mean/InvStdDev outputs") if any(node.output[1:]) else []
    if op in ("MaxPool", "AveragePool", "LpPool"):
        dilations = _attr(node, "dilations", [])
        if dilations and any(d != 1 for d in dilations):
            return fail(f"dilations {dilations}")
        if op == "MaxPool" and len(node.output) > 1 and node.output[1]:
            return fail("uses the Indices output")
        kernel = _attr(node, "kernel_shape", [])
        if op != "LpPool" and len(kernel) not in (2, 3):
            return fail(f"{len(kernel)}D pooling")
        return []
    if op == "TopK":
        k = index.const_values.get(node.input[1]) if len(node.input) > 1 else None
        if _attr(node, "sorted", 1) != 1 or k is None or int(np.asarray(k).max()) >= 3840:
            return fail("sorted must be 1 and K a constant < 3840")
        return []
    if op == "ScatterND":
        reduction = _attr(node, "reduction", b"none")
        return [] if reduction in (b"none", "none") else fail(f"reduction {reduction!r}")
    if op == "Resize":
        modes = {
            "coordinate_transformation_mode": (
                "half_pixel",
                "pytorch_half_pixel",
                "tf_half_pixel_for_nn",
                "asymmetric",
                "align_corners",
            ),
            "mode": ("nearest", "linear"),
            "nearest_mode": ("floor", "ceil", "round_prefer_floor", "round_prefer_ceil"),
            "keep_aspect_ratio_policy": ("stretch",),
        }
        for name, allowed in modes.items():
            value = _attr(node, name)
            value = value.decode() if isinstance(value, bytes) else value
            if value is not None and value not in allowed:
                return fail(f"{name}={value!r}")
        return fail("antialias") if _attr(node, "antialias", 0) else []
    return fail("not checked statically; verify with the TensorRT parser on a GPU")


def _check_precision(node: onnx.NodeProto, index: _Index, islands: frozenset[str]) -> list[Finding]:
    if node.op_type in _NO_ARITHMETIC or node.op_type in islands:
        return []
    fp32 = [i for i in node.input if i and index.type_of(i) == "FP32" and not _integer_in_float(i, index)]
    if not fp32:
        return []
    return [
        Finding("fp32-compute", _label(node), f"computes in FP32 (input {fp32[0]!r}) outside an FP32 island")
    ]


def _integer_in_float(name: str, index: _Index) -> bool:
    """An FP32 tensor that is a Cast of an integer tensor (integer arithmetic carried in FP32, exact)."""
    node = index.producer.get(name)
    return (
        node is not None
        and node.op_type == "Cast"
        and index.type_of(node.input[0]) in ("INT32", "INT64", "BOOL")
    )


def check_profile(model: onnx.ModelProto, profile: dict[str, tuple[tuple, tuple, tuple]]) -> list[Finding]:
    """Every graph input has a profile entry of its rank; fixed dims fixed; dynamic dims ranged."""
    found = []
    inits = {t.name for t in model.graph.initializer}
    for value in model.graph.input:
        if value.name in inits:
            continue
        dims = value.type.tensor_type.shape.dim
        if value.name not in profile:
            found.append(Finding("profile", value.name, "no optimization-profile entry"))
            continue
        lo, opt, hi = profile[value.name]
        if not len(lo) == len(opt) == len(hi) == len(dims):
            found.append(Finding("profile", value.name, f"rank {len(dims)} but profile {lo}/{opt}/{hi}"))
            continue
        for axis, dim in enumerate(dims):
            span = (lo[axis], opt[axis], hi[axis])
            if dim.HasField("dim_value"):
                if span != (dim.dim_value,) * 3:
                    found.append(
                        Finding(
                            "profile", value.name, f"axis {axis} is fixed {dim.dim_value}, profile {span}"
                        )
                    )
            elif not 1 <= span[0] <= span[1] <= span[2]:
                found.append(
                    Finding("profile", value.name, f"axis {axis} ({dim.dim_param}): bad range {span}")
                )
    return found


def check_model_dir(
    model_dir: str | Path, as_is: bool = False, max_batch: int | None = None, require_fp16: bool | None = None
) -> dict[str, list[Finding]]:
    """Findings per branch for a model directory: its TensorRT variant (default) or the files as they are."""
    from ddvlm_ros.backends import BRANCHES, read_metadata
    from ddvlm_ros.tensorrt_backend import DEFAULT_MAX_BATCH, optimization_profile
    from ddvlm_ros.trt_graph import to_tensorrt_fp16

    meta = read_metadata(model_dir)
    results = {}
    for branch in BRANCHES:
        model = onnx.load(str(Path(model_dir) / meta["files"][branch]))
        if not as_is:
            model, _ = to_tensorrt_fp16(model)
        profile = optimization_profile(meta, branch, max_batch or DEFAULT_MAX_BATCH)
        strict = (not as_is) if require_fp16 is None else require_fp16
        results[branch] = check_graph(model, profile, require_fp16=strict)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ddvlm_ros.trt_compat", description=__doc__.splitlines()[0]
    )
    parser.add_argument("model_dir")
    parser.add_argument(
        "--as-is", action="store_true", help="check the files unchanged, not the TensorRT variant"
    )
    args = parser.parse_args(argv)
    results = check_model_dir(args.model_dir, as_is=args.as_is)
    for branch, findings in results.items():
        print(f"{branch}: {'ok' if not findings else f'{len(findings)} findings'}")
        for finding in findings:
            print(f"  {finding}")
    print(f"support facts: {matrix.SOURCE}")
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
