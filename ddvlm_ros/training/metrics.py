"""training's name for ddvlm_ros.metrics (the metrics are torch-free and shared with replay)."""

from ddvlm_ros.metrics import (  # noqa: F401 - re-exported for train/evaluate
    compute_metrics,
    format_report,
    group_metrics,
    save_confusion_png,
    save_figure,
)
