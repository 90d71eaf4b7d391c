"""A forecast missing or impossible where its inputs were finite is an error naming model, asset and time."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation._forecast_checks import check_forecasts

T0 = 1_600_000_000 // 3600 * 3600  # 2020-09-13 12:00 UTC


def _good(n: int = 10) -> dict[str, np.ndarray]:
    q = np.tile([-0.02, -0.01, 0.0, 0.01, 0.02], (n, 1))
    return {
        "return": np.zeros(n),
        "quantiles": q,
        "variance": np.full(n, 1e-4),
        "var": np.full((n, 2), 0.02),
        "es": np.full((n, 2), 0.03),
        "drawdown": np.full(n, 0.05),
        "probabilities": np.full((n, 3), 1 / 3),
    }


@pytest.mark.parametrize(
    ("name", "row", "value", "what"),
    [
        ("variance", 4, np.nan, "variance forecast NaN at 2020-09-13 16:00 UTC"),
        ("variance", 6, -1e-4, "variance forecast not a positive variance at 2020-09-13 18:00 UTC"),
        ("return", 3, np.inf, "return forecast infinite at 2020-09-13 15:00 UTC"),
        ("var", 2, -0.01, "var forecast not a VaR >= 0 at 2020-09-13 14:00 UTC"),
        ("quantiles", 5, [0.01, -0.01, 0.0, 0.01, 0.02], "quantiles forecast not non-decreasing quantiles"),
        ("probabilities", 1, [1.2, -0.1, -0.1], "probabilities forecast not probabilities in [0, 1]"),
    ],
)
def test_a_bad_forecast_where_inputs_were_finite_is_named(
    name: str, row: int, value: object, what: str
) -> None:
    f = _good()
    f[name] = f[name].copy()
    f[name][row] = value
    times = T0 + 3600 * np.arange(10)
    with pytest.raises(ValueError, match="^model risk_assessor_small, asset ETH: " + re.escape(what)) as info:
        check_forecasts(f, np.arange(10), model="risk_assessor_small", asset="ETH", timestamps=times)
    assert "1 of 10 forecast rows are bad" in str(info.value) and "\n" not in str(info.value)


def test_missing_forecasts_where_inputs_were_absent_are_fine() -> None:
    f = _good()
    f["variance"][[0, 1, 9]] = np.nan  # no inputs there (warm-up, an absent bar)
    rows = np.ones(10, dtype=bool)
    rows[[0, 1, 9]] = False
    check_forecasts(f, rows, model="m", asset="BTC")
    rows[9] = True
    with pytest.raises(ValueError, match=r"variance forecast NaN at row 9 \(\[nan\]\)"):
        check_forecasts(f, rows, model="m", asset="BTC")
