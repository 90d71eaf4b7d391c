"""calibration.json's rules: what the library writes passes; a NaN or negative scale, crossed levels, a
string offset, an unknown field are refused naming the file and the field."""

from __future__ import annotations

from typing import Any

import pytest

from ml_attention_mechanisms.recipes._calibration_file import check_calibration

WRITTEN: dict[str, Any] = {  # the fields a demo run writes
    "quantile_levels": [0.05, 0.25, 0.5, 0.75, 0.95],
    "cqr_offsets": {"0.05": -0.0026, "0.25": -0.0029},
    "variance_scale": 14.2,
    "var_scale": {"0.05": 1.01, "0.01": 1.10},
    "var_levels": [0.05, 0.01],
    "signal_temperature": 16.2,
    "mode": "rolling",
    "rolling_window": 720,
    "correlation_head": {"assets": ["BTC", "ETH"], "steps": 300},
    "sizing": {
        "chosen": {
            "signal": {
                "target_vol": 0.5,
                "max_position": 1.0,
                "band": 0.1,
                "horizon": 24,
                "periods_per_year": 8760,
            }
        },
        "chosen_on": "validation 2020-07-02 00:00 .. 2020-12-30 23:00",
    },
}


def test_what_the_library_writes_passes() -> None:
    assert check_calibration(WRITTEN, "run/calibration.json") == WRITTEN
    assert check_calibration({}, "x") == {}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("variance_scale", float("nan"), "expected a finite number > 0"),
        ("variance_scale", -1.0, "expected a finite number > 0"),
        ("variance_scale", True, "expected a finite number > 0"),
        ("var_scale", {"0.05": 1.0, "0.01": -2.0}, "expected {tail probability: finite number > 0}"),
        ("var_scale", {"five": 1.0}, "expected {tail probability: finite number > 0}"),
        ("cqr_offsets", {"0.05": "wide"}, "expected {quantile level: finite number}"),
        ("quantile_levels", [0.95, 0.5, 0.05], "expected increasing probabilities in (0, 1)"),
        ("var_levels", [0.05, 0.7], "expected distinct tail probabilities in (0, 0.5)"),
        ("signal_temperature", 0, "expected a finite number > 0"),
        ("rolling_window", 7.5, "expected an int > 0"),
        ("mode", "static", 'expected "rolling"'),
        ("sizing", {"chosen": {"signal": {"target_vol": -1.0}}}, 'expected {"chosen"'),
        ("sizing", {"chosen": {"signal": {"target_vol": 0.5, "leverage": 3}}}, 'expected {"chosen"'),
        ("sizing", {"chosen": {}}, 'expected {"chosen"'),
    ],
)
def test_a_broken_field_is_named(field: str, value: Any, rule: str) -> None:
    with pytest.raises(ValueError, match="^run/calibration.json: " + field + "=") as info:
        check_calibration({**WRITTEN, field: value}, "run/calibration.json")
    assert rule in str(info.value) and "\n" not in str(info.value)


def test_cross_field_rules_and_unknown_fields() -> None:
    with pytest.raises(ValueError, match=r"cqr_offsets: levels \[0\.1\] are not among quantile_levels"):
        check_calibration({**WRITTEN, "cqr_offsets": {"0.1": 0.0}}, "c.json")
    with pytest.raises(ValueError, match=r"var_scale: levels \[0\.01, 0\.05\] are not the var_levels"):
        check_calibration({**WRITTEN, "var_scale": {"0.01": 1.1, "0.05": 1.0}}, "c.json")
    with pytest.raises(ValueError, match=r"c\.json: unknown field\(s\) variance_scal; expected some of"):
        check_calibration({**WRITTEN, "variance_scal": 2.0}, "c.json")
