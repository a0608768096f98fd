"""TensorRT backend: FP16 engines with INT8 weights, built from the committed WOQ graphs and cached on disk.

Flow: probe() says whether TensorRT can run here and why not (no TensorRT module / no CUDA bindings / no
driver / no device); each branch's ONNX file is rewritten by trt_graph (FP16-typed, INT8 weights behind
DequantizeLinear), checked by trt_compat, built as a strongly typed network (the graph's types decide
precision; TensorRT 10.x needs the flag, 11.x always does it) and cached under a key of GPU name, compute
capability, TensorRT version, the sha256 of the ONNX TensorRT parses, and the build options.

Everything above `TensorRTBackend` runs without a GPU (and is tested so); the class needs one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ddvlm_ros.backends import BackendUnavailable, InferenceBackend, _Logger
from ddvlm_ros.cuda_runtime import CudaRuntime, CudaUnavailable, DeviceInfo, load_cuda_runtime
from ddvlm_ros.model_files import BRANCHES, ModelError, dim_limits, sha256_file

SUPPORTED_MAJORS = (10, 11)  # strongly typed networks, INT64 tensors, FP16-scale DequantizeLinear
# ddvlm-eval runs batch 64 with backend=auto; the node batches at most a few utterances. Larger batches
# are split into chunks of the profile's maximum by the backend itself (see chunks()).
DEFAULT_MAX_BATCH = 64
OPT_BATCH = 1  # the node's usual case: one utterance
OPT_LENGTH = 64


@dataclass(frozen=True)
class Probe:
    """Whether TensorRT can run here; `reason` is ok / no-tensorrt / tensorrt-version / no-cuda-bindings /
    no-driver / no-device, `message` says it in words for the log."""

    ok: bool
    reason: str
    message: str
    device: DeviceInfo | None = None
    trt_version: str = ""


def probe() -> Probe:
    try:
        import tensorrt as trt
    except ImportError as exc:
        return Probe(False, "no-tensorrt", f"no TensorRT module (import tensorrt: {exc})")
    except Exception as exc:  # installed but its libraries do not load (e.g. libnvinfer/libcuda missing)
        return Probe(
            False, "no-tensorrt", f"tensorrt is installed but does not load ({type(exc).__name__}: {exc})"
        )
    if not hasattr(trt, "Builder"):
        where = getattr(trt, "__file__", None) or "a namespace package"
        return Probe(
            False, "no-tensorrt", f"no TensorRT module ('tensorrt' resolves to {where}, not NVIDIA's)"
        )
    version = str(getattr(trt, "__version__", "?"))
    if _major(version) not in SUPPORTED_MAJORS:
        return Probe(
            False, "tensorrt-version", f"TensorRT {version} is not a supported major {SUPPORTED_MAJORS}"
        )
    try:
        device = load_cuda_runtime().device()
    except CudaUnavailable as exc:
        return Probe(False, exc.reason, f"TensorRT {version} imports but {exc}", trt_version=version)
    return Probe(
        True, "ok", f"TensorRT {version} on {device.name} ({device.sm}, {device.runtime})", device, version
    )


def tensorrt_status() -> tuple[bool, str]:
    """(usable, reason in words): probe() for callers that only need the two."""
    result = probe()
    return result.ok, result.message


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return -1


# --- engine cache ---------------------------------------------------------------------------------
def engine_cache_key(device: DeviceInfo, trt_version: str, onnx_sha256: str, build_options: dict) -> str:
    """A change of GPU model, compute capability, TensorRT version, parsed ONNX or build options rebuilds."""
    blob = json.dumps(
        {
            "gpu": device.name,
            "capability": list(device.capability),
            "tensorrt": trt_version,
            "onnx_sha256": onnx_sha256,
            "options": build_options,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def engine_cache_path(cache_dir: Path, branch: str, key: str) -> Path:
    return Path(cache_dir) / f"{branch}-{key}.engine"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ddvlm_ros" / "tensorrt"


# --- optimization profiles and chunking ----------------------------------------------------------
def _maxima(metadata: dict, max_batch: int) -> dict[str, int]:
    return {"B": max_batch, "N": max_batch * int(metadata.get("max_frames", 8)), **dim_limits(metadata)}


def optimization_profile(
    metadata: dict, branch: str, max_batch: int = DEFAULT_MAX_BATCH, opt_length: int = OPT_LENGTH
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape per input over the named dims: B utterances, N face crops (B × max_frames),
    L tokens (<= max_length), F frames (<= max_frames). opt = one utterance of opt_length tokens."""
    maxima = _maxima(metadata, max_batch)
    opts = {
        "B": OPT_BATCH,
        "N": OPT_BATCH,
        "L": min(opt_length, maxima.get("L", opt_length)),
        "F": maxima.get("F", 1),
    }
    profile = {}
    for spec in metadata["inputs"][branch]:
        dims = spec["shape"]
        unknown = [d for d in dims if isinstance(d, str) and d not in maxima]
        if unknown:
            raise ModelError(f"{branch}.{spec['name']}: no profile bound for dims {unknown}")
        lo = tuple(d if isinstance(d, int) else 1 for d in dims)
        mid = tuple(d if isinstance(d, int) else opts.get(d, 1) for d in dims)
        hi = tuple(d if isinstance(d, int) else maxima[d] for d in dims)
        profile[spec["name"]] = (lo, mid, hi)
    return profile


