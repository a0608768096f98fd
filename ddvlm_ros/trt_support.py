"""Facts from the ONNX-TensorRT operator support matrix, as data for the static check (trt_compat.py).

Source: onnx/onnx-tensorrt docs/operators.md, the table headed "TensorRT 10.15 supports operators in the
inclusive range of opset 9 to opset 24" (read 2026-12-01). The opset ceiling used here is the lower one of
TensorRT 10.0 ("opset 9 to opset 20"), because JetPack 6 ships TensorRT 10.3: a graph that passes is
inside what every 10.x parser accepts. Types are the "Supported Types" column (the op's main type
constraint); restrictions are the "Restrictions" column, checked by trt_compat where encoded.
Ops marked N in the matrix, and ops absent from it, are unsupported.
"""

from __future__ import annotations

SOURCE = "onnx/onnx-tensorrt docs/operators.md (TensorRT 10.15 table; opset ceiling of TensorRT 10.0)"
MIN_OPSET = 9
MAX_OPSET = 20

# Matrix note: "INT8, INT4, FP8 and FP4 are treated as Quantized Types ... support is available only
# through quantization from a floating-point type with higher precision."
QUANTIZED_TYPES = frozenset({"INT8", "INT4", "FP8", "FP4"})
# Matrix note: "UINT8 is only supported as network input or output tensor types."
IO_ONLY_TYPES = frozenset({"UINT8"})

_F = "FP32 FP16 BF16"
_FI = f"{_F} INT32 INT64"
_FIB = f"{_FI} BOOL"
_TABLE = f"""
Abs {_FI}; Acos {_F}; Acosh {_F}; Add {_FI}; And BOOL; ArgMax {_FI}; ArgMin {_FI}; Asin {_F}; Asinh {_F};
Atan {_F}; Atanh {_F}; Attention {_F} INT8 FP8; AveragePool {_F}; BatchNormalization {_F};
BlackmanWindow FP32 FP16; Cast {_FI} UINT8 BOOL; CastLike {_FI} UINT8 BOOL; Ceil {_F}; Celu {_F}; Clip {_F};
Concat {_FIB}; Constant {_FIB} FP8 FP4 INT4; ConstantOfShape {_FIB} FP8 FP4 INT4; Conv {_F};
ConvTranspose {_F}; Cos {_F}; Cosh {_F}; CumSum {_F}; DeformConv FP32 FP16; DepthToSpace {_FI};
DequantizeLinear INT8 FP8 FP4 INT4; Div {_FI}; Dropout {_F}; Einsum {_F}; Elu {_F}; Equal {_FI}; Erf {_F};
Exp {_F}; Expand {_FIB}; EyeLike {_FIB}; Flatten {_FIB}; Floor {_F}; Gather {_FIB}; GatherElements {_FIB};
GatherND {_FIB}; Gelu {_FI} INT8; Gemm {_F}; GlobalAveragePool {_F}; GlobalLpPool {_F}; GlobalMaxPool {_F};
Greater {_FI}; GreaterOrEqual {_FI}; GridSample FP32 FP16; GroupNormalization {_F}; GRU {_F};
HammingWindow FP32 FP16; HannWindow FP32 FP16; HardSigmoid {_F}; HardSwish {_F}; Hardmax {_F};
Identity {_FIB}; If {_FIB}; ImageScaler {_F}; InstanceNormalization {_F}; IsInf {_F}; IsNaN {_FI};
LayerNormalization {_F}; LeakyRelu {_F}; Less {_FI}; LessOrEqual {_FI}; Log {_F}; LogSoftmax {_F};
Loop {_FIB}; LRN {_F}; LSTM {_F}; LpNormalization {_F}; LpPool {_F}; MatMul {_F}; Max {_FI}; MaxPool {_F};
Mean {_FI} FP8; MeanVarianceNormalization {_F}; Min {_FI}; Mish FP32 FP16; Mod {_FI}; Mul {_FI}; Neg {_FI};
NonMaxSuppression FP32 FP16; NonZero FP32 FP16; Not BOOL; OneHot {_FIB}; Or BOOL; Pad {_FI};
ParametricSoftplus {_F}; Pow {_FI}; PRelu {_F}; QuantizeLinear {_F}; RandomNormal {_F};
RandomNormalLike {_F}; RandomUniform {_F}; RandomUniformLike {_F}; Range {_FI}; Reciprocal {_F};
ReduceL1 {_FI}; ReduceL2 {_FI}; ReduceLogSum {_FI}; ReduceLogSumExp {_FI}; ReduceMax {_FI}; ReduceMean {_FI};
ReduceMin {_FI}; ReduceProd {_FI}; ReduceSum {_FI}; ReduceSumSquare {_FI}; Relu {_FI}; Reshape {_FIB};
Resize {_F}; ReverseSequence {_FIB}; RMSNormalization {_F}; RNN {_F}; RoiAlign FP32 FP16;
RotaryEmbedding {_F}; Round {_F}; STFT FP32; ScaledTanh {_F}; Scan {_F}; Scatter {_FI};
ScatterElements {_FI}; ScatterND {_FI}; Selu {_F}; Shape {_FIB}; Shrink {_FI}; Sigmoid {_F}; Sign {_FI};
Sin {_F}; Sinh {_F}; Size {_FIB}; Slice {_FIB}; Softmax {_F}; Softplus {_F}; Softsign {_F};
SpaceToDepth {_FI}; Split {_FIB}; Sqrt {_F}; Squeeze {_FIB}; Sub {_FI}; Sum {_FI}; Tan {_F}; Tanh {_F};
TensorScatter {_F} INT32; ThresholdedRelu {_F}; Tile {_FIB}; TopK {_FI}; Transpose {_FIB}; Trilu {_FIB};
Unsqueeze {_FIB}; Upsample {_F}; Where {_FIB}; Xor BOOL
"""
SUPPORTED_TYPES: dict[str, frozenset[str]] = {
    entry.split()[0]: frozenset(entry.split()[1:]) for entry in _TABLE.replace("\n", " ").split(";")
}

