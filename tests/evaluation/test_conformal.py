"""Split-conformal CQR: the order statistic, and ~90% held-out coverage on heteroscedastic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    ConformalQuantileCalibrator,
    RollingConformalCalibrator,
    conformal_quantile,
    cqr_apply,
    cqr_offset,
    interval_coverage,
)


def test_offset_is_the_conformal_order_statistic() -> None:
    rng = np.random.default_rng(0)
    y, lo, hi = rng.normal(size=50), np.full(50, -1.0), np.full(50, 1.0)
    scores = np.sort(np.maximum(lo - y, y - hi))
    k = math.ceil(51 * 0.9)
    assert cqr_offset(y, lo, hi, alpha=0.1) == scores[k - 1]
    assert cqr_offset(y[:5], lo[:5], hi[:5], alpha=0.1) == math.inf  # too few points for 90%


def _heteroscedastic(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-2, 2, n)
    return x, np.sin(x) + (0.2 + 0.5 * np.abs(x)) * rng.standard_normal(n)


def test_cqr_reaches_ninety_percent_on_held_out_heteroscedastic_data() -> None:
    rng = np.random.default_rng(1)
    x_cal, y_cal = _heteroscedastic(2000, rng)
    x_test, y_test = _heteroscedastic(20000, rng)

    def band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # a too-narrow quantile model (~62%)
        half = 0.9 * (0.2 + 0.5 * np.abs(x))
        return np.sin(x) - half, np.sin(x) + half

    raw = interval_coverage(y_test, *band(x_test))
    offset = cqr_offset(y_cal, *band(x_cal), alpha=0.1)
    calibrated = interval_coverage(y_test, *cqr_apply(*band(x_test), offset))
    assert raw < 0.75 and offset > 0
    assert 0.88 <= calibrated <= 0.92


def test_calibrator_over_quantile_pairs() -> None:
    rng = np.random.default_rng(2)
    levels = [0.05, 0.25, 0.5, 0.75, 0.95]
    x_cal, y_cal = _heteroscedastic(3000, rng)
    x_test, y_test = _heteroscedastic(20000, rng)
    z = np.array([-1.0, -0.4, 0.0, 0.4, 1.0])  # overdispersed shape: the outer pair is too narrow

    def quantiles(x: np.ndarray) -> np.ndarray:
        return np.sin(x)[:, None] + (0.2 + 0.5 * np.abs(x))[:, None] * z[None, :]

    cal = ConformalQuantileCalibrator.fit(y_cal, quantiles(x_cal), levels)
    lo, hi = cal.interval(quantiles(x_test), 0.9)
    assert 0.88 <= interval_coverage(y_test, lo, hi) <= 0.92
    lo50, hi50 = cal.interval(quantiles(x_test), 0.5)
    assert 0.47 <= interval_coverage(y_test, lo50, hi50) <= 0.53
    np.testing.assert_allclose(cal.transform(quantiles(x_test))[:, 2], np.sin(x_test))
    with pytest.raises(ValueError, match="symmetric around 0.5"):
        ConformalQuantileCalibrator.fit(y_cal, quantiles(x_cal)[:, :3], [0.1, 0.5, 0.8])
    with pytest.raises(ValueError, match="coverage=0.8"):
        cal.interval(quantiles(x_test), 0.8)


def test_conformal_quantile_is_the_order_statistic_capped_at_the_largest() -> None:
    scores = np.random.default_rng(3).normal(size=40)
    assert conformal_quantile(scores, 0.1) == np.sort(scores)[math.ceil(41 * 0.9) - 1]
    assert conformal_quantile(scores[:5], 0.1) == scores[:5].max()  # the rank passes n: the largest


def test_rolling_calibrator_refuses_forecasts_of_the_wrong_length_without_taking_the_bar() -> None:
    cal = RollingConformalCalibrator.from_calibration(
        {"quantile_levels": [0.05, 0.5, 0.95], "cqr_offsets": {"0.05": 0.0}, "var_levels": [0.05, 0.01]}
    )
    with pytest.raises(ValueError, match=r"quantiles has shape \(2,\), expected \(3,\)"):
        cal.step(0.01, quantiles=[-0.01, 0.01])
    with pytest.raises(ValueError, match=r"var has shape \(1,\), expected \(2,\)"):
        cal.step(0.01, var=[0.02])
    out = cal.step(None, quantiles=[-0.01, 0.0, 0.01], var=[0.02, 0.03])
    assert out["var"].tolist() == [0.02, 0.03]  # no stored VaR scale: unchanged
    # neither refused bar was taken: the calibrator goes on as one that never saw them
    fresh = RollingConformalCalibrator.from_calibration(
        {"quantile_levels": [0.05, 0.5, 0.95], "cqr_offsets": {"0.05": 0.0}, "var_levels": [0.05, 0.01]},
        min_rows=1,
    )
    cal.min_rows = 1
    fresh.step(None, quantiles=[-0.01, 0.0, 0.01], var=[0.02, 0.03])
    for y in (0.02, -0.015, 0.004):
        a = cal.step(y, quantiles=[-0.01, 0.0, 0.01], var=[0.02, 0.03])
        b = fresh.step(y, quantiles=[-0.01, 0.0, 0.01], var=[0.02, 0.03])
        assert a["quantiles"].tolist() == b["quantiles"].tolist() and a["var"].tolist() == b["var"].tolist()
