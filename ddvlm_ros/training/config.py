"""Training config: one YAML file holds every weight, temperature, rate and seed; runs record it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "train_meld.yaml"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read the YAML config and apply 'a.b=value' overrides (values parsed as YAML)."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    cfg = yaml.safe_load(path.read_text()) or {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key.path=value")
        key, value = item.split("=", 1)
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise KeyError(f"override {key!r}: {p!r} is not a section")
            node = node[p]
        if parts[-1] not in node:
            raise KeyError(f"override {key!r}: unknown key")
        node[parts[-1]] = yaml.safe_load(value)
    for section in ("data", "model", "optim", "loss", "eval"):
        if section not in cfg:
            raise KeyError(f"config {path} lacks section {section!r}")
    return copy.deepcopy(cfg)
