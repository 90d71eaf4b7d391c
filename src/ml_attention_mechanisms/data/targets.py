"""Targets: what happens after bar ``t`` (bars ``t+1..t+k``), plus regime labels from bars ``<= t``.

All functions take ``[T, A]`` arrays on a panel's grid with NaN for missing bars and return NaN (or -1 for
integer labels) where a target is undefined: a target never bridges a missing bar silently.

- :func:`forward_returns`: ln(close_{t+k} / close_t) for each horizon ``k``.
- :func:`forward_volatility`: realised volatility over the next ``k`` bars,
  sqrt(sum_{j=1..k} r_{t+j}^2) with r the 1-bar log return; NaN if any of those bars is missing.
- :func:`triple_barrier_labels`: 0 = sell, 1 = hold, 2 = buy (Lopez de Prado 2018, ch. 3): buy when the
  close path rises by the barrier before it falls by it within the horizon, sell in the opposite case,
  hold when neither barrier is touched (the vertical barrier). The barrier is
  ``max(cost, vol_multiplier * sigma_t * sqrt(horizon))``, sigma_t the trailing 24-bar realised volatility
  (bars <= t): a label is only a trade when the move beats the round-trip cost.
- :func:`future_drawdown`: the maximum drawdown of the close path t..t+k, as a positive fraction
  (1 - trough / running peak, the peak including the entry close).
- :func:`next_period_returns`: simple returns close_{t+k} / close_t - 1 (additive across a portfolio).
- :func:`regime_labels`: ``num_regimes`` >= 2 trend regimes from bars <= t (scheme below).

Regime scheme: z_t = ln(close_t / close_{t-w}) / (sigma_t * sqrt(w)), the trailing ``w``-bar return in units
of its own expected size (sigma_t the trailing per-bar realised volatility over ``vol_window`` bars). Under a
driftless random walk z is about N(0, 1), so the label is the bin of z between the standard normal's
``i / num_regimes`` quantiles: 0 = the strongest downtrend ... num_regimes - 1 = the strongest uptrend, each
about equally frequent in a trendless market, for any ``num_regimes``; no fitted thresholds, so no
look-ahead through the calibration either.

Shapes: ``T`` bars, ``A`` assets, ``H`` horizons.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from .._import_guard import needs_extra

__all__ = [
    "SIGNAL_BUY",
    "SIGNAL_HOLD",
    "SIGNAL_SELL",
    "forward_returns",
    "forward_volatility",
    "future_drawdown",
    "next_period_returns",
    "regime_labels",
    "trailing_volatility",
    "triple_barrier_labels",
]

SIGNAL_SELL, SIGNAL_HOLD, SIGNAL_BUY = 0, 1, 2  # the signal model's class order: sell, hold, buy


def _ahead(x: np.ndarray, k: int) -> np.ndarray:
    """x[t + k] at row t (NaN past the end)."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if k < x.shape[0]:
        out[: x.shape[0] - k] = x[k:]
    return out


def _behind(x: np.ndarray, k: int) -> np.ndarray:
    """x[t - k] at row t (NaN before the start)."""
    out = np.full_like(x, np.nan, dtype=np.float64)
    if k < x.shape[0]:
        out[k:] = x[: x.shape[0] - k]
    return out


def _check_horizons(horizons: Sequence[int]) -> list[int]:
    hs = [int(h) for h in horizons]
    if not hs or min(hs) < 1:
        raise ValueError(f"horizons={list(horizons)!r}: expected one or more integers >= 1")
    return hs


def forward_returns(close: np.ndarray, horizons: Sequence[int]) -> np.ndarray:
    """ln(close_{t+k} / close_t): float64 ``[T, A, H]``."""
    logc = np.log(close)
    return np.stack([_ahead(logc, k) - logc for k in _check_horizons(horizons)], axis=-1)


def forward_volatility(close: np.ndarray, horizons: Sequence[int]) -> np.ndarray:
    """sqrt(sum_{j=1..k} r_{t+j}^2): float64 ``[T, A, H]``; NaN if any of the k returns is undefined."""
    r2 = np.diff(np.log(close), axis=0, prepend=np.nan) ** 2  # r_t^2 at row t
    cum = np.cumsum(np.nan_to_num(r2), axis=0)
    bad = np.cumsum(np.isnan(r2), axis=0)
    outs = []
    for k in _check_horizons(horizons):
        total = _ahead(cum, k) - cum
        missing = _ahead(bad.astype(np.float64), k) - bad
        outs.append(np.where(missing == 0, np.sqrt(np.maximum(total, 0.0)), np.nan))
    return np.stack(outs, axis=-1)


