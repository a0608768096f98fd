"""sensor_msgs/Image and CompressedImage → BGR numpy, with a named reason for every refusal.

The node counts refusals by reason and keeps running, so each failure mode gets its own short code
instead of a generic exception from numpy or OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np

# encoding -> (channels, OpenCV conversion to BGR or None when already BGR)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "mono8": (1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, cv2.COLOR_GRAY2BGR),
    "8UC3": (3, None),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
}


class ImageError(ValueError):
    """A frame the node cannot use; reason is the counter name, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def image_to_bgr(msg, max_pixels: int) -> np.ndarray:
    """Validate a sensor_msgs/Image and return an H×W×3 uint8 BGR array (a copy, never a view of msg)."""
    if msg.encoding not in ENCODINGS:
        raise ImageError(
            "unknown_encoding", f"unsupported encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})"
        )
    channels, conversion = ENCODINGS[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageError("empty_image", f"empty image ({w}x{h})")
    if h * w > max_pixels:
        raise ImageError("huge_image", f"image {w}x{h} has more than max_image_pixels={max_pixels} pixels")
    if step < w * channels:
        raise ImageError("bad_step", f"step {step} < width {w} × {channels} channels ({msg.encoding})")
    size = len(msg.data)
    if size != step * h:
        raise ImageError("size_mismatch", f"data has {size} bytes, step {step} × height {h} = {step * h}")
    buf = np.frombuffer(msg.data, dtype=np.uint8)  # bytes or array('B'): both expose a buffer
    rows = buf.reshape(h, step)[:, : w * channels]
    image = rows.reshape(h, w, channels) if channels > 1 else rows.reshape(h, w)
    if conversion is None:
        return np.ascontiguousarray(image).copy()
    return cv2.cvtColor(np.ascontiguousarray(image), conversion)


def compressed_to_bgr(msg, max_pixels: int) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg/png) to BGR, refusing empty or undecodable data."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError("empty_image", "compressed image has no data")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError("undecodable", f"cannot decode compressed image (format {msg.format!r})")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError("huge_image", f"image {image.shape[1]}x{image.shape[0]} exceeds {max_pixels} pixels")
    return image
