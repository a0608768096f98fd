"""FP32-typed ONNX graph (the committed WOQ artifact) → FP16-typed graph for a strongly typed TensorRT net.

Why a graph conversion: TensorRT 10.12+ (and every 11.x) takes precision from the graph's own types, so an
FP32 graph would compute FP32 on a Jetson. This rewrite is torch-free (the `onnx` package only) and runs
when an engine is built, from the same file ONNX Runtime runs, so the INT8 weight bytes are shared and the
committed model directory does not grow.

What changes:
- opset raised to >= 19 (DequantizeLinear with an FP16 scale needs it), with ONNX's version converter;
- every FLOAT tensor becomes FLOAT16: initializers, Constant / ConstantOfShape values and Cast targets
  (values clamped to ±65504, e.g. attention-mask fills of float32 min); DequantizeLinear scales become
  FP16, so INT8 weights dequantize straight to FP16 (INT8 weights + FP16 compute, explicit quantization);
- graph inputs and outputs keep their float32 contract through a Cast at the boundary;
- the INT8 word-embedding lookup (Gather INT8 → Cast → Mul by Gather'd row scale, which TensorRT rejects:
  Gather and Cast take no INT8) becomes DequantizeLinear(INT8 table, per-row FP16 scale, axis 0) → Gather;
- LayerNormalization and Softmax run as FP32 islands (Cast to FP32 → op with FP32 scale/bias → Cast to
  FP16): their reductions (mean/variance over 384 features, exp-sum over up to 128 keys) then accumulate
  and normalise in FP32 whatever kernel TensorRT picks, at the cost of two cheap Casts each;
- integer ops the TensorRT matrix lists only for float types (CumSum: FP32/FP16/BF16) run on FP32 between
  Casts; exact for integers below 2**24 (here: counts of separator tokens, <= max_length).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter

from ddvlm_ros.onnx_names import NameAllocator

TRT_MIN_OPSET = 19
CONVERTER_VERSION = "1"  # part of the engine cache key: a changed rewrite rebuilds engines
FP16_MAX = float(np.finfo(np.float16).max)
FP32_ISLAND_OPS = frozenset({"LayerNormalization", "Softmax"})
FLOAT_ONLY_OPS = frozenset({"CumSum"})
_INT_TYPES = frozenset({TensorProto.INT32, TensorProto.INT64})


class ConversionError(ValueError):
    """The graph has a construct this rewrite does not handle (named in the message)."""


@dataclass
class ConversionReport:
    """What the rewrite did (logged at engine build; the benchmark records it)."""

    opset: int = 0
    fp16_initializers: int = 0
    clamped_values: int = 0
    embeddings: list[str] = field(default_factory=list)
    fp32_islands: int = 0
    float_wrapped: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def to_tensorrt_fp16(model: onnx.ModelProto) -> tuple[onnx.ModelProto, ConversionReport]:
    """Return the FP16-typed TensorRT variant of `model` (left unchanged) and a report."""
    _reject_subgraphs(model)
    opset = _default_opset(model)
    out = version_converter.convert_version(model, TRT_MIN_OPSET) if opset < TRT_MIN_OPSET else _copy(model)
    report = ConversionReport(opset=max(opset, TRT_MIN_OPSET))
    g = _Rewrite(out)
    g.int8_embeddings(report)
    g.float_only_ops(report)
    g.fp32_islands(report)
    g.floats_to_fp16(report)
    g.cast_graph_io()
    g.finish()
    del out.graph.value_info[:]
    out = onnx.shape_inference.infer_shapes(out, check_type=True, strict_mode=True)
    onnx.checker.check_model(out, full_check=True)
    return out, report


def convert_file(src: str, dst: str) -> ConversionReport:
    model, report = to_tensorrt_fp16(onnx.load(src))
    onnx.save(model, dst)
    return report


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _copy_node(node: onnx.NodeProto) -> onnx.NodeProto:
    new = onnx.NodeProto()
    new.CopyFrom(node)
    return new


def _default_opset(model: onnx.ModelProto) -> int:
    return next((op.version for op in model.opset_import if op.domain in ("", "ai.onnx")), 0)


def _reject_subgraphs(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ConversionError(f"{node.op_type} node {node.name!r} has a subgraph; not supported")


def _fp16(array: np.ndarray) -> tuple[np.ndarray, int]:
    """FP16 copy, saturating at ±65504 (float32 min/max fills); returns (array, values clamped)."""
    clamped = int(np.count_nonzero(np.abs(array) > FP16_MAX))
    return np.clip(array, -FP16_MAX, FP16_MAX).astype(np.float16), clamped


class _Rewrite:
    """The graph as a mutable node list plus name indexes; written back by finish()."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        # Copies: protobuf repeated fields do not keep element identity across del/extend.
        self.nodes: list[onnx.NodeProto] = [_copy_node(n) for n in self.graph.node]
        self.inits = {t.name: t for t in self.graph.initializer}
        self.new_inits: list[onnx.TensorProto] = []
        self.keep_fp32: set[str] = set()  # initializers of FP32 islands
        self.keep_casts: set[int] = set()  # id() of Casts whose FLOAT target is intended
        self.unique = NameAllocator(self.graph)
        inferred = onnx.shape_inference.infer_shapes(model)
        self.types = {t.name: t.data_type for t in self.graph.initializer}
        for v in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
            self.types[v.name] = v.type.tensor_type.elem_type

    def consumers(self, tensor: str) -> list[onnx.NodeProto]:
        return [n for n in self.nodes if tensor in n.input]

    def producer(self, tensor: str) -> onnx.NodeProto | None:
        return next((n for n in self.nodes if tensor in n.output), None)

    def add_init(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.new_inits.append(numpy_helper.from_array(array, name))
        self.inits[name] = self.new_inits[-1]
        return name

    def cast(self, src: str, dst: str, to: int) -> onnx.NodeProto:
        node = helper.make_node("Cast", [src], [dst], to=to, name=self.unique(f"{dst}_cast"))
        self.keep_casts.add(id(node))
        return node

    def insert_before(self, anchor: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
        idx = next(i for i, n in enumerate(self.nodes) if n is anchor)
        self.nodes[idx:idx] = new

    def insert_after(self, anchor: onnx.NodeProto, new: list[onnx.NodeProto]) -> None:
        idx = next(i for i, n in enumerate(self.nodes) if n is anchor)
        self.nodes[idx + 1 : idx + 1] = new

    def remove(self, *nodes: onnx.NodeProto) -> None:
        drop = {id(n) for n in nodes}
        self.nodes = [n for n in self.nodes if id(n) not in drop]

    # --- rewrites, in the order to_tensorrt_fp16 calls them ------------------------------------
    def int8_embeddings(self, report: ConversionReport) -> None:
        """Gather(INT8 table) → Cast → Mul(Gather(row scale)) becomes DequantizeLinear(axis 0) → Gather."""
        for node in list(self.nodes):
            table = node.input[0] if node.op_type == "Gather" else ""
            if table not in self.inits or self.inits[table].data_type != TensorProto.INT8:
                continue
            ids = node.input[1]
            casts = self.consumers(node.output[0])
            cast = casts[0] if len(casts) == 1 and casts[0].op_type == "Cast" else None
            muls = self.consumers(cast.output[0]) if cast else []
            mul = muls[0] if len(muls) == 1 and muls[0].op_type == "Mul" else None
            other = next((i for i in mul.input if i != cast.output[0]), "") if mul else ""
            scale_gather = self.producer(other) if other else None
            if not (
                mul
                and scale_gather is not None
                and scale_gather.op_type == "Gather"
                and scale_gather.input[1] == ids
                and scale_gather.input[0] in self.inits
                and len(self.consumers(scale_gather.output[0])) == 1
            ):
                raise ConversionError(
                    f"Gather {node.name!r} reads INT8 initializer {table!r} but is not the "
                    "Gather → Cast → Mul(Gather row scale) embedding pattern quantize.py writes"
                )
            rows = self.inits[table].dims[0]
            scale = numpy_helper.to_array(self.inits[scale_gather.input[0]]).reshape(-1)
            if scale.shape != (rows,):
                raise ConversionError(f"{table!r}: expected one scale per row ({rows}), got {scale.shape}")
            scale_name = self.add_init(f"{table}_row_scale", scale.astype(np.float32))
            deq_out = self.unique(f"{table}_dq")
            deq = helper.make_node(
                "DequantizeLinear", [table, scale_name], [deq_out], axis=0, name=self.unique(f"{table}_DQ")
            )
            gather = helper.make_node(
                "Gather", [deq_out, ids], [mul.output[0]], axis=0, name=self.unique(f"{node.name}_dq")
            )
            self.insert_before(node, [deq, gather])
            self.remove(node, cast, mul, scale_gather)
            report.embeddings.append(table)

    def float_only_ops(self, report: ConversionReport) -> None:
        """Integer inputs of float-only ops (CumSum) go through FP32 and back."""
        for node in list(self.nodes):
            if node.op_type not in FLOAT_ONLY_OPS or self.types.get(node.input[0]) not in _INT_TYPES:
                continue
            int_type = self.types[node.input[0]]
            as_float, result = self.unique(f"{node.input[0]}_f32"), self.unique(f"{node.output[0]}_f32")
            before = self.cast(node.input[0], as_float, TensorProto.FLOAT)
            after = self.cast(result, node.output[0], int_type)
            node.input[0], node.output[0] = as_float, result
            self.insert_before(node, [before])
            self.insert_after(node, [after])
            report.float_wrapped += 1

    def fp32_islands(self, report: ConversionReport) -> None:
        """LayerNormalization/Softmax: FP32 inputs (Cast or an FP32 initializer copy), FP16 output."""
        for node in list(self.nodes):
            if node.op_type not in FP32_ISLAND_OPS:
                continue
            for i, name in enumerate(node.input):
                if not name:
                    continue
                if name in self.inits:
                    copy = self.add_init(f"{name}_fp32", numpy_helper.to_array(self.inits[name]))
                    self.keep_fp32.add(copy)
                    node.input[i] = copy
                else:
                    as_fp32 = self.unique(f"{name}_fp32")
                    self.insert_before(node, [self.cast(name, as_fp32, TensorProto.FLOAT)])
                    node.input[i] = as_fp32
            if len([o for o in node.output if o]) != 1:
                raise ConversionError(f"{node.op_type} {node.name!r}: only the first output is supported")
            result = self.unique(f"{node.output[0]}_fp32")
            after = self.cast(result, node.output[0], TensorProto.FLOAT16)
            node.output[0] = result
            self.insert_after(node, [after])
            report.fp32_islands += 1

    def floats_to_fp16(self, report: ConversionReport) -> None:
        for tensor in [*self.graph.initializer, *self.new_inits]:
            if tensor.data_type == TensorProto.FLOAT and tensor.name not in self.keep_fp32:
                array, clamped = _fp16(numpy_helper.to_array(tensor))
                tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
                report.fp16_initializers += 1
                report.clamped_values += clamped
        for node in self.nodes:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT:
                    array, clamped = _fp16(numpy_helper.to_array(attr.t))
                    attr.t.CopyFrom(numpy_helper.from_array(array, attr.t.name))
                    report.clamped_values += clamped
                elif attr.name in ("to", "dtype") and attr.i == TensorProto.FLOAT:
                    if id(node) not in self.keep_casts:
                        attr.i = TensorProto.FLOAT16
            if node.op_type == "Constant" and any(
                a.name in ("value_float", "value_floats") for a in node.attribute
            ):
                raise ConversionError(f"Constant {node.name!r}: value_float(s) not supported; use value")

    def cast_graph_io(self) -> None:
        """float32 graph inputs/outputs stay float32: Cast to FP16 after inputs, to FP32 before outputs."""
        for value in self.graph.input:
            if value.type.tensor_type.elem_type != TensorProto.FLOAT or value.name in self.inits:
                continue
            inner = self.unique(f"{value.name}_fp16")
            for node in self.consumers(value.name):
                node.input[:] = [inner if i == value.name else i for i in node.input]
            self.nodes.insert(0, self.cast(value.name, inner, TensorProto.FLOAT16))
        for value in self.graph.output:
            if value.type.tensor_type.elem_type != TensorProto.FLOAT:
                continue
            inner = self.unique(f"{value.name}_fp16")
            for node in self.nodes:
                node.output[:] = [inner if o == value.name else o for o in node.output]
                node.input[:] = [inner if i == value.name else i for i in node.input]
            self.nodes.append(self.cast(inner, value.name, TensorProto.FLOAT))

    def finish(self) -> None:
        self.graph.initializer.extend(self.new_inits)
        used = {i for n in self.nodes for i in n.input}
        keep = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(keep)
        del self.graph.node[:]
        self.graph.node.extend(self.nodes)


def fp16_emulation(model: onnx.ModelProto) -> onnx.ModelProto:
    """FP32-typed twin of an FP16-typed graph that rounds every FP16 tensor to FP16 where it is produced.

    Why: ONNX Runtime's CPU provider has FP16 kernels for few ops and silently runs the others in FP32
    through inserted Casts, dropping some of the intermediate FP16 roundings. This twin makes the FP16
    storage explicit: every tensor the FP16 graph types FLOAT16 holds an FP16-representable value
    (Cast to FLOAT16 and back after its producer), each op computes in FP32 from those values. That is
    the numerics of "FP16 tensors, FP32 accumulation inside each op"; TensorRT kernels may differ by
    fusing ops (fewer roundings) or accumulating in FP16 (more error), so it is a faithful model of the
    graph's precision, not a bit-exact model of any one engine.
    """
    src = onnx.shape_inference.infer_shapes(model)
    types = {t.name: t.data_type for t in src.graph.initializer}
    for v in [*src.graph.value_info, *src.graph.input, *src.graph.output]:
        types[v.name] = v.type.tensor_type.elem_type
    out = _copy(model)
    g = out.graph
    for tensor in g.initializer:
        if tensor.data_type == TensorProto.FLOAT16:
            tensor.CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)
            )
    nodes: list[onnx.NodeProto] = []
    taken = {o for n in g.node for o in n.output} | {t.name for t in g.initializer}
    for node in g.node:
        node = _copy_node(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.FLOAT16:
                attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float32)))
        rounding = []
        for i, name in enumerate(node.output):
            if types.get(name) != TensorProto.FLOAT16:
                continue
            raw, half = f"{name}__fp32", f"{name}__fp16"
            if raw in taken or half in taken:
                raise ConversionError(f"tensor names {raw!r}/{half!r} already exist")
            node.output[i] = raw
            rounding += [
                helper.make_node("Cast", [raw], [half], to=TensorProto.FLOAT16, name=f"{name}__round"),
                helper.make_node("Cast", [half], [name], to=TensorProto.FLOAT, name=f"{name}__back"),
            ]
        if node.op_type == "Cast" and any(
            a.name == "to" and a.i == TensorProto.FLOAT16 for a in node.attribute
        ):
            # the Cast itself is the rounding: keep it, then widen.
            rounding = rounding[1:]
            node.output[0] = rounding[0].input[0]
        nodes.append(node)
        nodes.extend(rounding)
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    onnx.checker.check_model(out, full_check=True)
    return out
