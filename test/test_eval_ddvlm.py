"""ddvlm-eval: metric keys and values against scikit-learn, CLI output, JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score
from test_node_harness import MELD

from ddvlm_ros.labels import LABELS
from ddvlm_ros.runtime_model import DEFAULT_MODEL
from ddvlm_ros.training.checkpoints import save_checkpoint
from ddvlm_ros.training.data import read_split
from ddvlm_ros.training.evaluate import evaluate, main, speaker_group
from ddvlm_ros.training.metrics import compute_metrics, group_metrics
from ddvlm_ros.training.model import DDVLM, ModelConfig

KEYS = {"accuracy", "weighted_f1", "per_class_f1", "confusion_matrix", "labels", "n", "modalities"}


def test_compute_metrics_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 7, 300))
    m = compute_metrics(y, p, ["text"])
    assert KEYS <= m.keys()
    assert m["weighted_f1"] == pytest.approx(f1_score(y, p, average="weighted"))
    assert m["accuracy"] == pytest.approx(float((y == p).mean()))
    assert np.asarray(m["confusion_matrix"]).sum() == 300 and m["labels"] == list(LABELS)
    assert list(m["per_class_f1"]) == list(LABELS)
    with pytest.raises(ValueError):
        compute_metrics(y, p[:10], ["text"])


@pytest.mark.slow
@pytest.mark.skipif(not (MELD / "test_sent_emo.csv").is_file(), reason="MELD CSVs not present")
def test_cli_writes_json_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    model = DDVLM.pretrained(ModelConfig(trainable_layers=1, context_turns=2))
    with torch.no_grad():  # a head biased to 'joy' gives a known, non-trivial confusion matrix
        model.text.head.bias.copy_(torch.tensor([0.0, 50.0, 0, 0, 0, 0, 0]))
    save_checkpoint(model, tmp_path / "ckpt" / "checkpoint.pt")
    out = tmp_path / "eval" / "test.json"
    args = [
        "--model",
        str(tmp_path / "ckpt"),
        "--data",
        str(MELD),
        "--split",
        "test",
        "--limit",
        "30",
        "--threads",
        "1",
        "--json",
        str(out),
    ]
    assert main(args) == 0  # the ddvlm-eval entry point, in-process (a subprocess adds ~5 s of imports)
    stdout = capsys.readouterr().out
    assert "weighted_f1" in stdout
    m = json.loads(out.read_text())
    assert KEYS <= m.keys() and m["n"] == 30 and m["modalities"] == ["text"]
    y = np.array([u.label for u in read_split(MELD, "test")[:30]])
    assert m["accuracy"] == pytest.approx(float((y == 1).mean()))
    assert np.asarray(m["confusion_matrix"])[:, 1].sum() == 30
    assert m["run"]["context_turns_used"] == 2
    groups = m["speaker_groups"]
    assert set(groups) <= {"main_six", "others"} and sum(g["n"] for g in groups.values()) == 30
    assert "per speaker group" in stdout
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        main(["--model", str(tmp_path / "nothing"), *args[2:]])


def test_speaker_groups_split_the_six_leads_from_everyone_else() -> None:
    assert speaker_group("Rachel") == "main_six" and speaker_group("Joey") == "main_six"
    assert speaker_group("Gunther") == "others" and speaker_group("All") == "others"
    rng = np.random.default_rng(1)
    y = rng.integers(0, 7, 200)
    p = np.where(rng.random(200) < 0.5, y, rng.integers(0, 7, 200))
    g = ["main_six" if i % 3 else "others" for i in range(200)]
    out = group_metrics(y, p, g)
    sel = np.array(g) == "others"
    assert out["others"]["n"] == int(sel.sum()) and out["main_six"]["n"] == 200 - int(sel.sum())
    assert out["others"]["weighted_f1"] == pytest.approx(f1_score(y[sel], p[sel], average="weighted"))
    assert out["main_six"]["weighted_f1"] == pytest.approx(f1_score(y[~sel], p[~sel], average="weighted"))
    with pytest.raises(ValueError):
        group_metrics(y, p, g[:10])


def _installed_share() -> Path | None:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory("ddvlm_ros"))
    except PackageNotFoundError:
        return None


@pytest.mark.slow
@pytest.mark.skipif(not (MELD / "dev_sent_emo.csv").is_file(), reason="MELD CSVs not present")
@pytest.mark.skipif(_installed_share() is None, reason="ddvlm_ros not installed (run make setup)")
def test_eval_without_model_scores_the_installed_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(MELD), "--split", "dev", "--limit", "40", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    default = _installed_share() / DEFAULT_MODEL
    assert f"model {default} (exported" in out and "weighted_f1" in out
    m = evaluate(None, MELD, "dev", limit=40, threads=1)
    assert m["run"]["model"] == str(default) and m["n"] == 40


def test_eval_without_model_and_without_install_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not installed"):
        evaluate(None, MELD, "dev", limit=5)
