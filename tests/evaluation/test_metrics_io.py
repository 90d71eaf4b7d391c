"""metrics.json: NaN-safe, numpy/pandas/dataclass-aware JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.evaluation import BacktestConfig, to_jsonable, write_metrics_json
from ml_attention_mechanisms.evaluation.metrics_io import read_json_object


def test_write_metrics_json_round_trips(tmp_path: Path) -> None:
    metrics = {
        "sharpe": np.float64(1.5),
        "nan": float("nan"),
        "inf": np.inf,
        "count": np.int64(3),
        "flag": np.bool_(True),
        "array": np.array([1.0, np.nan]),
        "config": BacktestConfig(),
        "when": pd.Timestamp("2024-01-01", tz="UTC"),
        "series": pd.Series([1.0, 2.0]),
        "levels": {0.95: (1, 2)},
    }
    path = write_metrics_json(metrics, tmp_path / "run" / "metrics.json")
    back = json.loads(path.read_text())
    assert back["sharpe"] == 1.5 and back["nan"] is None and back["inf"] is None
    assert back["count"] == 3 and back["flag"] is True and back["array"] == [1.0, None]
    assert back["config"]["fee_bps"] == 10.0 and back["config"]["periods_per_year"] == 8760
    assert back["when"] == "2024-01-01T00:00:00+00:00" and back["series"] == [1.0, 2.0]
    assert back["levels"] == {"0.95": [1, 2]}


def test_unknown_types_are_named() -> None:
    with pytest.raises(TypeError, match="type object"):
        to_jsonable({"x": object()})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", r"expected a JSON object \{\.\.\.\}, found list"),
        (
            '{"a": 1,,}',
            r"not valid JSON \(Expecting property name enclosed in double quotes at line 1, column 9\)",
        ),
        ("", r"not valid JSON \(Expecting value at line 1, column 1\)"),
    ],
)
def test_json_files_that_are_not_an_object_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"calibration\.json: {message}"):
        read_json_object(path)
    path.write_text('{"variance_scale": 1.5}', encoding="utf-8")
    assert read_json_object(path) == {"variance_scale": 1.5}