def trailing_volatility(close: np.ndarray, window: int = 24) -> np.ndarray:
    """Per-bar realised volatility over the last ``window`` bars (bars <= t): sqrt(mean r^2)."""
    with needs_extra("data"):
        import pandas as pd

    r = pd.DataFrame(np.diff(np.log(close), axis=0, prepend=np.nan))
    return np.sqrt((r**2).rolling(window, min_periods=max(2, (3 * window) // 4)).mean()).to_numpy()


def triple_barrier_labels(
    close: np.ndarray,
    horizon: int = 24,
    *,
    cost: float = 0.002,
    vol_multiplier: float = 1.0,
    vol_window: int = 24,
) -> np.ndarray:
    """Buy / hold / sell labels net of a cost threshold (see the module docstring).

    Args:
        close: float ``[T, A]`` closes, NaN where missing.
        horizon: bars to the vertical barrier. Default: 24.
        cost: the smallest barrier, a log return (round-trip fees and slippage). Default: 0.002 (20 bp).
        vol_multiplier: barrier width in units of sigma_t * sqrt(horizon). Default: 1.0.
        vol_window: bars of trailing volatility. Default: 24.

    Returns:
        float64 ``[T, A]`` with values 0 (sell), 1 (hold), 2 (buy), NaN where undefined (close_t or
        close_{t+horizon} missing, or no trailing volatility yet).
    """
    if horizon < 1 or cost < 0 or vol_multiplier < 0:
        raise ValueError(
            f"triple_barrier_labels: horizon={horizon}, cost={cost}, vol_multiplier={vol_multiplier}: expected horizon >= 1, cost >= 0, vol_multiplier >= 0"
        )
    logc = np.log(close)
    sigma = trailing_volatility(close, vol_window)
    barrier = np.maximum(cost, vol_multiplier * sigma * np.sqrt(horizon))
    label = np.full(close.shape, float(SIGNAL_HOLD))
    decided = np.zeros(close.shape, dtype=bool)
    for j in range(1, horizon + 1):
        move = _ahead(logc, j) - logc  # NaN for a missing bar on the path: no touch there
        up = ~decided & (move >= barrier)
        down = ~decided & (move <= -barrier)
        label[up] = SIGNAL_BUY
        label[down] = SIGNAL_SELL
        decided |= up | down
    valid = np.isfinite(logc) & np.isfinite(_ahead(logc, horizon)) & np.isfinite(barrier)
    return np.where(valid, label, np.nan)


def future_drawdown(close: np.ndarray, horizon: int = 24) -> np.ndarray:
    """Maximum drawdown of the close path t..t+horizon (positive fraction; 0 = no drawdown).

    Missing bars on the path are skipped; NaN where close_t or close_{t+horizon} is missing.
    """
    if horizon < 1:
        raise ValueError(f"future_drawdown: horizon={horizon}: expected >= 1")
    peak = close.astype(np.float64).copy()
    worst = np.zeros(close.shape)
    for j in range(1, horizon + 1):
        price = _ahead(close, j)
        peak = np.fmax(peak, price)
        worst = np.fmax(worst, 1.0 - price / peak)
    valid = np.isfinite(close) & np.isfinite(_ahead(close, horizon))
    return np.where(valid, worst, np.nan)


def next_period_returns(close: np.ndarray, horizon: int = 1) -> np.ndarray:
    """close_{t+horizon} / close_t - 1: float64 ``[T, A]`` (the portfolio's next rebalance period)."""
    if horizon < 1:
        raise ValueError(f"next_period_returns: horizon={horizon}: expected >= 1")
    return _ahead(close, horizon) / close - 1.0


def regime_labels(
    close: np.ndarray, num_regimes: int = 7, *, window: int = 24, vol_window: int = 168
) -> np.ndarray:
    """Trend regimes 0..num_regimes-1 from bars <= t (see the module docstring); -1 where undefined.

    Raises:
        ValueError: ``num_regimes`` < 2 or a window < 2.
    """
    if num_regimes < 2 or window < 1 or vol_window < 2:
        raise ValueError(
            f"regime_labels: num_regimes={num_regimes}, window={window}, vol_window={vol_window}: expected num_regimes >= 2, window >= 1, vol_window >= 2"
        )
    logc = np.log(close)
    sigma = trailing_volatility(close, vol_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (logc - _behind(logc, window)) / (sigma * np.sqrt(window))
    edges = np.array([NormalDist().inv_cdf(i / num_regimes) for i in range(1, num_regimes)])
    labels = np.searchsorted(edges, np.nan_to_num(z), side="right").astype(np.int64)
    return np.where(np.isfinite(z), labels, -1)
