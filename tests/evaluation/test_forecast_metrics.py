"""Forecast metrics against hand formulas, closed forms and distributions known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    correlation_forecast_error,
    crps_from_quantiles,
    directional_accuracy,
    drawdown_forecast_error,
    interval_coverage,
    interval_width,
    mae,
    max_drawdown_of_returns,
    pinball_loss,
    pit_from_quantiles,
    qlike,
    rmse,
)


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    # Inverse normal CDF by bisection on math.erf (independent of scipy).
    out = []
    for target in np.atleast_1d(p):
        lo, hi = -10.0, 10.0
        for _ in range(80):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < target else (lo, mid)
        out.append((lo + hi) / 2)
    return np.array(out)


def test_point_metrics() -> None:
    y, f = np.array([1.0, -2.0, 0.5, 0.0]), np.array([0.5, -1.0, -0.5, 1.0])
    assert mae(y, f) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert rmse(y, f) == pytest.approx(math.sqrt((0.25 + 1 + 1 + 1) / 4))
    assert directional_accuracy(y, f) == pytest.approx(2 / 4)  # the zero realised value is a miss
    with pytest.raises(ValueError, match="y_pred: contains NaN"):
        mae(y, np.array([1.0, np.nan, 0, 0]))
    with pytest.raises(ValueError, match="y_true=4, y_pred=3"):
        rmse(y, f[:3])


def test_pinball_and_interval_metrics() -> None:
    y = np.array([0.0, 1.0, 2.0])
    q = np.array([[-1.0, 0.5], [0.0, 2.0], [2.5, 3.0]])
    levels = [0.1, 0.9]
    losses = [max(t * (yi - qi), (t - 1) * (yi - qi)) for yi, row in zip(y, q) for t, qi in zip(levels, row)]
    assert pinball_loss(y, q, levels) == pytest.approx(np.mean(losses))
    assert interval_coverage(y, q[:, 0], q[:, 1]) == pytest.approx(2 / 3)
    assert interval_width(q[:, 0], q[:, 1]) == pytest.approx((1.5 + 2 + 0.5) / 3)
    with pytest.raises(ValueError, match="increasing levels"):
        pinball_loss(y, q, [0.9, 0.1])


def test_crps_from_many_quantiles_matches_the_normal_closed_form() -> None:
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(0, 1, 200), rng.uniform(0.5, 2.0, 200)
    y = rng.normal(0, 1.5, 200)
    levels = (np.arange(199) + 1) / 200
    q = mu[:, None] + sigma[:, None] * _norm_ppf(levels)[None, :]
    z = (y - mu) / sigma
    pdf = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    exact = np.mean(sigma * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi)))  # Gneiting & Raftery 2007
    assert crps_from_quantiles(y, q, levels) == pytest.approx(exact, rel=0.01)


def test_pit_is_uniform_when_calibrated_and_not_otherwise() -> None:
    rng = np.random.default_rng(1)
    n, levels = 4000, np.linspace(0.05, 0.95, 19)
    scale = rng.uniform(0.5, 2, n)
    y = scale * rng.standard_normal(n)
    q = scale[:, None] * _norm_ppf(levels)[None, :]
    pit = pit_from_quantiles(y, q, levels)
    counts = np.histogram(pit, bins=10, range=(0, 1))[0] / n
    assert np.all(np.abs(counts - 0.1) < 0.02)
    narrow = pit_from_quantiles(y, 0.5 * q, levels)  # overconfident: PIT piles up at the ends
    assert np.mean((narrow < 0.1) | (narrow > 0.9)) > 0.35


def test_qlike() -> None:
    y = np.array([1.0, 2.0, 0.5])
    assert qlike(y, y) == pytest.approx(0.0)
    f = np.array([2.0, 2.0, 1.0])
    assert qlike(y, f) == pytest.approx(np.mean([r - math.log(r) - 1 for r in y / f]))
    assert qlike(y, 0.5 * y) > qlike(y, 2 * y) > 0  # QLIKE punishes under-prediction more
    with pytest.raises(ValueError, match="forecast: variance forecasts must be > 0"):
        qlike(y, np.array([1.0, 0.0, 1.0]))


def test_drawdowns() -> None:
    r = np.log([1.0, 1.2, 0.9, 1.1, 0.5, 2.0])
    prices = np.cumprod(np.exp(r))
    worst = max(1 - prices[k] / prices[: k + 1].max() for k in range(6))
    assert worst == pytest.approx(1 - 0.594 / 1.2)  # peak 1.2 at bar 1, trough 0.594 at bar 4
    assert max_drawdown_of_returns(r[1:]) == pytest.approx(worst, rel=1e-12)
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.02, 40)
    forecast = np.full(40, 0.03)
    out = drawdown_forecast_error(x, forecast, horizon=5)
    realised = []
    for t in range(35):
        path = np.concatenate([[1.0], np.exp(np.cumsum(x[t + 1 : t + 6]))])
        realised.append(max(1 - path[k] / path[: k + 1].max() for k in range(6)))
    assert out["mae"] == pytest.approx(np.mean(np.abs(0.03 - np.array(realised))))
    assert out["n"] == 35


def test_correlation_forecast_error() -> None:
    eye = np.eye(3)[None].repeat(2, axis=0)
    f = eye.copy()
    f[:, 0, 1] = f[:, 1, 0] = 0.3
    out = correlation_forecast_error(eye, f)
    assert out["mae"] == pytest.approx(0.1)  # one of three pairs off by 0.3
    assert out["frobenius"] == pytest.approx(math.sqrt(2 * 0.09))
