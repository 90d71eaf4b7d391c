"""The backtest engine: next-bar fills, costs, signal mapping, figures, and the random-walk alignment test."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.evaluation import (
    BacktestConfig,
    momentum_positions,
    run_backtest,
    run_portfolio_backtest,
    signals_to_positions,
)


def test_config_defaults_and_validation() -> None:
    cfg = BacktestConfig()
    assert (
        cfg.fee_bps,
        cfg.slippage_bps,
        cfg.position_mode,
        cfg.rebalance_hour_utc,
        cfg.periods_per_year,
    ) == (
        10.0,
        0.0,
        "long_flat",
        0,
        8760,
    )
    assert cfg.cost_rate == pytest.approx(0.001)
    with pytest.raises(ValueError, match=r"BacktestConfig.fee_bps=-1: must be >= 0"):
        BacktestConfig(fee_bps=-1)
    with pytest.raises(ValueError, match=r"BacktestConfig.position_mode='short'"):
        BacktestConfig(position_mode="short")
    with pytest.raises(ValueError, match=r"BacktestConfig.rebalance_hour_utc=24"):
        BacktestConfig(rebalance_hour_utc=24)


def test_every_metrics_dict_carries_the_config() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, 50)
    res = run_backtest(np.ones(50), r)
    assert res.metrics["config"] == BacktestConfig().to_dict()
    assert res.metrics["config"]["fee_bps"] == 10.0 and res.metrics["config"]["periods_per_year"] == 8760


def test_engine_matches_an_explicit_loop() -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, 300)
    pos = rng.choice([-1.0, 0.0, 0.5, 1.0], 300)
    cfg = BacktestConfig(fee_bps=7, slippage_bps=3)
    res = run_backtest(pos, r, cfg)
    prev, equity = 0.0, [1.0]
    for t in range(299):  # decided at close t, earns close t -> close t+1
        trade = abs(pos[t] - prev)
        net = pos[t] * (math.exp(r[t + 1]) - 1) - 10e-4 * trade
        assert res.net_returns[t] == pytest.approx(net, abs=1e-15)
        assert res.turnover[t] == trade
        equity.append(equity[-1] * (1 + net))
        prev = pos[t]
    np.testing.assert_allclose(res.equity, equity)


def test_a_decision_cannot_earn_its_own_bar() -> None:
    r = np.array([0.0, 0.5, 0.0, 0.0])  # a jump at bar 1
    late = run_backtest(np.array([0.0, 1.0, 1.0, 1.0]), r, BacktestConfig(fee_bps=0))  # decided at close 1
    early = run_backtest(np.array([1.0, 1.0, 1.0, 1.0]), r, BacktestConfig(fee_bps=0))  # decided at close 0
    assert late.metrics["net_return"] == pytest.approx(0.0)
    assert early.metrics["net_return"] == pytest.approx(math.exp(0.5) - 1)


def test_performance_figures_follow_their_formulas() -> None:
    r = np.log([1.0, 1.1, 0.9, 1.2, 1.0, 1.05])
    res = run_backtest(np.ones(6), r, BacktestConfig(fee_bps=0, periods_per_year=4))
    net = np.array([0.1, -0.1, 0.2, 0.0, 0.05])
    np.testing.assert_allclose(res.net_returns, net)
    m = res.metrics
    equity = np.cumprod(1 + net)
    assert m["net_return"] == pytest.approx(equity[-1] - 1)
    assert m["sharpe"] == pytest.approx(net.mean() / net.std(ddof=1) * 2)
    assert m["sortino"] == pytest.approx(net.mean() / math.sqrt(np.mean(np.minimum(net, 0) ** 2)) * 2)
    assert m["max_drawdown"] == pytest.approx(0.1)  # 1.1 -> 0.99
    annual = equity[-1] ** (4 / 5) - 1
    assert m["calmar"] == pytest.approx(annual / 0.1)
    assert m["hit_rate"] == pytest.approx(3 / 5) and m["turnover"] == 1.0


def test_signal_mapping() -> None:
    signals = ["hold", "buy", "hold", "sell", "HOLD", "buy"]
    assert signals_to_positions(signals).tolist() == [0, 1, 1, 0, 0, 1]
    ls = BacktestConfig(position_mode="long_short")
    assert signals_to_positions([0, 1, 0, -1, 0], ls).tolist() == [0, 1, 1, -1, -1]
    conf = BacktestConfig(position_mode="confidence")
    got = signals_to_positions(["buy", "hold", "sell"], conf, confidence=[0.4, 0.9, 0.8])
    assert got.tolist() == [0.4, 0.4, 0.0]
    short = BacktestConfig(position_mode="confidence", allow_short=True)
    assert signals_to_positions(["buy", "sell"], short, confidence=[0.4, 0.8]).tolist() == [0.4, -0.8]
    with pytest.raises(ValueError, match=r"signals\[1\]='wait'"):
        signals_to_positions(["buy", "wait"])
    with pytest.raises(ValueError, match="confidence: required"):
        signals_to_positions(["buy"], conf)


def test_random_walk_alignment_cannot_hide() -> None:
    """The issue's test: zero fees, 50 random walks of 8,760 bars, fixed seeds."""
    cfg = BacktestConfig(fee_bps=0)
    honest, cheating = [], []
    for seed in range(50):  # each annual Sharpe has sd ~1, so the mean of 50 has sd ~0.15
        rng = np.random.default_rng(seed)
        r = np.log1p(rng.normal(0, 0.01, 8760))  # a martingale price: no rule has an edge
        honest.append(run_backtest(momentum_positions(r, long_short=True), r, cfg).metrics["sharpe"])
        peek = np.sign(np.r_[r[1:], 0.0])  # the next bar's return, built outside the engine
        cheating.append(run_backtest(peek, r, cfg).metrics["sharpe"])
    assert abs(np.mean(honest)) < 0.3
    assert np.mean(cheating) > 50


def test_pandas_inputs_must_share_their_index() -> None:
    idx = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    r = pd.Series(np.zeros(5), index=idx)
    res = run_backtest(pd.Series(np.ones(5), index=idx), r)
    assert res.index.equals(idx)
    with pytest.raises(ValueError, match="pandas indexes differ"):
        run_backtest(pd.Series(np.ones(5), index=idx + pd.Timedelta(hours=1)), r)


def test_prices_or_percent_instead_of_log_returns_are_refused() -> None:
    """Prices passed where log returns are expected would give NaN or absurd figures: a clear error instead."""
    prices = np.array([30_000.0, 30_100.0, 29_950.0, 30_200.0])
    with pytest.raises(
        ValueError, match=r"returns: 30100 at index 1 is not a one-bar log return.*not prices"
    ):
        run_backtest(np.ones(4), prices)
    weights = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match=r"returns: .* at index \(2, 1\)"):
        run_portfolio_backtest(weights, np.array([[0.0, 0.0], [0.01, 0.02], [0.0, 12.5], [0.0, 0.0]]))
    run_backtest(np.ones(4), np.log(prices / np.roll(prices, 1)))  # the log returns themselves pass
