"""Inference backends behind one interface: ONNX Runtime (default), TensorRT (Jetson), torch (reference).

Why one interface: the node calls `encode_text`, `encode_faces` and `fuse` and never cares which runtime
answers. Every backend reads the same model directory (metadata.json + ONNX files, sha256-checked) and
validates inputs against the shapes and dtypes recorded in metadata.json (both in model_files.py), so
bad input fails with the same clear message everywhere.
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ddvlm_ros.model_files import (
    BRANCHES,
    InputError,
    ModelError,
    dummy_inputs,
    read_metadata,
    sha256_file,
    validate_inputs,
)

__all__ = [  # the model-directory helpers are defined in model_files.py and used from here too
    "BACKENDS",
    "BRANCHES",
    "BackendUnavailable",
    "InferenceBackend",
    "InputError",
    "ModelError",
    "OnnxRuntimeBackend",
    "dummy_inputs",
    "load_backend",
    "read_metadata",
    "select_backend",
    "sha256_file",
    "validate_inputs",
]

BACKENDS = ("auto", "onnxruntime", "tensorrt", "torch")


class BackendUnavailable(RuntimeError):
    """The requested runtime cannot run here (package or GPU missing)."""


class _Logger(Protocol):
    def info(self, msg: str) -> Any: ...
    def warning(self, msg: str) -> Any: ...


class InferenceBackend(ABC):
    """Common validation and warm-up; subclasses implement `_run(branch, feeds)`."""

    name: str = ""

    def __init__(
        self, model_dir: str | os.PathLike, metadata: dict, branches: tuple[str, ...] = BRANCHES
    ) -> None:
        unknown = sorted(set(branches) - set(BRANCHES))
        if unknown or not branches:
            raise ValueError(f"branches must be a non-empty subset of {BRANCHES}, got {branches}")
        self.model_dir = Path(model_dir)
        self.metadata = metadata
        self.branches = tuple(b for b in BRANCHES if b in branches)  # the graphs loaded

    # public API --------------------------------------------------------------------------------
    def encode_text(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Token ids [B,L] int64 → (text_features [B,Dt], text_logits [B,7])."""
        out = self._checked("text", {"input_ids": input_ids, "attention_mask": attention_mask})
        return out[0], out[1]

    def encode_faces(self, faces: np.ndarray) -> np.ndarray:
        """Face crops [N,1,64,64] float32 in [0,1] → face_features [N,Dv]."""
        return self._checked("face", {"faces": faces})[0]

    def fuse(
        self,
        text_features: np.ndarray,
        text_mask: np.ndarray,
        face_features: np.ndarray,
        face_mask: np.ndarray,
        visual_weight: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-utterance features and masks → (fused_logits [B,7], visual_logits [B,7]).

        ``visual_weight`` [B] float32 scales the model's visual weight (1 = as trained, 0 = text only);
        None means 1 for models whose fusion graph takes it.
        """
        feeds = {
            "text_features": text_features,
            "text_mask": text_mask,
            "face_features": face_features,
            "face_mask": face_mask,
        }
        takes_weight = any(s["name"] == "visual_weight" for s in self.metadata["inputs"]["fusion"])
        if visual_weight is not None or takes_weight:
            feeds["visual_weight"] = (
                np.ones(np.shape(text_mask)[:1], np.float32) if visual_weight is None else visual_weight
            )
        out = self._checked("fusion", feeds)
        return out[0], out[1]

    def warmup(self) -> float:
        """Run every branch once on small dummy inputs; returns the seconds it took.

        Why: the first run allocates arenas and (TensorRT/CUDA) selects kernels; doing it at load time
        keeps that cost off the first utterance.
        """
        start = time.perf_counter()
        for branch in self.branches:
            self._run(branch, dummy_inputs(self.metadata, branch))
        return time.perf_counter() - start

    # internals ---------------------------------------------------------------------------------
    def _checked(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if branch not in self.branches:
            raise ModelError(f"the {branch} graph was not loaded (this backend loaded {self.branches})")
        validate_inputs(self.metadata, branch, feeds)
        return self._run(branch, feeds)

    @abstractmethod
    def _run(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one graph; outputs in metadata order."""


# ONNX Runtime ------------------------------------------------------------------------------------
class OnnxRuntimeBackend(InferenceBackend):
    """ONNX Runtime on CPU (CUDA provider first when it is available and `device` allows it).

    precision (how a WOQ graph's INT8 weights are used; int8_compute.PRECISIONS):
      "auto": INT8 compute on CPU (the fastest path that meets the accuracy target, benchmarks/woq.py),
          weight-only on CUDA;
      "int8": INT8 compute (CPU only; fails loudly when no graph has INT8 weights to compute with);
      "weights-only": the graphs as stored (ONNX Runtime dequantizes the weights; FP32 math; what
          TensorRT is given).
    The INT8 rewrite happens in memory from the stored INT8 weights and scales; the files stay as they are.

    int8_activations: "per-tensor" (default; ORT's fused DynamicQuantizeMatMul kernels) or "per-token"
    (int8_compute.ACTIVATION_MODES). A per-tensor activation scale spans every row of a batch, so an
    utterance's answer would depend on what else is in its batch; with per-tensor, an INT8 graph
    therefore runs one row at a time (trimmed to its attention mask): the same answer at batch 1 and 64.
    """

    name = "onnxruntime"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        metadata: dict,
        threads: int = 1,
        device: str = "auto",
        precision: str = "auto",
        int8_activations: str = "per-tensor",
        branches: tuple[str, ...] = BRANCHES,
    ) -> None:
        super().__init__(model_dir, metadata, branches)
        import onnxruntime as ort

        from ddvlm_ros.int8_compute import ACTIVATION_MODES, PRECISIONS

        if int8_activations not in ACTIVATION_MODES:
            raise ValueError(f"int8_activations must be one of {ACTIVATION_MODES}, got {int8_activations!r}")
        self.int8_activations = int8_activations

        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        available = ort.get_available_providers()
        if device == "cuda" and "CUDAExecutionProvider" not in available:
            raise BackendUnavailable(
                f"device=cuda but onnxruntime has no CUDAExecutionProvider ({available})"
            )
        use_cuda = device in ("auto", "cuda") and "CUDAExecutionProvider" in available
        if use_cuda and precision == "int8":
            raise BackendUnavailable("precision=int8 (INT8 compute) is a CPU path; use device=cpu")
        self.providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.precision = "weights-only" if use_cuda or precision == "weights-only" else "int8"
        self.compute: dict[str, str] = {}  # branch → how its linear layers compute (for the log)
        self.int8_reports: dict = {}  # branch → int8_compute.Int8Report of the rewritten graphs
        self.sessions = {}
        for branch in self.branches:
            path = self.model_dir / metadata["files"][branch]
            graph = self._graph(path, branch) if self.precision == "int8" else str(path)
            try:
                self.sessions[branch] = ort.InferenceSession(graph, options, providers=self.providers)
            except Exception as exc:  # onnxruntime raises several private exception types
                raise ModelError(f"onnxruntime cannot load {path}: {exc}") from exc
        int8_graphs = [b for b, c in self.compute.items() if c.startswith("int8")]
        if precision == "int8" and self.branches == BRANCHES and not int8_graphs:  # a subset may be float
            raise ModelError(
                f"precision=int8 but no graph in {self.model_dir} has INT8 weights to compute with "
                f"(model precision {metadata.get('precision', '?')!r}; export with --precision woq-int8)"
            )
        self.device = "cuda" if use_cuda else "cpu"
        self._outputs = {b: [o["name"] for o in metadata["outputs"][b]] for b in BRANCHES}

    def _graph(self, path: Path, branch: str) -> bytes | str:
        """The serialized INT8-compute rewrite of a WOQ graph, or the path when it has no INT8 weights."""
        import onnx

        from ddvlm_ros.int8_compute import rewrite_int8_compute, woq_weight_layers

        try:
            model = onnx.load(str(path))
        except Exception as exc:  # protobuf DecodeError and friends
            raise ModelError(f"onnxruntime cannot load {path}: onnx cannot parse it ({exc})") from exc
        if not woq_weight_layers(model):
            self.compute[branch] = "float (no INT8 weights in the graph)"
            return str(path)
        rewritten, report = rewrite_int8_compute(
            model,
            exclude=tuple(self.metadata.get("int8_compute_exclude", ())),
            inplace=True,
            activations=self.int8_activations,
        )
        self.int8_reports[branch] = report
        self.compute[branch] = f"int8: {report.summary()}"
        return rewritten.SerializeToString()

    def describe(self) -> str:
        """One line for the log: precision and, per branch, how its linear layers compute."""
        if self.precision == "weights-only":
            return "precision weights-only (graphs as stored)"
        rows = ", one row at a time" if self.int8_activations == "per-tensor" else ""
        return f"precision int8 compute ({self.int8_activations} activations{rows}); " + "; ".join(
            f"{b} {c}" for b, c in self.compute.items()
        )

    def _run(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        if branch in self.int8_reports and self.int8_activations == "per-tensor":
            return self._run_rows(branch, feeds)
        return self.sessions[branch].run(self._outputs[branch], feeds)

    def _run_rows(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run a batch row by row, each trimmed to its attention mask when that is a prefix mask."""
        rows = next(iter(feeds.values())).shape[0]
        mask = feeds.get("attention_mask")
        per_token_out = any("L" in o["shape"] for o in self.metadata["outputs"][branch])
        outs = []
        for r in range(rows):
            row = {k: v[r : r + 1] for k, v in feeds.items()}
            if mask is not None and mask.ndim == 2 and not per_token_out:
                n, width = int(mask[r].sum()), mask.shape[1]
                if 0 < n < width and mask[r, :n].all():
                    row = {k: v[:, :n] if v.ndim == 2 and v.shape[1] == width else v for k, v in row.items()}
            outs.append(self.sessions[branch].run(self._outputs[branch], row))
        return [np.concatenate([o[i] for o in outs]) for i in range(len(self._outputs[branch]))]


# TensorRT: ddvlm_ros/tensorrt_backend.py (imported only when TensorRT is considered) -----------------


# torch (reference): ddvlm_ros/training/torch_backend.py (imported only when backend=torch) ---------


def load_backend(
    model_dir: str | os.PathLike,
    backend: str = "auto",
    threads: int = 1,
    logger: _Logger | None = None,
    warmup: bool = True,
    verify_sha256: bool = True,
    precision: str = "auto",
    **options: Any,
) -> InferenceBackend:
    """Validate the model directory, pick and construct a backend, warm it up, and log the choice.

    `auto`: TensorRT when it imports, CUDA bindings load and a GPU is visible, else ONNX Runtime (CPU);
    the log line says which check decided, and a failed engine build falls back with a warning. Extra
    keyword options go to the chosen backend (e.g. cache_dir/max_batch for tensorrt, device for onnxruntime).
    `branches` (onnxruntime, tensorrt): the graphs to load (the vision process loads only "face");
    `precision` (OnnxRuntimeBackend): auto | int8 | weights-only; TensorRT runs the weights as stored, so
    int8 (INT8 compute, a CPU path) with it is an error, as is any explicit precision with torch.
    """
    log = logger or logging.getLogger(__name__)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    metadata = read_metadata(model_dir, verify=verify_sha256)
    chosen, reason = select_backend(backend)
    _check_precision(precision, chosen)
    instance: InferenceBackend | None = None
    if chosen == "tensorrt":
        instance, reason = _tensorrt_or_reason(model_dir, metadata, backend, reason, log, options)
        if instance is None:  # auto fell back: TensorRT's options do not apply, the graphs to load do
            chosen, options = "onnxruntime", {k: v for k, v in options.items() if k == "branches"}
    if chosen == "onnxruntime":
        instance = OnnxRuntimeBackend(model_dir, metadata, threads=threads, precision=precision, **options)
        reason += f"; providers {instance.providers}; {instance.describe()}"
    elif chosen == "torch":
        from ddvlm_ros.training.torch_backend import TorchBackend

        options.pop("branches", None)  # the torch reference always loads the whole model
        instance = TorchBackend(model_dir, metadata, threads=threads, **options)
    assert instance is not None
    warm = instance.warmup() if warmup else 0.0
    loaded = "" if instance.branches == BRANCHES else f"; graphs {', '.join(instance.branches)} only"
    log.info(
        f"backend {instance.name} for {metadata.get('name', model_dir)} ({metadata.get('precision', '?')}): "
        f"{reason}; threads={threads}{loaded}; warm-up {warm * 1000:.0f} ms"
    )
    return instance


def _check_precision(precision: str, chosen: str) -> None:
    """Refuse a precision the chosen backend cannot honour (never silently run something else)."""
    from ddvlm_ros.int8_compute import PRECISIONS

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if chosen == "tensorrt" and precision == "int8":
        raise BackendUnavailable("precision=int8 (INT8 compute) is an ONNX Runtime CPU path, not tensorrt")
    if chosen == "torch" and precision != "auto":
        raise ValueError(f"precision={precision} applies to the onnxruntime backend, not torch")


def _tensorrt_or_reason(
    model_dir: str | os.PathLike, metadata: dict, backend: str, reason: str, log: _Logger, options: dict
) -> tuple[InferenceBackend | None, str]:
    """The TensorRT backend; under `auto` a failed engine build is logged and yields (None, why)."""
    from ddvlm_ros.tensorrt_backend import TensorRTBackend

    try:
        return TensorRTBackend(model_dir, metadata, logger=log, **options), reason
    except (ModelError, BackendUnavailable, RuntimeError) as exc:
        if backend != "auto":
            raise
        log.warning(f"auto: TensorRT engine build failed ({exc}); using ONNX Runtime CPU instead")
        return None, f"auto: ONNX Runtime CPU because the TensorRT engine build failed ({exc})"


def select_backend(requested: str) -> tuple[str, str]:
    """Resolve `auto` and say why; an explicit request is honoured or fails loudly."""
    if requested not in ("auto", "tensorrt"):
        return requested, "requested"
    from ddvlm_ros.tensorrt_backend import probe

    status = probe()
    if requested == "auto":
        if status.ok:
            return "tensorrt", f"auto: {status.message}"
        return "onnxruntime", f"auto: ONNX Runtime CPU because {status.reason}: {status.message}"
    if not status.ok:
        raise BackendUnavailable(f"backend=tensorrt requested but {status.reason}: {status.message}")
    return "tensorrt", f"requested: {status.message}"
