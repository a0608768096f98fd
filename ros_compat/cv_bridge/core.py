"""CvBridge: sensor_msgs Image / CompressedImage <-> numpy (OpenCV) images."""

from __future__ import annotations

import sys
from typing import Any

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from cv_bridge.encodings import (
    COLOR_LAYOUT,
    EncodingError,
    cv_type_of,
    cv_type_of_encoding,
    dtype_and_channels,
)


class CvBridgeError(TypeError):
    """The error CvBridge raises for anything it cannot convert (upstream subclasses TypeError)."""


def _convert_color(image: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert between color encodings as upstream cvtColor2 does (depth scaling, then cvtColor)."""
    if src == dst:
        return image
    if src not in COLOR_LAYOUT or dst not in COLOR_LAYOUT:
        bad = src if src not in COLOR_LAYOUT else dst
        raise CvBridgeError(
            f"[{src}] -> [{dst}]: [{bad}] is not a color format, the conversion does not make sense"
        )
    src_depth, dst_depth = image.dtype.itemsize * 8, dtype_and_channels(dst)[0].itemsize * 8
    if src_depth != dst_depth:
        scale = 65535.0 / 255.0 if dst_depth == 16 else 255.0 / 65535.0
        image = (image.astype(np.float64) * scale).round().astype(dtype_and_channels(dst)[0])
    src_layout, dst_layout = COLOR_LAYOUT[src], COLOR_LAYOUT[dst]
    if src_layout == dst_layout:
        return image
    code = getattr(cv2, f"COLOR_{src_layout}2{dst_layout}", None)
    if code is None:
        raise CvBridgeError(f"no OpenCV conversion from [{src}] to [{dst}]")
    return cv2.cvtColor(image, code)


class CvBridge:
    """Converts between ROS image messages and OpenCV (numpy) images."""

    def encoding_to_dtype_with_channels(self, encoding: str) -> tuple[np.dtype, int]:
        """The numpy dtype and channel count of ``encoding`` (upstream helper)."""
        try:
            return dtype_and_channels(encoding)
        except EncodingError as e:
            raise CvBridgeError(str(e)) from e

    def imgmsg_to_cv2(self, img_msg: Image, desired_encoding: str = "passthrough") -> np.ndarray:
        """Image -> HxW or HxWxC array (native byte order, row padding removed), optionally converted."""
        dtype, channels = self.encoding_to_dtype_with_channels(img_msg.encoding)
        height, width, step = img_msg.height, img_msg.width, img_msg.step
        row_bytes = width * channels * dtype.itemsize
        if step < row_bytes:
            raise CvBridgeError(
                f"step {step} is smaller than width {width} x {channels} channel(s) x {dtype.itemsize} B"
                f" = {row_bytes} for encoding '{img_msg.encoding}'"
            )
        raw = np.frombuffer(img_msg.data, dtype=np.uint8)
        if raw.size != step * height:
            raise CvBridgeError(
                f"data has {raw.size} bytes, expected step {step} x height {height} = {step * height}"
            )
        rows = raw.reshape(height, step)[:, :row_bytes]
        order = ">" if img_msg.is_bigendian else "<"
        image = np.ascontiguousarray(rows).view(dtype.newbyteorder(order))
        image = image.reshape((height, width) if channels == 1 else (height, width, channels))
        native = dtype.newbyteorder("=")
        image = image.astype(native, copy=True) if image.dtype != native else image.copy()
        if desired_encoding == "passthrough":
            return image
        return _convert_color(image, img_msg.encoding, desired_encoding)

    def cv2_to_imgmsg(
        self, cvim: np.ndarray, encoding: str = "passthrough", header: Header | None = None
    ) -> Image:
        """HxW or HxWxC array -> Image; ``passthrough`` names it by type (e.g. '8UC3')."""
        if not isinstance(cvim, np.ndarray | np.generic):
            raise TypeError("Your input type is not a numpy array")
        try:
            cv_type = cv_type_of(cvim)
            if encoding != "passthrough" and cv_type_of_encoding(encoding) != cv_type:
                raise CvBridgeError(
                    f"encoding specified as {encoding}, but image has incompatible type {cv_type}"
                )
        except EncodingError as e:
            raise CvBridgeError(str(e)) from e
        msg = Image()
        if header is not None:
            msg.header = header
        msg.height, msg.width = int(cvim.shape[0]), int(cvim.shape[1])
        msg.encoding = cv_type if encoding == "passthrough" else encoding
        byteorder = cvim.dtype.byteorder
        msg.is_bigendian = byteorder == ">" or (byteorder == "=" and sys.byteorder == "big")
        data = np.ascontiguousarray(cvim).tobytes()
        msg.data = data
        msg.step = len(data) // msg.height if msg.height else 0
        return msg

    def compressed_imgmsg_to_cv2(
        self, cmprs_img_msg: CompressedImage, desired_encoding: str = "passthrough"
    ) -> Any:
        """CompressedImage -> array as decoded (BGR/BGRA/gray), optionally converted."""
        buf = np.frombuffer(bytes(cmprs_img_msg.data), dtype=np.uint8)
        if buf.size == 0:
            raise CvBridgeError("compressed image has no data")
        image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if image is None:
            raise CvBridgeError(f"could not decode compressed image (format '{cmprs_img_msg.format}')")
        if desired_encoding == "passthrough":
            return image
        channels = 1 if image.ndim == 2 else image.shape[2]
        src = {(1, 1): "mono8", (1, 2): "mono16", (3, 1): "bgr8", (4, 1): "bgra8"}.get(
            (channels, image.dtype.itemsize)
        )
        if src is None:
            raise CvBridgeError(
                f"decoded image {image.shape} {image.dtype} has no color encoding to convert from"
            )
        return _convert_color(image, src, desired_encoding)

    def cv2_to_compressed_imgmsg(self, cvim: np.ndarray, dst_format: str = "jpg") -> CompressedImage:
        """Array (BGR/BGRA/gray) -> CompressedImage encoded as ``dst_format`` (jpg, png, ...)."""
        if not isinstance(cvim, np.ndarray | np.generic):
            raise TypeError("Your input type is not a numpy array")
        msg = CompressedImage()
        msg.format = dst_format
        try:
            ok, encoded = cv2.imencode("." + dst_format, cvim)
        except cv2.error as e:
            raise CvBridgeError(f"cannot encode image as '{dst_format}': {e}") from e
        if not ok:
            raise CvBridgeError(f"cannot encode image as '{dst_format}'")
        msg.data = encoded.tobytes()
        return msg
