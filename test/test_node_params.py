"""The parameter table, config/emotion.yaml and the descriptors agree: what robots set is what exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ddvlm_ros.node_params import PARAMS, SPECS, validated

CONFIG = Path(__file__).resolve().parents[1] / "config" / "emotion.yaml"


def test_config_sets_every_declared_parameter_with_its_type() -> None:
    values = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    assert set(values) == set(SPECS), (
        f"config/emotion.yaml and node_params.PARAMS differ: {set(values) ^ set(SPECS)}"
    )
    for name, value in values.items():
        default = SPECS[name].default
        assert type(value) is type(default), f"{name}: config {value!r} vs declared {default!r}"
        spec = SPECS[name]
        if spec.low is not None:
            assert spec.low <= value <= spec.high, f"{name}={value} outside [{spec.low}, {spec.high}]"


def test_descriptors_carry_ranges_and_say_whether_live() -> None:
    for spec in PARAMS:
        desc = spec.descriptor()
        assert desc.name == spec.name and desc.description
        assert ("applies live" in desc.description) == spec.live
        if spec.low is not None and not isinstance(spec.default, bool):
            ranges = desc.integer_range if isinstance(spec.default, int) else desc.floating_point_range
            assert len(ranges) == 1 and ranges[0].from_value == spec.low and ranges[0].to_value == spec.high


def test_config_values_are_the_declared_defaults() -> None:
    """config/emotion.yaml documents the defaults for users; it must say what the node declares."""
    values = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    differ = {n: (v, SPECS[n].default) for n, v in values.items() if n in SPECS and v != SPECS[n].default}
    assert not differ, f"config/emotion.yaml (value, declared default) differ: {differ}"


def test_validated_checks_types_ranges_and_names_like_the_node() -> None:
    assert validated({"context_turns": 2, "use_sim_time": True}) == {"context_turns": 2}
    with pytest.raises(ValueError, match="expected a float"):
        validated({"window_pad_s": 1})
    with pytest.raises(ValueError, match="outside"):
        validated({"context_turns": 99})
    with pytest.raises(ValueError, match="backend"):
        validated({"backend": "warp-drive"})
    with pytest.raises(ValueError, match="metadata.json"):
        validated({"model_dir": "/nonexistent/model"})


def readme_parameter_rows() -> dict[str, object]:
    """name → default from the README's parameter table (`a` / `b` rows give two of each)."""
    text = (CONFIG.parents[1] / "README.md").read_text()
    section = text.split("## Node: `emotion_node`", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, object] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`") or cells[2] not in ("yes", "no"):
            continue
        names = [n.strip().strip("`") for n in cells[0].split("/")]
        values = [v.strip() for v in re.sub(r"\(.*?\)", "", cells[1]).split(" / ")]
        assert len(names) == len(values), line
        for name, value in zip(names, values, strict=True):
            rows[name] = yaml.safe_load(value.strip("`"))
    return rows


def test_readme_parameter_table_lists_every_parameter_with_its_default() -> None:
    rows = readme_parameter_rows()
    assert set(rows) == set(SPECS), f"README table and node_params.PARAMS differ: {set(rows) ^ set(SPECS)}"
    differ = {n: (v, SPECS[n].default) for n, v in rows.items() if v != SPECS[n].default}
    assert not differ, f"README (value, declared default) differ: {differ}"
