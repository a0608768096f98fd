"""`ddvlm-eval-faces`: score the visual student on a folder-per-class directory of labelled face photos.

Layout: ``<root>/<class>/<image>``, class folders named as FER2013 does (angry, disgust, fear, happy,
neutral, sad, surprise) or as MELD does (anger, joy, sadness, ...), case-insensitive. Every image goes
through what the node does with a camera frame: the node's face detector on a downscaled copy, the
FER-style crop, ``face.onnx``, then ``fusion.onnx`` with the text masked out (the visual-only answer).
An image in which no face is found counts as wrong, and the face hit rate is reported beside it.
No torch: this runs wherever the node runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ddvlm_ros.faces import DETECTORS, FaceDetector, face_crops
from ddvlm_ros.labels import FER_TO_LABEL, LABELS, NUM_LABELS
from ddvlm_ros.metrics import compute_metrics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
NO_FACE = -1


def folder_label(name: str) -> int:
    """Label index for a class folder name (FER2013 or MELD spelling, any case); ValueError otherwise."""
    key = name.strip().lower()
    key = FER_TO_LABEL.get(key, key)
    if key not in LABELS:
        known = sorted(set(FER_TO_LABEL) | set(LABELS))
        raise ValueError(f"class folder {name!r} is not an emotion name; expected one of {known}")
    return LABELS.index(key)


def list_images(root: str | Path) -> list[tuple[Path, int]]:
    """(image path, label index) for every image under the class folders of ``root``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"face directory {root} does not exist")
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        label = folder_label(folder.name)
        items += [
            (p, label)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        ]
    if not items:
        raise ValueError(f"no images under {root}/<class>/ (suffixes {IMAGE_SUFFIXES})")
    return items


class VisualScorer:
    """The node's visual path without ROS: detector → crop → face.onnx → fusion.onnx (text masked out)."""

    def __init__(self, backend: Any, detector: FaceDetector) -> None:
        self.backend = backend
        self.detector = detector
        meta = backend.metadata
        self.face_size = int(meta.get("face_size", 64))
        self.max_frames = int(meta.get("max_frames", 1))
        self.face_dim = int(meta["face_dim"])
        self.text_dim = int(meta.get("text_dim", 384))

    def probabilities(self, image: np.ndarray) -> np.ndarray | None:
        """Visual-only distribution over LABELS for the largest face, None when no face is found."""
        crops = face_crops(image, self.detector, max_faces=1, size=self.face_size)
        if not crops:
            return None
        features = self.backend.encode_faces(np.stack(crops)[:, None].astype(np.float32))
        face_features = np.zeros((1, self.max_frames, self.face_dim), np.float32)
        face_mask = np.zeros((1, self.max_frames), np.float32)
        face_features[0, 0], face_mask[0, 0] = features[0], 1.0
        fused, _ = self.backend.fuse(
            np.zeros((1, self.text_dim), np.float32), np.zeros(1, np.float32), face_features, face_mask
        )
        e = np.exp(fused[0] - fused[0].max())
        return e / e.sum()


def score(
    items: list[tuple[Path, int]], scorer: VisualScorer, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Accuracy, weighted-F1 (faces not found count as wrong), per-class recall and face hit rate."""
    labels, preds, unreadable = [], [], []
    t0 = time.perf_counter()
    for i, (path, label) in enumerate(items):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            unreadable.append(str(path))
            continue
        p = scorer.probabilities(image)
        labels.append(label)
        preds.append(NO_FACE if p is None else int(np.argmax(p)))
        if progress and (i + 1) % 100 == 0:
            progress(f"{i + 1}/{len(items)} images")
    if not labels:
        raise ValueError(f"none of the {len(items)} images could be read")
    y, p = np.asarray(labels), np.asarray(preds)
    found = p != NO_FACE
    # a missed face is wrong for every class: score it as a prediction no class can match
    scored = np.where(found, p, (y + 1) % NUM_LABELS)
    report = compute_metrics(y, scored, ["visual"])
    report["accuracy"] = float(np.mean(p == y))
    report["per_class_recall"] = {
        name: (float(np.mean(p[y == i] == i)) if np.any(y == i) else None) for i, name in enumerate(LABELS)
    }
    report["per_class_n"] = {name: int(np.sum(y == i)) for i, name in enumerate(LABELS)}
    report["face_hit_rate"] = float(np.mean(found))
    report["faces_found"] = int(found.sum())
    report["accuracy_on_found_faces"] = float(np.mean(p[found] == y[found])) if found.any() else None
    report["unreadable_images"] = unreadable
    report["detector"] = scorer.detector.name
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"images {r['n']}  faces found {r['faces_found']} (hit rate {r['face_hit_rate']:.3f}, "
        f"detector {r['detector']})",
        f"accuracy {r['accuracy']:.4f}  weighted-F1 {r['weighted_f1']:.4f}  (faces not found count as wrong)",
        "per-class recall:",
    ]
    for name in LABELS:
        rec = r["per_class_recall"][name]
        lines.append(f"  {name:9s} {'-' if rec is None else f'{rec:.3f}':>6s}  (n={r['per_class_n'][name]})")
    if r["unreadable_images"]:
        lines.append(f"unreadable images skipped: {len(r['unreadable_images'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ddvlm_ros.backends import load_backend
    from ddvlm_ros.runtime_model import resolve_model_dir

    parser = argparse.ArgumentParser(prog="ddvlm-eval-faces", description=__doc__.splitlines()[0])
    parser.add_argument("faces", help="directory with one folder per class (angry/ disgust/ ... surprise/)")
    parser.add_argument("--model", default=None, help="exported model directory (default: the installed one)")
    parser.add_argument("--backend", default="onnxruntime", help="auto|onnxruntime|tensorrt|torch")
    parser.add_argument("--detector", choices=DETECTORS, default="mtcnn", help="face detector (node default)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the report here")
    args = parser.parse_args(argv)
    try:
        items = list_images(args.faces)
        model_dir = resolve_model_dir(args.model or "")
        scorer = VisualScorer(
            load_backend(model_dir, args.backend, threads=args.threads), FaceDetector(args.detector)
        )
        report = score(items, scorer, progress=lambda m: print(m, file=sys.stderr))
    except (FileNotFoundError, ValueError) as err:
        print(f"ddvlm-eval-faces: error: {err}", file=sys.stderr)
        return 2
    report["model"] = str(model_dir)
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
