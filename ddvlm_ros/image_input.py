"""sensor_msgs/Image and CompressedImage → BGR numpy, with a named reason for every refusal.

The node counts refusals by reason and keeps running, so each failure mode gets its own short code
instead of a generic exception from numpy or OpenCV. Sizes are checked before any pixel is touched:
a raw image from its width/height/step against the data length, a compressed one from the
dimensions in its encoded header (PNG IHDR, JPEG SOFn), so a small file that would decode to
gigabytes (a decompression bomb) is refused without allocating its pixels.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import cv2
import numpy as np
from cv_bridge import CvBridge, CvBridgeError

_BRIDGE = CvBridge()  # converts raw images once the checks here have passed

# encoding -> channels; 8UC1/8UC3 carry no color layout (CvBridge will not convert them): taken as
# gray and BGR.
ENCODINGS: dict[str, int] = {"bgr8": 3, "rgb8": 3, "mono8": 1, "8UC1": 1, "8UC3": 3, "bgra8": 4, "rgba8": 4}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RST0-7, SOI: no length field
JPEG_SOS, JPEG_EOI = 0xDA, 0xD9


class ImageError(ValueError):
    """A frame the node cannot use; reason is the counter name, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class HeaderSize(NamedTuple):
    """Dimensions an encoded image declares, read without decoding it."""

    format: str  # "png" | "jpeg"
    width: int
    height: int


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Refuse empty or oversized images before their pixels exist (reasons empty_image, huge_image)."""
    if width <= 0 or height <= 0:
        raise ImageError("empty_image", f"empty {what} ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            "huge_image", f"{what} {width}x{height} has more than max_image_pixels={max_pixels} pixels"
        )


def image_to_bgr(msg, max_pixels: int) -> np.ndarray:
    """Validate a sensor_msgs/Image and return an H×W×3 uint8 BGR array (a copy, never a view of msg).

    Everything is checked on the header fields and len(data) before the first copy."""
    if msg.encoding not in ENCODINGS:
        raise ImageError(
            "unknown_encoding", f"unsupported encoding {msg.encoding!r} (supported: {', '.join(ENCODINGS)})"
        )
    channels = ENCODINGS[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    check_pixels(w, h, max_pixels, "image")
    if step < w * channels:
        raise ImageError("bad_step", f"step {step} < width {w} × {channels} channels ({msg.encoding})")
    size = len(msg.data)
    if size != step * h:
        raise ImageError("size_mismatch", f"data has {size} bytes, step {step} × height {h} = {step * h}")
    try:
        if msg.encoding == "8UC3":
            return _BRIDGE.imgmsg_to_cv2(msg, "passthrough")
        if msg.encoding == "8UC1":
            return cv2.cvtColor(_BRIDGE.imgmsg_to_cv2(msg, "passthrough"), cv2.COLOR_GRAY2BGR)
        return _BRIDGE.imgmsg_to_cv2(msg, "bgr8")
    except CvBridgeError as err:  # not expected after the checks above
        raise ImageError("conversion_failed", f"cv_bridge: {err}") from err


def png_size(data: memoryview) -> HeaderSize:
    """Width and height from the IHDR chunk, which the PNG spec requires to come first."""
    if len(data) < 8 + 8 + 13:
        raise ImageError("bad_header", f"PNG of {len(data)} bytes is too short for its IHDR chunk")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ImageError("bad_header", f"PNG does not start with a 13-byte IHDR chunk (got {bytes(kind)!r})")
    width, height = struct.unpack(">II", data[16:24])
    return HeaderSize("png", width, height)


def jpeg_size(data: bytes) -> HeaderSize:
    """Width and height from the first start-of-frame marker, walking the marker segments by length."""
    i, n = 2, len(data)
    while True:
        i = data.find(b"\xff", i)  # bytes between segments: skipped as libjpeg does (with a warning)
        if i < 0:
            raise ImageError("bad_header", "JPEG ends before a start-of-frame marker")
        while i < n and data[i] == 0xFF:
            i += 1  # fill bytes
        if i >= n:
            raise ImageError("bad_header", "JPEG ends before a start-of-frame marker")
        marker = data[i]
        i += 1
        if marker in JPEG_STANDALONE:
            continue
        if marker in (JPEG_SOS, JPEG_EOI):
            raise ImageError("bad_header", f"JPEG reaches marker 0x{marker:02X} before a start-of-frame")
        if i + 2 > n:
            raise ImageError("bad_header", "JPEG is truncated inside a marker segment")
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2:
            raise ImageError("bad_header", f"JPEG marker 0x{marker:02X} has an invalid length {length}")
        if marker in JPEG_SOF:
            if length < 8 or i + 7 > n:
                raise ImageError("bad_header", "JPEG start-of-frame segment is truncated")
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            if height == 0:
                # The height would come later in a DNL marker: no size to check before decoding.
                raise ImageError(
                    "bad_header",
                    "JPEG start-of-frame has height 0 (size only in a later DNL marker)",
                )
            return HeaderSize("jpeg", width, height)
        i += length


def encoded_size(data: bytes | memoryview) -> HeaderSize:
    """The format and declared size of a PNG or JPEG; other data is refused (reason undecodable),
    since its size could not be checked before decoding."""
    view = memoryview(data)
    if bytes(view[:8]) == PNG_SIGNATURE:
        return png_size(view)
    if bytes(view[:2]) == JPEG_SOI:
        return jpeg_size(bytes(view))
    raise ImageError(
        "undecodable", f"compressed data is neither PNG nor JPEG (starts with {bytes(view[:8]).hex()})"
    )


def compressed_to_bgr(msg, max_pixels: int) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg/png) to BGR once its header's size is within
    max_pixels; refuses empty, oversized, unsupported or undecodable data with its reason."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError("empty_image", "compressed image has no data")
    header = encoded_size(data.data)
    check_pixels(header.width, header.height, max_pixels, f"{header.format} image")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(
            "undecodable",
            f"cannot decode {header.format} image {header.width}x{header.height}"
            f" (format field {msg.format!r})",
        )
    # Never expected (the decoder reads the same header); EXIF orientation may swap the two sides.
    if image.shape[0] * image.shape[1] != header.width * header.height:
        raise ImageError(
            "size_mismatch",
            f"decoded {image.shape[1]}x{image.shape[0]}, header said {header.width}x{header.height}",
        )
    return image


# ---- serialized sensor_msgs/Image (a raw=True subscription): header read, pixels converted later --------
CDR_LE, CDR_BE = b"\x00\x01", b"\x00\x00"  # encapsulation ids (PLAIN_CDR), then 2 option bytes
_TO_BGR: dict[str, int | None] = {
    "bgr8": None,
    "8UC3": None,
    "rgb8": cv2.COLOR_RGB2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
    "8UC1": cv2.COLOR_GRAY2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
}


class RawImageHeader(NamedTuple):
    """The fields of a serialized sensor_msgs/Image up to its pixels (data_offset: where they start)."""

    stamp_ns: int
    height: int
    width: int
    encoding: str
    step: int
    data_offset: int
    data_size: int


class _CdrReader:
    """Reads CDR primitives with their alignment (relative to the end of the encapsulation header)."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 4 or data[:2] not in (CDR_LE, CDR_BE):
            raise ImageError("bad_header", "serialized image does not start with a CDR encapsulation header")
        self.data, self.pos = data, 4
        self.order = "<" if data[:2] == CDR_LE else ">"

    def _take(self, size: int, align: int) -> int:
        self.pos += (-(self.pos - 4)) % align
        start, self.pos = self.pos, self.pos + size
        if self.pos > len(self.data):
            raise ImageError("bad_header", "serialized image is truncated inside its header")
        return start

    def u32(self) -> int:
        return struct.unpack_from(self.order + "I", self.data, self._take(4, 4))[0]

    def i32(self) -> int:
        return struct.unpack_from(self.order + "i", self.data, self._take(4, 4))[0]

    def string(self) -> str:
        n = self.u32()
        start = self._take(n, 1)
        if n == 0 or self.data[start + n - 1] != 0:
            raise ImageError("bad_header", "serialized image has a string without its terminating NUL")
        return self.data[start : start + n - 1].decode("utf-8", errors="replace")


