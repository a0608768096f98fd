"""Scoring a replay: ddvlm-eval's metrics against the bag's ground truth, latency, unanswered
utterances, emotion over time; written as JSON, confusion-matrix PNG, CSV timeline and timeline PNG."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ddvlm_msgs.msg import EmotionState
from ddvlm_ros.labels import LABELS, label_index
from ddvlm_ros.metrics import compute_metrics, format_report, save_figure
from ddvlm_ros.replay.evaluator import Key, ReplayResult
from ddvlm_ros.stamps import header_seconds


def distribution(values: Iterable[float]) -> dict[str, float]:
    """n, mean and percentiles (ms) of a latency sample; n = 0 when empty."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return {"n": 0}
    p = np.percentile(arr, [50, 90, 95, 99])
    return {
        "n": int(arr.size),
        "mean": round(float(arr.mean()), 3),
        "p50": round(float(p[0]), 3),
        "p90": round(float(p[1]), 3),
        "p95": round(float(p[2]), 3),
        "p99": round(float(p[3]), 3),
        "max": round(float(arr.max()), 3),
    }


def emotion_over_time(answers: list[EmotionState], start_s: float, bin_s: float) -> list[dict[str, Any]]:
    """Predicted-label counts per bin of bag time (bin start in seconds from the bag's start)."""
    bins: dict[int, Counter[str]] = {}
    for msg in answers:
        index = int(max(header_seconds(msg) - start_s, 0.0) // bin_s)
        bins.setdefault(index, Counter())[msg.emotion] += 1
    return [{"t_s": round(i * bin_s, 3), **{label: bins[i][label] for label in LABELS}} for i in sorted(bins)]


def build_report(
    result: ReplayResult, truth: dict[Key, int], bag_start_s: float, bin_s: float = 60.0
) -> dict[str, Any]:
    """ddvlm-eval's keys (when the bag has ground truth) plus latency_ms, unanswered and the rest."""
    answered = sorted(result.answers, key=lambda k: result.sent[k][0])
    missing = [k for k in result.sent if k not in result.answers]
    answers = [result.answers[k][1] for k in answered]
    report: dict[str, Any] = {}
    scored = [k for k in answered if k in truth]
    if scored:
        labels = np.array([truth[k] for k in scored])
        preds = np.array([label_index(result.answers[k][1].emotion) for k in scored])
        modalities = [
            name
            for name, used in (
                ("text", any(result.answers[k][1].text_used for k in scored)),
                ("visual", any(result.answers[k][1].visual_used for k in scored)),
            )
            if used
        ]
        report.update(compute_metrics(labels, preds, modalities))
    report["has_ground_truth"] = bool(truth)
    report["latency_ms"] = distribution(result.latency_ms(k) for k in answered)
    report["inference_ms"] = distribution(m.inference_ms for m in answers)
    report["unanswered"] = {
        "count": len(missing),
        "ids": [f"{c}/{u}" for c, u in missing[:200]],
        "without_ground_truth": sum(1 for k in result.sent if truth and k not in truth),
    }
    report["emotion_distribution"] = {label: sum(m.emotion == label for m in answers) for label in LABELS}
    report["emotion_over_time"] = emotion_over_time(answers, bag_start_s, bin_s)
    report["replay"] = {
        "mode": result.mode,
        "utterances_played": len(result.sent),
        "answered": len(answered),
        "duplicate_answers": result.duplicate_answers,
        "unexpected_answers": result.unexpected_answers,
        "contract_violations": {
            "count": len(result.contract_violations),
            "examples": result.contract_violations[:20],
        },
        "messages_played": dict(result.played),
        "wall_s": round(result.wall_s, 2),
        "models": sorted({m.model for m in answers}),
        "backends": sorted({m.backend for m in answers}),
        "frames_used_mean": round(float(np.mean([m.frames_used for m in answers])), 3) if answers else 0.0,
    }
    return report


def timeline_rows(result: ReplayResult, truth: dict[Key, int], bag_start_s: float) -> list[dict[str, Any]]:
    """One row per played utterance (answered or not), in bag order, for the CSV timeline."""
    rows = []
    for key, (_, transcript) in sorted(result.sent.items(), key=lambda kv: header_seconds(kv[1][1])):
        row: dict[str, Any] = {
            "t_s": round(header_seconds(transcript) - bag_start_s, 3),
            "conversation_id": key[0],
            "utterance_id": transcript.utterance_id,
            "speaker": transcript.speaker,
            "ground_truth": LABELS[truth[key]] if key in truth else "",
            "emotion": "",
            "confidence": math.nan,
            "valence": math.nan,
            "arousal": math.nan,
            "frames_used": 0,
            "latency_ms": math.nan,
            "text": transcript.text,
        }
        if key in result.answers:
            msg = result.answers[key][1]
            row.update(
                emotion=msg.emotion,
                confidence=round(float(msg.confidence), 4),
                valence=round(float(msg.valence), 4),
                arousal=round(float(msg.arousal), 4),
                frames_used=int(msg.frames_used),
                latency_ms=round(result.latency_ms(key), 3),
            )
        rows.append(row)
    return rows


def save_timeline_csv(rows: list[dict[str, Any]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["t_s"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def save_timeline_png(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Predicted label per utterance over bag time (ground truth as rings when known), and valence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    answered = [r for r in rows if r["emotion"]]
    t = np.array([r["t_s"] for r in answered], dtype=float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=[2, 1])
    top.scatter(t, [LABELS.index(r["emotion"]) for r in answered], s=10, c="tab:blue", label="predicted")
    truth = [r for r in answered if r["ground_truth"]]
    if truth:
        top.scatter(
            [r["t_s"] for r in truth],
            [LABELS.index(r["ground_truth"]) for r in truth],
            s=28,
            facecolors="none",
            edgecolors="tab:orange",
            label="ground truth",
        )
    top.set_yticks(range(len(LABELS)), LABELS)
    top.legend(loc="upper right", fontsize=8)
    top.set_title(title or f"{len(answered)} answered utterances")
    bottom.plot(t, [r["valence"] for r in answered], lw=0.8, label="valence")
    bottom.plot(t, [r["arousal"] for r in answered], lw=0.8, label="arousal")
    bottom.set_xlabel("bag time (s)")
    bottom.legend(loc="upper right", fontsize=8)
    return save_figure(fig, path)


def format_summary(report: dict[str, Any]) -> str:
    """Terminal summary: ddvlm-eval's report when labelled, then latency and coverage."""
    lines = [format_report(report)] if "weighted_f1" in report else ["no ground truth in the bag"]
    lat, rp = report["latency_ms"], report["replay"]
    if lat["n"]:
        lines.append(
            f"latency ms  p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  "
            f"p99 {lat['p99']:.2f}  max {lat['max']:.2f}"
        )
    lines.append(
        f"answered {rp['answered']}/{rp['utterances_played']}  unanswered {report['unanswered']['count']}  "
        f"mode {rp['mode']}  wall {rp['wall_s']:.1f} s"
    )
    lines.append("predicted: " + ", ".join(f"{k} {v}" for k, v in report["emotion_distribution"].items()))
    return "\n".join(lines)
