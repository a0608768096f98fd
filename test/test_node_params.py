"""The parameter table, config/emotion.yaml and the descriptors agree: what robots set is what exists."""

from __future__ import annotations

from pathlib import Path

import yaml

from ddvlm_ros.node_params import PARAMS, SPECS

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