def chunks(feeds: dict[str, np.ndarray], limit: int) -> list[dict[str, np.ndarray]]:
    """Split feeds along axis 0 (B or N, shared by every input of a branch) into pieces of <= limit rows.

    Why here: callers (ddvlm-eval batch 64, replay) should not need to know the engine's profile.
    """
    rows = {arr.shape[0] for arr in feeds.values()}
    if len(rows) != 1:
        raise ValueError(f"inputs disagree on axis 0: { {k: v.shape for k, v in feeds.items()} }")
    total = rows.pop()
    if total <= limit:
        return [feeds]
    return [{k: v[s : s + limit] for k, v in feeds.items()} for s in range(0, total, limit)]


def batch_limit(profile: dict[str, tuple[tuple, tuple, tuple]]) -> int:
    """The largest axis-0 size every input's profile allows."""
    return min(hi[0] for _, _, hi in profile.values())


# --- the backend (needs a GPU) -------------------------------------------------------------------
class TensorRTBackend(InferenceBackend):
    """TensorRT engines of the FP16/INT8-weight variant of each graph; GPU memory via cuda_runtime."""

    name = "tensorrt"

    def __init__(
        self,
        model_dir: str | os.PathLike,
        metadata: dict,
        cache_dir: str | os.PathLike | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        workspace_mb: int = 1024,
        logger: _Logger | None = None,
        branches: tuple[str, ...] = BRANCHES,
    ) -> None:
        super().__init__(model_dir, metadata, branches)
        status = probe()
        if not status.ok:
            raise BackendUnavailable(status.message)
        import tensorrt as trt

        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._trt = trt
        self._log = logger or logging.getLogger(__name__)
        self.cuda: CudaRuntime = load_cuda_runtime()
        self.device_info = self.cuda.device()
        self.trt_logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.trt_logger)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.options = {
            "max_batch": max_batch,
            "workspace_mb": workspace_mb,
            "opt_length": OPT_LENGTH,
            "graph": "trt-fp16",
        }
        self.profiles = {b: optimization_profile(metadata, b, max_batch) for b in BRANCHES}
        self.engines: dict[str, Any] = {}
        self.contexts: dict[str, Any] = {}
        self.engine_paths: dict[str, Path] = {}
        self.build_seconds: dict[str, float] = {}
        for branch in self.branches:
            self._load_engine(branch)
        self.stream = self.cuda.stream()
        self._buffers: dict[tuple[str, str], tuple[int, int]] = {}  # (branch, tensor) → (ptr, nbytes)

    def _trt_onnx(self, branch: str) -> Path:
        """The FP16 TensorRT variant of a branch's graph, converted once and cached beside the engines."""
        import onnx

        from ddvlm_ros.trt_compat import check_graph
        from ddvlm_ros.trt_graph import CONVERTER_VERSION, to_tensorrt_fp16

        src = self.model_dir / self.metadata["files"][branch]
        src_sha = self.metadata["sha256"][self.metadata["files"][branch]]
        path = (
            self.cache_dir
            / f"{branch}-{src_sha[:16]}-trtfp16-v{CONVERTER_VERSION}-onnx{onnx.__version__}.onnx"
        )
        if path.is_file():
            return path
        model, report = to_tensorrt_fp16(onnx.load(str(src)))
        findings = check_graph(model, self.profiles[branch], require_fp16=True)
        if findings:
            raise ModelError(
                f"{branch}: TensorRT variant fails the static check: " + "; ".join(map(str, findings))
            )
        tmp = path.with_suffix(".tmp")
        onnx.save(model, str(tmp))
        tmp.replace(path)
        self._log.info(f"tensorrt: wrote FP16 variant of {src.name} ({report.as_dict()})")
        return path

    def _load_engine(self, branch: str) -> None:
        onnx_path = self._trt_onnx(branch)
        key = engine_cache_key(self.device_info, self._trt.__version__, sha256_file(onnx_path), self.options)
        path = engine_cache_path(self.cache_dir, branch, key)
        if path.is_file():
            self._log.info(f"tensorrt: loading cached engine {path}")
            plan = path.read_bytes()
        else:
            self._log.info(
                f"tensorrt: building {branch} engine for {self.device_info.name} (no cache entry {path.name})"
            )
            start = time.perf_counter()
            plan = self._build(branch, onnx_path)
            self.build_seconds[branch] = time.perf_counter() - start
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(plan)
            tmp.replace(path)
        engine = self.runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise ModelError(
                f"tensorrt could not deserialize the {branch} engine ({path}); delete it to rebuild"
            )
        self.engines[branch] = engine
        self.contexts[branch] = engine.create_execution_context()
        self.engine_paths[branch] = path

    def _build(self, branch: str, onnx_path: Path) -> bytes:
        trt = self._trt
        builder = trt.Builder(self.trt_logger)
        flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        network = builder.create_network(0 if flag is None else 1 << int(flag))
        parser = trt.OnnxParser(network, self.trt_logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelError(f"tensorrt cannot parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.options["workspace_mb"] << 20)
        profile = builder.create_optimization_profile()
        for name, (lo, mid, hi) in self.profiles[branch].items():
            profile.set_shape(name, lo, mid, hi)
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise ModelError(f"tensorrt failed to build an engine for {onnx_path} (see TensorRT log above)")
        return bytes(plan)

    def _buffer(self, branch: str, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get((branch, name), (0, 0))
        if size < nbytes:
            if ptr:
                self.cuda.free(ptr)
            ptr, size = self.cuda.malloc(nbytes), nbytes
            self._buffers[(branch, name)] = (ptr, size)
        return ptr

    def _run(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        parts = [self._run_chunk(branch, part) for part in chunks(feeds, batch_limit(self.profiles[branch]))]
        return [
            np.concatenate([p[i] for p in parts]) if len(parts) > 1 else parts[0][i]
            for i in range(len(parts[0]))
        ]

    def _run_chunk(self, branch: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        trt, engine, context = self._trt, self.engines[branch], self.contexts[branch]
        for name, arr in feeds.items():
            arr = np.ascontiguousarray(arr)
            want = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            if arr.dtype != want:
                raise ModelError(f"{branch}.{name}: engine expects {want}, metadata gave {arr.dtype}")
            if not context.set_input_shape(name, tuple(arr.shape)):
                lo, _, hi = self.profiles[branch][name]
                raise RuntimeError(
                    f"tensorrt rejected shape {arr.shape} for {branch}.{name} (profile {lo}..{hi})"
                )
            ptr = self._buffer(branch, name, arr.nbytes)
            self.cuda.to_device(ptr, arr, self.stream)
            if not context.set_tensor_address(name, ptr):
                raise RuntimeError(f"tensorrt refused the device address of {branch}.{name}")
        outputs = []
        for spec in self.metadata["outputs"][branch]:
            name = spec["name"]
            shape = tuple(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise RuntimeError(f"tensorrt could not infer the shape of {branch}.{name} ({shape})")
            out = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
            ptr = self._buffer(branch, name, max(out.nbytes, 1))
            if not context.set_tensor_address(name, ptr):
                raise RuntimeError(f"tensorrt refused the device address of {branch}.{name}")
            outputs.append((out, ptr))
        if not context.execute_async_v3(self.stream):
            raise RuntimeError(f"tensorrt execution of the {branch} engine failed")
        for out, ptr in outputs:
            if out.size:
                self.cuda.to_host(out, ptr, self.stream)
        self.cuda.synchronize(self.stream)
        return [out.astype(np.float32, copy=False) for out, _ in outputs]

    def engine_bytes(self) -> dict[str, int]:
        return {b: p.stat().st_size for b, p in self.engine_paths.items()}
