"""Backtests: one asset's positions (:mod:`.engine`) and a portfolio's target weights (:mod:`.portfolio`),
filled at the next bar and charged per unit of turnover; positions and weights sized from a variance
forecast (volatility targeting with a no-trade band, :mod:`.sizing`)."""

from .engine import BacktestConfig, BacktestResult, performance_metrics, run_backtest, signals_to_positions
from .portfolio import rebalance_mask, run_portfolio_backtest
from .sizing import (
    VolTargetConfig,
    annualised_volatility,
    choose_vol_target,
    no_trade_band,
    portfolio_volatility,
    vol_target_positions,
    vol_target_scale,
    vol_target_weights,
)

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "VolTargetConfig",
    "annualised_volatility",
    "choose_vol_target",
    "no_trade_band",
    "performance_metrics",
    "portfolio_volatility",
    "rebalance_mask",
    "run_backtest",
    "run_portfolio_backtest",
    "signals_to_positions",
    "vol_target_positions",
    "vol_target_scale",
    "vol_target_weights",
]
