"""The portfolio backtest: share bookkeeping after fees, bad weights refused, the daily rebalance schedule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.evaluation import (
    BacktestConfig,
    rebalance_mask,
    run_portfolio_backtest,
)


def _portfolio_reference(weights: np.ndarray, r: np.ndarray, cost: float) -> np.ndarray:
    # Share bookkeeping: units held, cash, portfolio value; fees on the traded value.
    prices = np.exp(np.cumsum(r, axis=0))
    units, value, out = np.zeros(r.shape[1]), 1.0, []
    cash = 1.0
    for t in range(r.shape[0] - 1):
        value = cash + units @ prices[t]
        fee = 0.0
        if not np.isnan(weights[t]).all():
            target_units = weights[t] * value / prices[t]
            fee = cost * np.abs(target_units - units) @ prices[t]
            cash = value - target_units @ prices[t] - fee
            units = target_units
        new_value = cash + units @ prices[t + 1]
        out.append(new_value / value - 1)
    return np.array(out)


def test_portfolio_engine_matches_share_bookkeeping() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.02, (120, 3))
    weights = np.full((120, 3), np.nan)
    for t in range(0, 120, 24):
        weights[t] = rng.dirichlet(np.ones(3)) * 0.9  # 10% cash
    res = run_portfolio_backtest(weights, r, BacktestConfig(fee_bps=10))
    # The share model pays the fee in cash out of the traded value; the engine charges cost * turnover
    # (as a fraction of equity) and drifts weights against equity after fees: the two must agree.
    np.testing.assert_allclose(res.net_returns, _portfolio_reference(weights, r, 1e-3), atol=1e-12)
    assert res.metrics["config"]["rebalance_hour_utc"] == 0


def test_portfolio_engine_rejects_bad_input() -> None:
    w = np.full((5, 2), np.nan)
    w[1, 0] = 0.5
    with pytest.raises(ValueError, match="row 1 is partly NaN"):
        run_portfolio_backtest(w, np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"weights shape \(5, 2\) != returns shape \(5, 3\)"):
        run_portfolio_backtest(w, np.zeros((5, 3)))


def test_rebalance_mask_is_daily_at_midnight_utc() -> None:
    idx = pd.date_range("2024-03-01 05:00", periods=24 * 5, freq="h", tz="UTC")
    mask = rebalance_mask(idx)
    assert mask.sum() == 5 and all(ts.hour == 0 for ts in idx[mask])
    berlin = idx.tz_convert("Europe/Berlin")
    np.testing.assert_array_equal(rebalance_mask(berlin), mask)
    seconds = (idx.as_unit("s").asi8).astype(np.int64)
    np.testing.assert_array_equal(rebalance_mask(seconds), mask)
    assert rebalance_mask(idx, BacktestConfig(rebalance_hour_utc=None)).all()


def test_rebalance_mask_on_offset_grids_gaps_and_daily_bars() -> None:
    half = pd.date_range("2024-03-01 05:30", periods=24 * 3, freq="h", tz="UTC")  # bars at :30
    assert [str(t) for t in half[rebalance_mask(half)]] == [
        "2024-03-02 00:30:00+00:00",
        "2024-03-03 00:30:00+00:00",
        "2024-03-04 00:30:00+00:00",
    ]
    hourly = pd.date_range("2024-03-01 20:00", periods=20, freq="h", tz="UTC")
    gap = hourly.drop(pd.DatetimeIndex(["2024-03-01 23:00", "2024-03-02 00:00"], tz="UTC"))
    assert [str(t) for t in gap[rebalance_mask(gap)]] == ["2024-03-02 01:00:00+00:00"]  # the first bar after
    daily = pd.date_range("2024-03-01", periods=4, freq="D", tz="UTC")
    assert rebalance_mask(daily).all()