# Inputs that are not of the op's main type (indices, shapes, axes, scales): not checked against it.
AUXILIARY_INPUTS: dict[str, frozenset[int]] = {
    "Gather": frozenset({1}),
    "GatherElements": frozenset({1}),
    "GatherND": frozenset({1}),
    "Reshape": frozenset({1}),
    "Expand": frozenset({1}),
    "Tile": frozenset({1}),
    "Slice": frozenset({1, 2, 3, 4}),
    "Pad": frozenset({1, 3}),
    "Squeeze": frozenset({1}),
    "Unsqueeze": frozenset({1}),
    "CumSum": frozenset({1}),
    "TopK": frozenset({1}),
    "Resize": frozenset({1, 2, 3}),
    "Split": frozenset({1}),
    "ConstantOfShape": frozenset({0}),
    "Where": frozenset({0}),
    "OneHot": frozenset({0, 1}),
    "ScatterND": frozenset({1}),
    "ScatterElements": frozenset({1}),
    "Scatter": frozenset({1}),
    "DequantizeLinear": frozenset({1, 2}),
    "QuantizeLinear": frozenset({1, 2}),
    "Range": frozenset(),
    "Dropout": frozenset({1, 2}),
    "Trilu": frozenset({1}),
    **{op: frozenset({1}) for op in SUPPORTED_TYPES if op.startswith("Reduce")},
}
# DequantizeLinear/QuantizeLinear scales: a floating-point type of higher precision.
SCALE_TYPES = frozenset({"FP32", "FP16", "BF16"})

# Restrictions column, as (op, text). trt_compat checks the ones it has a rule for and reports the
# others as not checkable statically, so a graph using them does not pass by omission.
RESTRICTIONS: dict[str, str] = {
    "Attention": "Q, K, V and attn_mask must be 4D; past/present key-value and qk_matmul_output unsupported",
    "AveragePool": "2D or 3D Pooling only. dilations must be empty or all ones",
    "Constant": "sparse_value, value_string, and value_strings attributes are unsupported",
    "CumSum": "axis must be a build-time constant",
    "DeformConv": "input must have 1D or 2D spatial dimensions; equal begin/end pads",
    "DequantizeLinear": "x_zero_point must be zero",
    "Dropout": "is_training must be an initializer and evaluate to False",
    "EyeLike": "input must have static dimensions",
    "GridSample": "Input must be 4D input",
    "GRU": "bidirectional GRUs: the same activation functions both ways",
    "Hardmax": "axis dimension of input must be a build-time constant",
    "If": "branches' outputs must have the same rank and different names",
    "LayerNormalization": "Only the first output Y is supported",
    "Loop": "scan output length cannot be dynamic; loop-carried shapes constant",
    "LpPool": "dilations must be empty or all ones",
    "LSTM": "input_forget attribute must be 0. layout attribute must be 0; same activations both ways",
    "MaxPool": "2D or 3D pooling only. Indices output unsupported. dilations must be empty or all ones",
    "OneHot": "depth must be a build-time constant",
    "QuantizeLinear": "y_zero_point must be 0",
    "ReduceL1": "axes must be an initializer",
    "Resize": "modes half_pixel/pytorch_half_pixel/tf_half_pixel_for_nn/asymmetric/align_corners; "
    "nearest/linear; aspect ratio stretch; no antialias",
    "RNN": "bidirectional RNNs: the same activation functions both ways",
    "RotaryEmbedding": "position_ids must be INT64",
    "ScatterND": "reduction other than none is not supported",
    "Squeeze": "axes must be resolvable to a constant",
    "STFT": "frame_step and window must be an initializer; real input",
    "TensorScatter": "past_cache and update must be 4D; axis must be -2",
    "TopK": "sorted must be 1. K input must be less than 3840",
    "Unsqueeze": "axes must be resolvable to a constant",
}
for _op in [op for op in SUPPORTED_TYPES if op.startswith("Reduce")]:
    RESTRICTIONS[_op] = "axes must be an initializer"
