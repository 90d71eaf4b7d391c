"""Interval and risk baselines against explicit windows and normal-distribution formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    garch_forecast,
    garch_normal_var_es,
    historical_var_es,
    max_drawdown_of_returns,
    normal_var_es,
    realized_correlation_target,
    rolling_correlation_forecast,
    rolling_drawdown_forecast,
    rolling_quantile_forecast,
)


def test_rolling_quantiles_match_explicit_windows() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, 300)
    levels = [0.05, 0.5, 0.95]
    for h, window in ((1, 50), (3, 40)):
        q = rolling_quantile_forecast(r, levels, window=window, horizon=h)
        first = window + h - 2
        assert np.isnan(q[first - 1]).all() and np.isfinite(q[first]).all()
        for t in (first, 150, 299):
            sums = [r[u - h + 1 : u + 1].sum() for u in range(t - window + 1, t + 1)]
            np.testing.assert_allclose(q[t], np.quantile(sums, levels), rtol=1e-12, atol=1e-15)


def test_historical_var_es_match_explicit_windows() -> None:
    r = np.random.default_rng(1).standard_t(4, 500) * 0.01
    out = historical_var_es(r, (0.95, 0.99), window=200)
    for level, (var, es) in out.items():
        assert np.isnan(var[198])
        for t in (199, 400, 499):
            window = r[t - 199 : t + 1]
            q = np.quantile(window, 1 - level)
            assert var[t] == pytest.approx(-q)
            assert es[t] == pytest.approx(-window[window <= q].mean())
            assert es[t] >= var[t]


def test_garch_normal_var_es_are_the_normal_formulas() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.01, 900)
    kwargs = {"min_train": 600, "refit_every": 150}
    out = garch_normal_var_es(r, (0.95, 0.99), **kwargs)
    fc = garch_forecast(r, horizon=1, **kwargs)
    grid = np.linspace(-12, 12, 200_001)  # numeric quantile and tail mean of N(0, 1)
    cdf = np.cumsum(np.exp(-(grid**2) / 2)) * (grid[1] - grid[0]) / math.sqrt(2 * math.pi)
    for level, (var, es) in out.items():
        tail = 1 - level
        z = grid[np.searchsorted(cdf, tail)]
        below = grid <= z
        tail_mean = np.sum(grid[below] * np.exp(-(grid[below] ** 2) / 2)) / np.sum(
            np.exp(-(grid[below] ** 2) / 2)
        )
        t = 700
        assert var[t] == pytest.approx(-(fc.mean[t] + fc.sigma[t] * z), rel=1e-3)
        assert es[t] == pytest.approx(-(fc.mean[t] + fc.sigma[t] * tail_mean), rel=1e-3)


def test_quantile_baselines_reject_bad_levels() -> None:
    with pytest.raises(ValueError, match="increasing"):
        rolling_quantile_forecast(np.zeros(100), [0.9, 0.1])
    with pytest.raises(ValueError, match="quantiles=1.5"):
        rolling_quantile_forecast(np.zeros(100), [0.5, 1.5])
    with pytest.raises(ValueError, match="fewer than window=720"):
        historical_var_es(np.zeros(100))


def test_rolling_correlation_and_its_target_match_corrcoef() -> None:
    r = np.random.default_rng(3).normal(0, 0.01, (300, 3))
    forecast = rolling_correlation_forecast(r, window=50)
    assert np.isnan(forecast[48]).all()
    np.testing.assert_allclose(forecast[99], np.corrcoef(r[50:100].T))
    target = realized_correlation_target(r, 24)
    np.testing.assert_allclose(target[10], np.corrcoef(r[11:35].T))
    assert np.isnan(target[-24:]).all() and np.isfinite(target[-25]).all()


def test_rolling_drawdown_forecast_is_the_mean_of_past_window_drawdowns() -> None:
    r = np.random.default_rng(4).normal(0, 0.01, 200)
    window, h = 30, 5
    f = rolling_drawdown_forecast(r, window=window, horizon=h)
    first = window + h - 2
    assert np.isnan(f[first - 1]) and np.isfinite(f[first])
    for t in (first, 150):
        past = [max_drawdown_of_returns(r[u - h + 1 : u + 1]) for u in range(t - window + 1, t + 1)]
        assert f[t] == pytest.approx(np.mean(past))


def test_one_garch_fit_serves_volatility_and_var() -> None:
    r = np.random.default_rng(5).normal(0, 0.01, 900)
    kwargs = {"min_train": 600, "refit_every": 150}
    direct = garch_normal_var_es(r, (0.95,), **kwargs)[0.95]
    shared = normal_var_es(garch_forecast(r, horizon=24, **kwargs), (0.95,))[0.95]
    np.testing.assert_allclose(shared[0], direct[0], equal_nan=True)
    np.testing.assert_allclose(shared[1], direct[1], equal_nan=True)


def test_listed_correlation_at_decision_rows() -> None:
    from ml_attention_mechanisms.evaluation import listed_correlation, rolling_correlation_forecast

    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, (1000, 3))
    r[:, 1] += r[:, 0]
    listed = np.ones((1000, 3), dtype=bool)
    listed[:500, 2] = False
    out = listed_correlation(r, [100, 600, 900], listed=listed, window=200)
    full = rolling_correlation_forecast(r, window=200)
    np.testing.assert_allclose(out[900], full[900])  # every asset listed over the window
    np.testing.assert_allclose(out[600][:2, :2], full[600][:2, :2])
    assert out[600][2].tolist() == [0.0, 0.0, 1.0]  # listed inside the window: uncorrelated
    assert np.isnan(out[100]).all() and np.isnan(out[601]).all()
