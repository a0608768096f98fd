"""Evaluation metrics and the confusion-matrix plot (scikit-learn weighted-F1 over the 7 labels).

No torch: ddvlm-eval (training) and ddvlm-bag eval (replay) score with the same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from ddvlm_ros.labels import LABELS, NUM_LABELS


def compute_metrics(labels: np.ndarray, preds: np.ndarray, modalities: list[str]) -> dict[str, Any]:
    """The report ddvlm-eval prints and writes as JSON."""
    labels = np.asarray(labels)
    preds = np.asarray(preds)
    if labels.shape != preds.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError("labels and preds must be equal-length non-empty 1-D arrays")
    idx = list(range(NUM_LABELS))
    per_class = f1_score(labels, preds, labels=idx, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "weighted_f1": float(f1_score(labels, preds, labels=idx, average="weighted", zero_division=0)),
        "per_class_f1": {name: float(v) for name, v in zip(LABELS, per_class, strict=True)},
        "confusion_matrix": confusion_matrix(labels, preds, labels=idx).tolist(),
        "labels": list(LABELS),
        "n": int(labels.size),
        "modalities": list(modalities),
    }


def group_metrics(labels: np.ndarray, preds: np.ndarray, groups: list[str]) -> dict[str, dict[str, Any]]:
    """Weighted-F1 and accuracy within each group of samples (e.g. speaker groups), sorted by name."""
    labels, preds, groups_arr = np.asarray(labels), np.asarray(preds), np.asarray(groups)
    if groups_arr.shape != labels.shape:
        raise ValueError("groups must have one entry per sample")
    idx = list(range(NUM_LABELS))
    out = {}
    for g in sorted(set(groups)):
        sel = groups_arr == g
        out[g] = {
            "n": int(sel.sum()),
            "weighted_f1": float(
                f1_score(labels[sel], preds[sel], labels=idx, average="weighted", zero_division=0)
            ),
            "accuracy": float(accuracy_score(labels[sel], preds[sel])),
        }
    return out


def format_report(m: dict[str, Any]) -> str:
    """Human-readable summary for the terminal."""
    lines = [
        f"n={m['n']} modalities={','.join(m['modalities'])}",
        f"accuracy    {m['accuracy']:.4f}",
        f"weighted_f1 {m['weighted_f1']:.4f}",
        "per-class F1:",
    ]
    lines += [f"  {k:<9} {v:.4f}" for k, v in m["per_class_f1"].items()]
    if m.get("speaker_groups"):
        lines.append("weighted-F1 per speaker group:")
        lines += [f"  {g:<9} {v['weighted_f1']:.4f} (n={v['n']})" for g, v in m["speaker_groups"].items()]
    lines.append("confusion (rows = true, cols = predicted): " + " ".join(f"{n[:4]:>5}" for n in m["labels"]))
    lines += [
        f"  {name:<9} " + " ".join(f"{v:>5d}" for v in row)
        for name, row in zip(m["labels"], m["confusion_matrix"], strict=True)
    ]
    return "\n".join(lines)


def save_confusion_png(m: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(m["confusion_matrix"], dtype=float)
    norm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(m["labels"])), m["labels"], rotation=45, ha="right")
    ax.set_yticks(range(len(m["labels"])), m["labels"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title(title or f"weighted-F1 {m['weighted_f1']:.3f} (n={m['n']})")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return save_figure(fig, path, dpi=110)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Lay out, write (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
