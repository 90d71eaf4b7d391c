"""Portfolio backtest: target weights decided at rebalance times, drifting with prices in between.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_array, check_log_returns
from .engine import BacktestConfig, BacktestResult, _common_index, performance_metrics

__all__ = ["rebalance_mask", "run_portfolio_backtest"]


def rebalance_mask(timestamps: Any, config: BacktestConfig | None = None) -> np.ndarray:
    """True at the bars where a portfolio rebalances: the first bar of each UTC day counted from
    ``config.rebalance_hour_utc``:00 (on an hourly grid, the bar opening at that hour; on a grid offset by
    30 minutes, the bar at :30 after it; after a gap, the first bar after the hour). The first bar of the
    series rebalances only if it opens exactly at that hour.

    Args:
        timestamps: a pandas ``DatetimeIndex`` (naive = UTC) or int64 Unix seconds, shape ``(T,)``.
        config: Default: ``BacktestConfig()`` (daily at 00:00 UTC). ``rebalance_hour_utc=None`` -> every bar.

    Returns:
        Boolean mask, shape ``(T,)``.
    """
    cfg = config or BacktestConfig()
    if hasattr(timestamps, "tz_convert") or hasattr(timestamps, "tz_localize"):
        ts = timestamps.tz_convert("UTC") if getattr(timestamps, "tz", None) is not None else timestamps
        seconds = np.asarray(ts.as_unit("s").asi8, dtype=np.int64)  # pandas 2+ may hold ns, us or s
    else:
        seconds = np.asarray(timestamps)
        if seconds.ndim != 1 or not np.issubdtype(seconds.dtype, np.integer):
            raise ValueError("timestamps: expected a DatetimeIndex or 1-D int64 Unix seconds")
    if cfg.rebalance_hour_utc is None:
        return np.ones(seconds.shape[0], dtype=bool)
    shifted = seconds - cfg.rebalance_hour_utc * 3600
    day = np.floor_divide(shifted, 86400)
    mask = np.empty(seconds.shape[0], dtype=bool)
    mask[:1] = (shifted[:1] % 86400) == 0
    mask[1:] = day[1:] != day[:-1]
    return mask


def run_portfolio_backtest(
    weights: Any, returns: Any, config: BacktestConfig | None = None
) -> BacktestResult:
    """Backtest target weights; a decision at ``t`` is filled at the close of ``t`` and earns bar ``t+1``.

    Rows of ``weights`` that are all NaN are "no decision": the held weights drift with prices
    (``w_i <- w_i (1 + R_i) / (1 + net)``, the rest in cash at zero return). A decision row sets the
    weights and pays ``cost * sum_i |w_target_i - w_drifted_i|``.

    Args:
        weights: target weights, shape ``(T, A)`` (numpy or DataFrame), indexed by decision time; rows are
            all NaN (no decision) or all finite.
        returns: log returns, shape ``(T, A)``; NaN allowed where the held weight is 0 (asset not listed).
        config: costs and annualisation. Default: ``BacktestConfig()``.

    Returns:
        :class:`BacktestResult` with ``positions`` the weights held after each bar's decision, ``(T, A)``.

    Raises:
        ValueError: shapes differ, a partly-NaN weight row, or a held asset with a NaN return.
    """
    cfg = config or BacktestConfig()
    index = _common_index(weights, returns)
    w_dec = as_array(weights, "weights", ndim=2)
    r = as_array(returns, "returns", ndim=2)
    check_log_returns(r)
    if w_dec.shape != r.shape:
        raise ValueError(f"weights shape {w_dec.shape} != returns shape {r.shape}")
    row_nan = np.isnan(w_dec)
    partial = row_nan.any(axis=1) & ~row_nan.all(axis=1)
    if partial.any():
        raise ValueError(f"weights: row {int(np.flatnonzero(partial)[0])} is partly NaN (all or none)")
    decided = ~row_nan.all(axis=1)
    simple = np.expm1(r[1:])  # (T-1, A): bar t+1's simple returns
    n_bars, n_assets = r.shape
    held = np.zeros((n_bars, n_assets))
    net, gross, turnover = np.zeros(n_bars - 1), np.zeros(n_bars - 1), np.zeros(n_bars - 1)
    w = np.zeros(n_assets)
    for t in range(n_bars - 1):
        if decided[t]:
            turnover[t] = np.abs(w_dec[t] - w).sum()
            w = w_dec[t].copy()
        held[t] = w
        bar = simple[t]
        live = w != 0
        if np.isnan(bar[live]).any():
            raise ValueError(f"returns: NaN at row {t + 1} for an asset with non-zero weight")
        bar = np.where(live, bar, 0.0)
        gross[t] = float(w @ bar)
        net[t] = gross[t] - cfg.cost_rate * turnover[t]
        w = w * (1.0 + bar) / (1.0 + net[t])  # holdings over equity after the bar (fees left equity)
    held[-1] = w_dec[-1] if decided[-1] else w
    metrics: dict[str, Any] = performance_metrics(
        net, turnover, np.abs(held[:-1]).sum(axis=1), cfg.periods_per_year
    )
    metrics["config"] = cfg.to_dict()
    equity = np.concatenate([[1.0], np.cumprod(1.0 + net)])
    return BacktestResult(net, gross, equity, held, turnover, metrics, index)
