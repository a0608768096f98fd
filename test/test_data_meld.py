"""MELD data pipeline on the real annotation CSVs and on tiny generated videos."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_node_harness import MELD

from ddvlm_ros.labels import LABELS
from ddvlm_ros.training.data import (
    cache_faces,
    fix_text,
    load_faces,
    parse_timestamp,
    read_split,
    sample_faces,
    text_pairs,
    with_context,
)

pytestmark = pytest.mark.skipif(not (MELD / "test_sent_emo.csv").is_file(), reason="MELD CSVs not present")


def test_real_test_split_counts_and_order() -> None:
    utts = read_split(MELD, "test")
    assert len(utts) == 2610
    counts = {name: sum(u.emotion == name for u in utts) for name in LABELS}
    assert counts["neutral"] == 1256 and counts["fear"] == 50
    keys = [(u.dialogue_id, u.utterance_id) for u in utts]
    assert keys == sorted(keys)
    assert all(LABELS[u.label] == u.emotion for u in utts)
    assert all(u.start is not None and u.end is not None and u.end >= u.start for u in utts)
    assert not any("\u2019" in u.text or "â€" in u.text for u in utts)


def test_fix_text_and_timestamps() -> None:
    assert fix_text("I donâ€™t know") == "I don't know"
    assert fix_text("Wellâ€¦ noâ€”yes") == "Well... no - yes"
    assert fix_text("caf\u00e9 \u201cok\u201d") == 'caf\u00e9 "ok"'
    assert parse_timestamp("0:10:44,769") == pytest.approx(644.769)
    assert parse_timestamp("00:16:16,059") == pytest.approx(976.059)
    with pytest.raises(ValueError):
        parse_timestamp("10:44")


def test_context_follows_dialogue_order_even_when_rows_are_shuffled(tmp_path: Path) -> None:
    with (MELD / "dev_sent_emo.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:60]
    random.Random(0).shuffle(rows)
    rows[0]["Utterance"] = "Itâ€™s mojibake"
    with (tmp_path / "dev_sent_emo.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    utts = read_split(tmp_path, "dev")
    assert any(u.text == "It's mojibake" for u in utts)
    ctx = with_context(utts)
    for u, prev in zip(utts, ctx, strict=True):
        same = [v for v in utts if v.dialogue_id == u.dialogue_id and v.utterance_id < u.utterance_id]
        assert [t.text for t in prev] == [v.text for v in same]
    firsts, contexts = text_pairs(utts, 2)
    i = next(k for k, p in enumerate(ctx) if len(p) >= 3)
    assert contexts[i].count(" | ") == 1 and contexts[i].endswith(ctx[i][-1].text)
    assert firsts[i].startswith(utts[i].speaker + ": ")


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MELD annotations not found"):
        read_split(tmp_path, "test")
    with pytest.raises(ValueError, match="unknown split"):
        read_split(MELD, "valid")
    (tmp_path / "test_sent_emo.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Dialogue_ID,Utterance_ID\n1,hi,Joey,bored,0,0\n"
    )
    with pytest.raises(ValueError, match="unknown emotion label"):
        read_split(tmp_path, "test")


def _write_video(path: Path, frames: int = 12, size: int = 96) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (size, size))
    assert w.isOpened()
    for i in range(frames):
        w.write(np.full((size, size, 3), 20 + 10 * i, dtype=np.uint8))
    w.release()


def test_face_cache_from_generated_videos(tmp_path: Path) -> None:
    utts = read_split(MELD, "test")[:3]
    root = tmp_path / "MELD.Raw"
    _write_video(root / "output_repeated_splits_test" / f"{utts[0].key}.mp4")
    _write_video(root / "test" / f"{utts[1].key}.mp4")
    # utts[2] has no clip: counted as missing, masked out, never an error
    from ddvlm_ros.preprocessing import FaceDetector

    assert sample_faces(root / "test" / f"{utts[1].key}.mp4", FaceDetector(), 4).shape == (0, 64, 64)
    stats = cache_faces(utts, root, tmp_path / "faces", max_frames=4, progress=False)
    assert stats == {"cached": 0, "computed": 2, "missing_clip": 1, "no_face": 2}
    again = cache_faces(utts, root, tmp_path / "faces", max_frames=4, progress=False)
    assert again["cached"] == 2 and again["computed"] == 0
    faces, mask = load_faces(tmp_path / "faces", utts[2], 4)
    assert faces.shape == (4, 1, 64, 64) and mask.sum() == 0 and np.isfinite(faces).all()
    # a cached crop array is padded into the fixed frame window with its mask
    np.save(tmp_path / "faces" / "test" / f"{utts[0].key}.npy", np.full((2, 64, 64), 0.5, np.float16))
    faces, mask = load_faces(tmp_path / "faces", utts[0], 4)
    assert mask.tolist() == [1, 1, 0, 0] and faces[:2].mean() == pytest.approx(0.5) and faces[2:].sum() == 0
    with pytest.raises(OSError):
        sample_faces(tmp_path / "nope.mp4", FaceDetector(), 4)
