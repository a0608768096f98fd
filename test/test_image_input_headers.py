"""Compressed images are sized from their encoded header before decoding: a PNG bomb (a small file
that decodes to gigabytes) is refused without allocating its pixels; truncated or garbage headers are
refused with a named reason; raw images are checked before any copy."""

from __future__ import annotations

import resource
import struct
import zlib

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from ddvlm_ros.image_input import ImageError, compressed_to_bgr, encoded_size, image_to_bgr

LIMIT = 16_777_216  # the node's default max_image_pixels


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def blank_png(width: int, height: int) -> bytes:
    """A valid 1-bit grayscale PNG of zeros, compressed row by row so a huge one stays cheap to build."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def compressed(data: bytes, fmt: str = "png") -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.data = data
    return msg


def reason_of(data: bytes, limit: int = LIMIT) -> str:
    with pytest.raises(ImageError) as err:
        compressed_to_bgr(compressed(data), limit)
    return err.value.reason


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_builder_makes_real_pngs() -> None:
    image = cv2.imdecode(np.frombuffer(blank_png(200, 120), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (120, 200, 3)


def test_png_bomb_is_refused_from_its_header_without_decoding() -> None:
    bomb = blank_png(20_000, 20_000)  # 1.2 GB once decoded to BGR
    assert len(bomb) < 200_000
    assert encoded_size(bomb) == ("png", 20_000, 20_000)
    before = peak_rss_mb()
    assert reason_of(bomb) == "huge_image"
    assert peak_rss_mb() - before < 100, "the bomb's pixels were allocated"


def test_images_within_the_limit_decode(jpeg: bytes) -> None:
    assert compressed_to_bgr(compressed(blank_png(640, 480)), LIMIT).shape == (480, 640, 3)
    assert compressed_to_bgr(compressed(jpeg, "jpeg"), LIMIT).shape == (48, 64, 3)
    assert reason_of(blank_png(640, 480), limit=640 * 480 - 1) == "huge_image"


def test_jpeg_size_comes_from_the_frame_header(jpeg: bytes) -> None:
    image = np.zeros((30, 70, 3), np.uint8)
    ok, progressive = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok and encoded_size(progressive.tobytes()) == ("jpeg", 70, 30)
    assert encoded_size(jpeg) == ("jpeg", 64, 48)
    # An APP1 segment (EXIF) holding a thumbnail-like start-of-frame is skipped by its length.
    fake_sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", 60_000, 60_000) + b"\x03" + b"\x00" * 9
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + len(fake_sof)) + fake_sof
    assert encoded_size(jpeg[:2] + app1 + jpeg[2:]) == ("jpeg", 64, 48)


def test_jpeg_declaring_a_huge_frame_is_refused(jpeg: bytes) -> None:
    sof = next(jpeg.find(bytes([0xFF, m])) for m in (0xC0, 0xC2) if jpeg.find(bytes([0xFF, m])) > 0)
    patched = bytearray(jpeg)
    patched[sof + 5 : sof + 9] = struct.pack(">HH", 50_000, 50_000)
    assert encoded_size(bytes(patched)) == ("jpeg", 50_000, 50_000)
    assert reason_of(bytes(patched)) == "huge_image"
    patched[sof + 5 : sof + 7] = b"\x00\x00"  # height 0: the size would follow in a DNL marker
    assert reason_of(bytes(patched)) == "bad_header"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda png, jpg: png[:20], "bad_header"),  # truncated inside IHDR
        (lambda png, jpg: png[:8] + png_chunk(b"tEXt", b"a" * 13) + png[8:], "bad_header"),  # IHDR not first
        (lambda png, jpg: jpg[:3], "bad_header"),  # truncated before the first marker's length
        (lambda png, jpg: jpg[:2] + b"\xff\xe0\x00", "bad_header"),  # truncated length field
        (lambda png, jpg: jpg[:2] + b"\xff\xe0\x00\x01" + jpg[2:], "bad_header"),  # length < 2
        (lambda png, jpg: jpg[:2] + b"\xff\xda\x00\x08", "bad_header"),  # scan before any frame header
        (lambda png, jpg: jpg[:2] + b"\xff\xe0\x00\x10" + b"\x00" * 30, "bad_header"),  # no frame header
        (lambda png, jpg: b"GIF89a" + b"\x00" * 40, "undecodable"),  # a format whose size is not checked
        (lambda png, jpg: b"BM" + b"\x00" * 60, "undecodable"),
        (lambda png, jpg: b"\x00\x01garbage" * 10, "undecodable"),
        (lambda png, jpg: png[:33] + b"\x00" * 64 + png[-12:], "undecodable"),  # header fine, pixels not
        (
            lambda png, jpg: (
                b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 0, 0, 0, 0))
            ),
            "empty_image",
        ),
    ],
)
def test_bad_headers_are_refused_with_a_reason(jpeg: bytes, make, reason: str) -> None:
    assert reason_of(make(blank_png(32, 16), jpeg)) == reason


def test_raw_image_declaring_a_huge_size_is_refused_before_any_copy() -> None:
    msg = Image(height=20_000, width=20_000, encoding="bgr8", step=60_000)
    msg.data = b"\x00" * 16
    before = peak_rss_mb()
    with pytest.raises(ImageError) as err:
        image_to_bgr(msg, LIMIT)
    assert err.value.reason == "huge_image"
    msg.height, msg.width, msg.step = 100, 100, 300  # within the limit, data too short for it
    with pytest.raises(ImageError) as err:
        image_to_bgr(msg, LIMIT)
    assert err.value.reason == "size_mismatch"
    assert peak_rss_mb() - before < 50
