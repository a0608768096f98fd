"""GPU memory, copies and streams for the TensorRT backend, through a declared dependency.

Why not torch: the pinned torch is a CPU build and JetPack's is a separate wheel, so `torch.cuda` says
"no GPU" on a machine that has one. The primary path is cuda-python's runtime API (`cuda.bindings`,
pip-installable on x86 and Jetson: the `tensorrt` extra in setup.py, `python3-cuda-python-pip` key in
package.xml); a CUDA build of torch is used when cuda-python is absent. Every failure says which part is
missing: no CUDA bindings, no (or too old) driver, no device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

CUDA_PYTHON_REQUIREMENT = "cuda-python>=12.6,<13"  # CUDA 12 runtime API: JetPack 6 and x86 CUDA 12/13 drivers
INSTALL_HINT = f"pip install '{CUDA_PYTHON_REQUIREMENT}' (or a CUDA build of torch)"


class CudaUnavailable(RuntimeError):
    """No usable CUDA here; `reason` is one of: no-cuda-bindings, no-driver, no-device."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DeviceInfo:
    """What an engine is specific to (the cache key) and what the log says."""

    name: str
    capability: tuple[int, int]
    runtime: str  # which binding provides CUDA, with its version

    @property
    def sm(self) -> str:
        return f"sm_{self.capability[0]}{self.capability[1]}"


class CudaRuntime(ABC):
    """The few CUDA calls TensorRT inference needs; device pointers are plain ints."""

    @abstractmethod
    def device(self) -> DeviceInfo: ...
    @abstractmethod
    def malloc(self, nbytes: int) -> int: ...
    @abstractmethod
    def free(self, ptr: int) -> None: ...
    @abstractmethod
    def stream(self) -> int: ...
    @abstractmethod
    def to_device(self, ptr: int, array: np.ndarray, stream: int) -> None: ...
    @abstractmethod
    def to_host(self, array: np.ndarray, ptr: int, stream: int) -> None: ...
    @abstractmethod
    def synchronize(self, stream: int) -> None: ...


def driver_library_found() -> bool:
    """Whether libcuda (the NVIDIA driver's user-space library) can be loaded."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def classify_device_count(
    error_name: str, count: int | None, driver_found: bool = True
) -> tuple[str, str] | None:
    """Map cudaGetDeviceCount's result to (reason, words); None when a device is usable.

    Why a function: the mapping is the part of the probe that can be tested without a GPU.
    """
    if error_name == "cudaSuccess":
        return None if count else ("no-device", "the CUDA driver reports 0 devices")
    if error_name == "cudaErrorNoDevice":
        return "no-device", "no CUDA-capable device is detected (cudaErrorNoDevice)"
    if not driver_found:
        return "no-driver", f"no NVIDIA driver: libcuda.so.1 cannot be loaded ({error_name})"
    if error_name == "cudaErrorInsufficientDriver":
        return "no-driver", "the NVIDIA driver is older than the CUDA runtime (cudaErrorInsufficientDriver)"
    return "no-driver", f"the CUDA driver cannot be initialised ({error_name})"


class CudaPythonRuntime(CudaRuntime):
    """cuda-python's runtime API (`cuda.bindings.runtime`; `cuda.cudart` in releases before 12.6)."""

    def __init__(self, cudart: Any, version: str) -> None:
        self._rt = cudart
        self.version = version
        try:
            err, count = cudart.cudaGetDeviceCount()
        except Exception as exc:  # raised when libcuda.so cannot be loaded at all
            raise CudaUnavailable("no-driver", f"cuda-python {version}: no NVIDIA driver ({exc})") from exc
        name = self._name(err)
        problem = classify_device_count(name, count, name == "cudaSuccess" or driver_library_found())
        if problem:
            raise CudaUnavailable(problem[0], f"cuda-python {version}: {problem[1]}")

    def _name(self, err: Any) -> str:
        return getattr(err, "name", str(err))

    def _call(self, what: str, result: Any) -> Any:
        err, *values = result if isinstance(result, tuple) else (result,)
        if self._name(err) != "cudaSuccess":
            raise RuntimeError(f"CUDA {what} failed: {self._name(err)}")
        return values[0] if len(values) == 1 else values

    def device(self) -> DeviceInfo:
        props = self._call("cudaGetDeviceProperties", self._rt.cudaGetDeviceProperties(0))
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        return DeviceInfo(
            name.rstrip("\x00"), (int(props.major), int(props.minor)), f"cuda-python {self.version}"
        )

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", self._rt.cudaMalloc(max(nbytes, 1))))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", self._rt.cudaFree(ptr))

    def stream(self) -> int:
        return int(self._call("cudaStreamCreate", self._rt.cudaStreamCreate()))

    def to_device(self, ptr: int, array: np.ndarray, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call(
            "cudaMemcpyAsync H2D",
            self._rt.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes, kind, stream),
        )

    def to_host(self, array: np.ndarray, ptr: int, stream: int) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call(
            "cudaMemcpyAsync D2H",
            self._rt.cudaMemcpyAsync(array.ctypes.data, ptr, array.nbytes, kind, stream),
        )

    def synchronize(self, stream: int) -> None:
        self._call("cudaStreamSynchronize", self._rt.cudaStreamSynchronize(stream))


