"""sensor_msgs/Image encodings <-> numpy dtype and channel count."""

from __future__ import annotations

import re

import numpy as np

# Named encodings (sensor_msgs/image_encodings.hpp): (numpy dtype, channels).
NAMED: dict[str, tuple[str, int]] = {
    "rgb8": ("uint8", 3),
    "bgr8": ("uint8", 3),
    "rgba8": ("uint8", 4),
    "bgra8": ("uint8", 4),
    "mono8": ("uint8", 1),
    "mono16": ("uint16", 1),
}

# Generic OpenCV type encodings "<depth>C<n>", e.g. 16UC1, 32FC1, 8UC3.
_DEPTHS = {
    "8U": "uint8",
    "8S": "int8",
    "16U": "uint16",
    "16S": "int16",
    "32S": "int32",
    "32F": "float32",
    "64F": "float64",
}
_DTYPE_TO_DEPTH = {v: k for k, v in _DEPTHS.items()}
_GENERIC = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")

# Color encodings: channel layout for cvtColor conversions, and bit depth.
COLOR_LAYOUT = {
    "rgb8": "RGB",
    "bgr8": "BGR",
    "rgba8": "RGBA",
    "bgra8": "BGRA",
    "mono8": "GRAY",
    "mono16": "GRAY",
}


class EncodingError(ValueError):
    """Unknown encoding or image type (wrapped as CvBridgeError by CvBridge)."""


def dtype_and_channels(encoding: str) -> tuple[np.dtype, int]:
    """The numpy dtype (native order) and channel count of ``encoding``."""
    if encoding in NAMED:
        name, channels = NAMED[encoding]
        return np.dtype(name), channels
    match = _GENERIC.match(encoding)
    if match is None:
        raise EncodingError(
            f"unsupported encoding '{encoding}' (supported: {', '.join(NAMED)}, "
            "and <8U|8S|16U|16S|32S|32F|64F>C<1-4>)"
        )
    return np.dtype(_DEPTHS[match.group(1)]), int(match.group(2))


def cv_type_of(image: np.ndarray) -> str:
    """The generic encoding of an array, e.g. '8UC3' for an HxWx3 uint8 image."""
    name = image.dtype.newbyteorder("=").name
    if name not in _DTYPE_TO_DEPTH:
        raise EncodingError(f"numpy dtype {image.dtype} has no image encoding")
    if image.ndim == 2:
        channels = 1
    elif image.ndim == 3 and 1 <= image.shape[2] <= 4:
        channels = image.shape[2]
    else:
        raise EncodingError(f"image shape {image.shape} is not HxW or HxWxC with C in 1..4")
    return f"{_DTYPE_TO_DEPTH[name]}C{channels}"


def cv_type_of_encoding(encoding: str) -> str:
    """The generic encoding of any encoding, e.g. 'bgr8' -> '8UC3'."""
    dtype, channels = dtype_and_channels(encoding)
    return f"{_DTYPE_TO_DEPTH[dtype.name]}C{channels}"
