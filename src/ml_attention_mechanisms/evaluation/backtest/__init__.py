"""Backtests: one asset's positions (:mod:`.engine`) and a portfolio's target weights (:mod:`.portfolio`),
filled at the next bar and charged per unit of turnover."""

from .engine import BacktestConfig, BacktestResult, performance_metrics, run_backtest, signals_to_positions
from .portfolio import rebalance_mask, run_portfolio_backtest

__all__ = [
    "BacktestConfig",
    "BacktestResult",
    "performance_metrics",
    "rebalance_mask",
    "run_backtest",
    "run_portfolio_backtest",
    "signals_to_positions",
]