class TorchCudaRuntime(CudaRuntime):
    """A CUDA build of torch (e.g. NVIDIA's JetPack wheel); buffers are uint8 tensors kept alive here."""

    def __init__(self, torch: Any) -> None:
        self._torch = torch
        self._buffers: dict[int, Any] = {}
        self._streams: dict[int, Any] = {}
        if torch.version.cuda is None:
            raise CudaUnavailable(
                "no-cuda-bindings", f"torch {torch.__version__} is a CPU build (torch.version.cuda is None)"
            )
        if not torch.cuda.is_available():
            count = torch.cuda.device_count()
            reason = "no-device" if count == 0 else "no-driver"
            raise CudaUnavailable(
                reason, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable GPU"
            )

    def device(self) -> DeviceInfo:
        t = self._torch
        return DeviceInfo(
            t.cuda.get_device_name(0), tuple(t.cuda.get_device_capability(0)), f"torch {t.__version__}"
        )

    def malloc(self, nbytes: int) -> int:
        buf = self._torch.empty(max(nbytes, 1), dtype=self._torch.uint8, device="cuda")
        self._buffers[buf.data_ptr()] = buf
        return buf.data_ptr()

    def free(self, ptr: int) -> None:
        self._buffers.pop(ptr, None)

    def stream(self) -> int:
        s = self._torch.cuda.Stream()
        self._streams[s.cuda_stream] = s
        return s.cuda_stream

    def _view(self, ptr: int, nbytes: int) -> Any:
        return self._buffers[ptr][:nbytes]

    def to_device(self, ptr: int, array: np.ndarray, stream: int) -> None:
        src = self._torch.from_numpy(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
        with self._torch.cuda.stream(self._streams[stream]):
            self._view(ptr, array.nbytes).copy_(src)

    def to_host(self, array: np.ndarray, ptr: int, stream: int) -> None:
        self._streams[stream].synchronize()
        array.reshape(-1).view(np.uint8)[:] = self._view(ptr, array.nbytes).cpu().numpy()

    def synchronize(self, stream: int) -> None:
        self._streams[stream].synchronize()


def _import_cudart() -> tuple[Any, str]:
    """cuda-python's runtime module and version; ImportError when the package is absent."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        from cuda import cudart  # cuda-python < 12.6 layout
    try:
        from importlib.metadata import version

        return cudart, version("cuda-python")
    except Exception:
        return cudart, "unknown"


def load_cuda_runtime() -> CudaRuntime:
    """cuda-python first, then a CUDA build of torch; CudaUnavailable names what is missing."""
    try:
        cudart, version = _import_cudart()
    except ImportError as exc:
        missing = f"cuda-python is not installed ({exc})"
    else:
        return CudaPythonRuntime(cudart, version)
    try:
        import torch
    except ImportError:
        raise CudaUnavailable(
            "no-cuda-bindings", f"no CUDA bindings: {missing} and torch is absent; {INSTALL_HINT}"
        ) from None
    try:
        return TorchCudaRuntime(torch)
    except CudaUnavailable as exc:
        if exc.reason == "no-cuda-bindings":
            raise CudaUnavailable(
                exc.reason, f"no CUDA bindings: {missing} and {exc}; {INSTALL_HINT}"
            ) from None
        raise
