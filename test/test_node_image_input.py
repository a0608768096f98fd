"""sensor_msgs/Image → BGR conversion: every encoding the node accepts, and a named refusal for the rest."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from ddvlm_ros.image_input import ImageError, compressed_to_bgr, image_to_bgr

BIG = 10_000_000


def make_image(array: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """Image message from an H×W(×C) uint8 array, with `pad` bytes of row padding."""
    h, w = array.shape[:2]
    rows = array.reshape(h, -1)
    if pad:
        rows = np.hstack([rows, np.full((h, pad), 7, np.uint8)])
    msg = Image(height=h, width=w, encoding=encoding, step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


@pytest.fixture
def bgr() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 3])
def test_color_encodings_round_trip(bgr: np.ndarray, pad: int) -> None:
    assert np.array_equal(image_to_bgr(make_image(bgr, "bgr8", pad), BIG), bgr)
    assert np.array_equal(image_to_bgr(make_image(bgr[:, :, ::-1].copy(), "rgb8", pad), BIG), bgr)
    rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    assert np.array_equal(image_to_bgr(make_image(rgba, "rgba8", pad), BIG), bgr)
    gray = bgr[:, :, 0].copy()
    out = image_to_bgr(make_image(gray, "mono8", pad), BIG)
    assert out.shape == (6, 5, 3) and np.array_equal(out[:, :, 2], gray)


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
def test_bad_images_are_refused_with_a_reason(bgr: np.ndarray, mutate, reason: str) -> None:
    msg = make_image(bgr, "bgr8")
    mutate(msg)
    with pytest.raises(ImageError) as err:
        image_to_bgr(msg, 1_000_000)
    assert err.value.reason == reason


def test_compressed(bgr: np.ndarray) -> None:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    msg = CompressedImage(format="png")
    msg.data = png.tobytes()
    assert np.array_equal(compressed_to_bgr(msg, BIG), bgr)
    with pytest.raises(ImageError) as err:
        compressed_to_bgr(CompressedImage(format="jpeg", data=b"not a jpeg"), BIG)
    assert err.value.reason == "undecodable"
    with pytest.raises(ImageError) as err:
        compressed_to_bgr(CompressedImage(format="jpeg"), BIG)
    assert err.value.reason == "empty_image"
