"""ddvlm-ablation: the seed table is computed from the runs' real metrics, and refuses unfinished runs."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import pytest

from ddvlm_ros.metrics import compute_metrics
from ddvlm_ros.training.ablation import markdown, parse_group, run_scores, summarize


def metrics_with_errors(n_wrong: int, seed: int) -> dict:
    """Metrics of predictions that get ``n_wrong`` of 70 samples wrong (labels 0..6, ten each)."""
    labels = np.repeat(np.arange(7), 10)
    preds = labels.copy()
    wrong = np.random.default_rng(seed).choice(len(labels), n_wrong, replace=False)
    preds[wrong] = (preds[wrong] + 1) % 7
    return compute_metrics(labels, preds, ["text"])


def test_summary_is_the_mean_and_sample_std_over_seeds() -> None:
    runs = [{"dev": metrics_with_errors(k, k), "test": metrics_with_errors(k + 5, k)} for k in (3, 9, 15)]
    summary = summarize({"default": runs, "one seed": runs[:1]})
    dev = [r["dev"]["weighted_f1"] for r in runs]
    assert summary["default"]["seeds"] == 3
    assert summary["default"]["dev"] == pytest.approx((statistics.fmean(dev), statistics.stdev(dev)))
    assert summary["default"]["dev"][1] > 0  # the seeds differ, so the spread must show
    fear = [r["test"]["per_class_f1"]["fear"] for r in runs]
    assert summary["default"]["test_class_f1"]["fear"] == pytest.approx((np.mean(fear), np.std(fear, ddof=1)))
    assert summary["one seed"]["test"][1] == 0.0
    table = markdown(summary)
    assert table.count("\n") == 3  # header, rule, two rows
    assert f"{summary['default']['test'][0]:.4f} ± {summary['default']['test'][1]:.4f}" in table


def test_group_syntax_and_an_unfinished_run_are_refused(tmp_path: Path) -> None:
    assert parse_group("no EMA=runs/a, runs/b") == ("no EMA", [Path("runs/a"), Path("runs/b")])
    with pytest.raises(argparse.ArgumentTypeError):
        parse_group("runs/a,runs/b")
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        run_scores(tmp_path, tmp_path)
