"""Serialized sensor_msgs/Image (what a raw=True subscription hands over): the header is parsed without
deserializing the pixels, refused for the same named reasons as a message, and the pixels converted
equal image_to_bgr's."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from test_node_image_input import make_image

from ddvlm_ros.image_input import ImageError, image_to_bgr, raw_image_header, raw_image_to_bgr

BIG = 10_000_000


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8", "8UC1", "8UC3", "bgra8", "rgba8"])
@pytest.mark.parametrize("frame_id", ["", "c", "camera_optical", "x" * 7])  # every string alignment
@pytest.mark.parametrize("pad", [0, 3])
def test_raw_header_and_pixels_match_the_message(encoding: str, frame_id: str, pad: int) -> None:
    channels = {"mono8": 1, "8UC1": 1, "bgra8": 4, "rgba8": 4}.get(encoding, 3)
    shape = (7, 5, channels) if channels > 1 else (7, 5)
    array = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    msg = make_image(array, encoding, pad)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 123_456_789
    data = serialize_message(msg)
    header = raw_image_header(data, BIG)
    assert (header.stamp_ns, header.height, header.width, header.encoding, header.step) == (
        1_700_000_000_123_456_789,
        7,
        5,
        encoding,
        msg.step,
    )
    assert np.array_equal(raw_image_to_bgr(data, header), image_to_bgr(msg, BIG))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda m: setattr(m, "encoding", "32FC1"), "unknown_encoding"),
        (lambda m: setattr(m, "step", 4), "bad_step"),
        (lambda m: setattr(m, "data", bytes(m.data)[:-1]), "size_mismatch"),
        (lambda m: setattr(m, "height", 0), "empty_image"),
        (lambda m: setattr(m, "width", 1_000_000), "huge_image"),
    ],
)
def test_raw_refusals_have_the_message_reasons(mutate, reason: str) -> None:
    msg = make_image(np.zeros((6, 5, 3), np.uint8), "bgr8")
    mutate(msg)
    with pytest.raises(ImageError) as err:
        raw_image_header(serialize_message(msg), 1_000_000)
    assert err.value.reason == reason


@pytest.mark.parametrize("cut", [0, 3, 9, 20, 40])
def test_truncated_or_foreign_bytes_are_bad_headers(cut: int) -> None:
    data = serialize_message(make_image(np.zeros((6, 5, 3), np.uint8), "bgr8"))
    with pytest.raises(ImageError) as err:
        raw_image_header(data[:cut], BIG)
    assert err.value.reason == "bad_header"
    with pytest.raises(ImageError):
        raw_image_header(b"\x07\x07" + data[2:], BIG)


def test_huge_declared_image_is_refused_from_the_header() -> None:
    msg = Image(height=20_000, width=20_000, encoding="bgr8", step=60_000)
    with pytest.raises(ImageError) as err:
        raw_image_header(serialize_message(msg), 16_777_216)
    assert err.value.reason in ("size_mismatch", "huge_image")