def raw_image_header(data: bytes, max_pixels: int) -> RawImageHeader:
    """Parse and check a serialized sensor_msgs/Image without touching its pixels: the same refusals as
    image_to_bgr (unknown_encoding, empty_image, huge_image, bad_step, size_mismatch) plus bad_header."""
    r = _CdrReader(data)
    sec, nanosec = r.i32(), r.u32()
    r.string()  # frame_id
    height, width = r.u32(), r.u32()
    encoding = r.string()
    r._take(1, 1)  # is_bigendian: 8-bit encodings only
    step = r.u32()
    size = r.u32()
    offset = r.pos
    if offset + size > len(data):
        raise ImageError("size_mismatch", f"data declares {size} bytes, {len(data) - offset} are there")
    if encoding not in ENCODINGS:
        raise ImageError(
            "unknown_encoding", f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})"
        )
    check_pixels(width, height, max_pixels, "image")
    channels = ENCODINGS[encoding]
    if step < width * channels:
        raise ImageError("bad_step", f"step {step} < width {width} × {channels} channels ({encoding})")
    if size != step * height:
        raise ImageError(
            "size_mismatch", f"data has {size} bytes, step {step} × height {height} = {step * height}"
        )
    return RawImageHeader(sec * 1_000_000_000 + nanosec, height, width, encoding, step, offset, size)


def raw_image_to_bgr(data: bytes, header: RawImageHeader) -> np.ndarray:
    """The H×W×3 uint8 BGR copy of a checked serialized image's pixels (one copy, no message object)."""
    h, w, channels = header.height, header.width, ENCODINGS[header.encoding]
    buf = np.frombuffer(data, np.uint8, count=header.data_size, offset=header.data_offset)
    rows = buf.reshape(h, header.step)[:, : w * channels]
    image = rows.reshape(h, w, channels) if channels > 1 else rows.reshape(h, w)
    conversion = _TO_BGR[header.encoding]
    if conversion is None:
        return image.copy()  # C-contiguous, owns its memory (not a view of the message bytes)
    return cv2.cvtColor(np.ascontiguousarray(image), conversion)
