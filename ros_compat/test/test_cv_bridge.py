"""cv_bridge stand-in against upstream vision_opencv docs: encodings, step, endianness, compression."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import cv_bridge
import numpy as np
import pytest
from cv_bridge import CvBridge, CvBridgeError
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

cv2.setNumThreads(1)
# Checks of what the stand-in adds beyond upstream (clear error texts, any row padding, gray PNGs)
# are skipped when the real cv_bridge of a ROS install is the one imported.
standin_only = pytest.mark.skipif(
    "ros_compat" not in Path(cv_bridge.__file__).parts, reason="stand-in extension, not upstream"
)
RNG = np.random.default_rng(7)
H, W = 5, 7

# encoding -> (dtype, channels) as in sensor_msgs/image_encodings.hpp
ENCODINGS = {
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4),
    "bgra8": (np.uint8, 4),
    "mono8": (np.uint8, 1),
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1),
}


def _image(dtype: type, channels: int, h: int = H, w: int = W) -> np.ndarray:
    shape = (h, w) if channels == 1 else (h, w, channels)
    if np.issubdtype(dtype, np.floating):
        return RNG.standard_normal(shape).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)


def _wire(msg: Image) -> Image:
    """Serialize through rclpy so that data arrives as it does from DDS (array('B'))."""
    from rclpy.serialization import deserialize_message, serialize_message

    return deserialize_message(serialize_message(msg), Image)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_roundtrip_every_encoding(encoding: str) -> None:
    dtype, channels = ENCODINGS[encoding]
    bridge = CvBridge()
    image = _image(dtype, channels)
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    msg = bridge.cv2_to_imgmsg(image, encoding=encoding, header=header)
    assert (msg.height, msg.width, msg.encoding) == (H, W, encoding)
    assert msg.step == W * channels * np.dtype(dtype).itemsize
    assert msg.is_bigendian == (sys.byteorder == "big")
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    back = bridge.imgmsg_to_cv2(_wire(msg))
    assert back.dtype == np.dtype(dtype) and back.shape == image.shape
    np.testing.assert_array_equal(back, image)
    # desired_encoding equal to the source encoding is the identity
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg, desired_encoding=encoding), image)


def test_passthrough_names_the_cv_type() -> None:
    bridge = CvBridge()
    for image, expected in [
        (_image(np.uint8, 3), "8UC3"),
        (_image(np.uint8, 1), "8UC1"),
        (_image(np.uint16, 1), "16UC1"),
        (_image(np.float32, 1), "32FC1"),
        (_image(np.uint8, 4), "8UC4"),
    ]:
        msg = bridge.cv2_to_imgmsg(image)
        assert msg.encoding == expected
        np.testing.assert_array_equal(bridge.imgmsg_to_cv2(msg), image)


@pytest.mark.parametrize(
    ("src", "dst", "code"),
    [
        ("rgb8", "bgr8", cv2.COLOR_RGB2BGR),
        ("bgr8", "rgb8", cv2.COLOR_BGR2RGB),
        ("bgr8", "mono8", cv2.COLOR_BGR2GRAY),
        ("rgb8", "mono8", cv2.COLOR_RGB2GRAY),
        ("rgba8", "bgr8", cv2.COLOR_RGBA2BGR),
        ("bgra8", "rgba8", cv2.COLOR_BGRA2RGBA),
        ("bgr8", "bgra8", cv2.COLOR_BGR2BGRA),
        ("mono8", "bgr8", cv2.COLOR_GRAY2BGR),
    ],
)
def test_color_conversions_match_cvtcolor(src: str, dst: str, code: int) -> None:
    bridge = CvBridge()
    dtype, channels = ENCODINGS[src]
    image = _image(dtype, channels)
    out = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(image, encoding=src), desired_encoding=dst)
    np.testing.assert_array_equal(out, cv2.cvtColor(image, code))


def test_rgb_bgr_swaps_channels_exactly() -> None:
    bridge = CvBridge()
    image = _image(np.uint8, 3)
    out = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(image, "rgb8"), "bgr8")
    np.testing.assert_array_equal(out, image[:, :, ::-1])


def test_mono16_to_mono8_scales_depth() -> None:
    bridge = CvBridge()
    image = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    out = bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(image, "mono16"), "mono8")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1, 255, 128]])


def test_non_color_conversion_is_an_error() -> None:
    bridge = CvBridge()
    msg = bridge.cv2_to_imgmsg(_image(np.float32, 1), "32FC1")
    with pytest.raises(CvBridgeError, match="not a color format"):
        bridge.imgmsg_to_cv2(msg, "bgr8")


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad", [pytest.param(1, marks=standin_only), pytest.param(3, marks=standin_only), 8])
def test_padded_step_is_removed(encoding: str, pad: int) -> None:
    dtype, channels = ENCODINGS[encoding]
    image = _image(dtype, channels)
    row = image.reshape(H, -1).view(np.uint8)
    padded = np.concatenate([row, np.full((H, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=sys.byteorder == "big")
    msg.step = row.shape[1] + pad
    msg.data = padded.tobytes()
    out = CvBridge().imgmsg_to_cv2(msg)
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1", "32FC1"])
def test_big_endian_data_is_byte_swapped(encoding: str) -> None:
    dtype, channels = ENCODINGS[encoding]
    image = _image(dtype, channels)
    msg = Image(height=H, width=W, encoding=encoding, is_bigendian=True)
    msg.step = W * np.dtype(dtype).itemsize
    msg.data = image.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    out = CvBridge().imgmsg_to_cv2(msg)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, image)
    # and the same bytes flagged little-endian decode to the swapped values
    msg.is_bigendian = False
    assert not np.array_equal(CvBridge().imgmsg_to_cv2(msg), image)


def test_big_endian_array_sets_flag() -> None:
    image = _image(np.uint16, 1).astype(">u2")
    msg = CvBridge().cv2_to_imgmsg(image, "mono16")
    assert msg.is_bigendian
    np.testing.assert_array_equal(CvBridge().imgmsg_to_cv2(msg), image.astype(np.uint16))


@standin_only
def test_errors_are_clear() -> None:
    bridge = CvBridge()
    with pytest.raises(CvBridgeError, match="unsupported encoding 'yuv9'"):
        bridge.imgmsg_to_cv2(Image(height=1, width=1, step=1, encoding="yuv9", data=b"\0"))
    with pytest.raises(CvBridgeError, match="step 20 is smaller"):
        bridge.imgmsg_to_cv2(Image(height=1, width=7, step=20, encoding="rgb8", data=bytes(20)))
    with pytest.raises(CvBridgeError, match="data has 20 bytes"):
        bridge.imgmsg_to_cv2(Image(height=3, width=1, step=10, encoding="mono8", data=bytes(20)))
    with pytest.raises(CvBridgeError, match="incompatible type 8UC3"):
        bridge.cv2_to_imgmsg(_image(np.uint8, 3), "mono8")
    with pytest.raises(CvBridgeError, match="incompatible type 16UC1"):
        bridge.cv2_to_imgmsg(_image(np.uint16, 1), "32FC1")
    with pytest.raises(CvBridgeError, match="unsupported encoding"):
        bridge.cv2_to_imgmsg(_image(np.uint8, 3), "bogus")
    with pytest.raises(TypeError, match="not a numpy array"):
        bridge.cv2_to_imgmsg([[1, 2], [3, 4]])


@standin_only
def test_compressed_png_is_lossless() -> None:
    bridge = CvBridge()
    for image in (_image(np.uint8, 3), _image(np.uint8, 1), _image(np.uint16, 1), _image(np.uint8, 4)):
        msg = bridge.cv2_to_compressed_imgmsg(image, dst_format="png")
        assert isinstance(msg, CompressedImage) and msg.format == "png"
        assert bytes(msg.data[:8]) == b"\x89PNG\r\n\x1a\n"
        wire = _serialize_compressed(msg)
        np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(wire), image)


def _serialize_compressed(msg: CompressedImage) -> CompressedImage:
    from rclpy.serialization import deserialize_message, serialize_message

    return deserialize_message(serialize_message(msg), CompressedImage)


def test_compressed_jpg_roundtrip_and_conversion() -> None:
    bridge = CvBridge()
    # smooth image so JPEG error stays small
    y, x = np.mgrid[0:32, 0:48]
    image = np.stack([x * 5, y * 7, (x + y) * 3], axis=-1).astype(np.uint8)
    msg = bridge.cv2_to_compressed_imgmsg(image)  # default dst_format='jpg'
    assert msg.format == "jpg" and bytes(msg.data[:2]) == b"\xff\xd8"
    wire = _serialize_compressed(msg)
    bgr = bridge.compressed_imgmsg_to_cv2(wire)
    assert bgr.shape == image.shape and bgr.dtype == np.uint8
    assert np.abs(bgr.astype(int) - image).mean() < 3.0
    rgb = bridge.compressed_imgmsg_to_cv2(wire, desired_encoding="rgb8")
    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])
    mono = bridge.compressed_imgmsg_to_cv2(wire, desired_encoding="mono8")
    np.testing.assert_array_equal(mono, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))


@standin_only
def test_compressed_errors() -> None:
    bridge = CvBridge()
    with pytest.raises(CvBridgeError, match="no data"):
        bridge.compressed_imgmsg_to_cv2(CompressedImage(format="jpg"))
    with pytest.raises(CvBridgeError, match="could not decode"):
        bridge.compressed_imgmsg_to_cv2(CompressedImage(format="jpg", data=b"not an image"))
    with pytest.raises(CvBridgeError, match="cannot encode"):
        bridge.cv2_to_compressed_imgmsg(_image(np.uint8, 3), dst_format="nope")
