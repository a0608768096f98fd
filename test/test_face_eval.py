"""ddvlm-eval-faces on a tiny folder-per-class directory built here from a real face photo."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from test_node_harness import model_dir

from ddvlm_ros.face_eval import folder_label, list_images, main
from ddvlm_ros.labels import LABELS

GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """neutral/: the real (resting) face, mirrored and at two sizes; Happy/: the same face (so it is
    wrong) and an image with no face (a miss); surprise/ is empty."""
    root = tmp_path_factory.mktemp("faces")
    photo = cv2.imread(str(GRACE_HOPPER))
    (root / "neutral").mkdir()
    cv2.imwrite(str(root / "neutral" / "a.jpg"), photo)
    cv2.imwrite(str(root / "neutral" / "b.png"), cv2.flip(photo, 1))
    cv2.imwrite(str(root / "neutral" / "c.jpg"), cv2.resize(photo, None, fx=3, fy=3))
    (root / "Happy").mkdir()
    cv2.imwrite(str(root / "Happy" / "d.jpg"), photo)
    cv2.imwrite(str(root / "Happy" / "blank.png"), np.full((200, 200, 3), 128, np.uint8))
    (root / "Happy" / "notes.txt").write_text("not an image")
    (root / "surprise").mkdir()
    return root


def test_folder_names_map_to_labels_case_insensitively() -> None:
    assert [folder_label(n) for n in ("Angry", "HAPPY", "sad", "neutral", "joy", "Anger")] == [
        LABELS.index(x) for x in ("anger", "joy", "sadness", "neutral", "joy", "anger")
    ]
    with pytest.raises(ValueError, match="not an emotion name"):
        folder_label("contempt")


def test_scores_accuracy_f1_recall_and_hit_rate_through_the_node_pipeline(
    faces_dir: Path, tmp_path: Path, capsys
) -> None:
    assert len(list_images(faces_dir)) == 5  # the .txt is not an image
    out = tmp_path / "report.json"
    assert main([str(faces_dir), "--model", str(model_dir()), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "weighted-F1" in printed and "hit rate" in printed
    r = json.loads(out.read_text())
    assert r["n"] == 5 and r["faces_found"] == 4 and r["face_hit_rate"] == pytest.approx(0.8)
    assert r["per_class_recall"]["neutral"] == 1.0  # the resting face reads as neutral at every size
    assert r["per_class_recall"]["joy"] == 0.0 and r["per_class_recall"]["surprise"] is None
    assert r["accuracy"] == pytest.approx(3 / 5)  # the blank (no face) counts as wrong
    assert r["accuracy_on_found_faces"] == pytest.approx(3 / 4)
    assert 0 < r["weighted_f1"] < 1


def test_clear_errors(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "missing")]) == 2
    (tmp_path / "contempt").mkdir()
    assert main([str(tmp_path), "--model", str(model_dir())]) == 2
    assert "not an emotion name" in capsys.readouterr().err
