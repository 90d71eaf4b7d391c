"""Trading baselines: buy-and-hold, 24-bar time-series momentum; portfolios: equal weight, inverse
volatility, minimum variance on a rolling 30-day covariance.

Positions and weights are indexed by decision time and use returns up to ``t`` only; feed them to
:func:`..backtest.run_backtest` / :func:`..backtest.run_portfolio_backtest`, which fill at ``t+1``.
Portfolio weights are given at the rebalance bars (``rebalance`` mask, see
:func:`..backtest.rebalance_mask`) and NaN elsewhere.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._import_guard import needs_extra
from .._checks import as_array, check_int, check_same_length
from ..targets import trailing_sum

__all__ = [
    "buy_and_hold_positions",
    "equal_weight_weights",
    "inverse_volatility_weights",
    "min_variance_weights",
    "momentum_positions",
]


def buy_and_hold_positions(returns: Any) -> np.ndarray:
    """Long one unit from the first bar on. Shape ``(T,)``."""
    return np.ones(as_array(returns, "returns").shape[0])


def momentum_positions(returns: Any, *, lookback: int = 24, long_short: bool = False) -> np.ndarray:
    """Time-series momentum: long when the last ``lookback`` bars' return is positive, else flat (or short).

    ``position[t] = 1 if r[t-lookback+1] + ... + r[t] > 0 else (-1 if long_short else 0)``; 0 during the
    warm-up. Shape ``(T,)``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    past = trailing_sum(r, check_int(lookback, "lookback"))
    short = -1.0 if long_short else 0.0
    return np.where(np.isnan(past), 0.0, np.where(past > 0, 1.0, short))


def _decision_rows(r: np.ndarray, rebalance: Any, window: int) -> np.ndarray:
    mask = np.asarray(rebalance, dtype=bool)
    check_same_length(returns=r, rebalance=mask)
    rows = np.flatnonzero(mask)
    return rows[rows >= window - 1]  # a full covariance window of past bars is needed


def equal_weight_weights(returns: Any, rebalance: Any) -> np.ndarray:
    """``1/A`` in every asset at each rebalance bar, NaN elsewhere. Shape ``(T, A)``."""
    r = as_array(returns, "returns", ndim=2)
    out = np.full(r.shape, np.nan)
    out[_decision_rows(r, rebalance, 1)] = 1.0 / r.shape[1]
    return out


def inverse_volatility_weights(returns: Any, rebalance: Any, *, window: int = 720) -> np.ndarray:
    """Weights proportional to ``1 / std`` of each asset's last ``window`` returns (bars ``<= t``), summing
    to 1, at each rebalance bar after the warm-up. Shape ``(T, A)``."""
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    window = check_int(window, "window", minimum=2)
    out = np.full(r.shape, np.nan)
    for t in _decision_rows(r, rebalance, window):
        inv = 1.0 / np.maximum(r[t - window + 1 : t + 1].std(axis=0, ddof=1), 1e-12)
        out[t] = inv / inv.sum()
    return out


def min_variance_weights(
    returns: Any, rebalance: Any, *, window: int = 720, long_only: bool = True, shrinkage: float = 1e-3
) -> np.ndarray:
    """Global minimum-variance weights from the covariance of the last ``window`` returns (bars ``<= t``).

    Unconstrained: ``w = S^-1 1 / (1' S^-1 1)``. ``long_only``: minimise ``w' S w`` subject to
    ``sum w = 1, w >= 0`` (SLSQP from the inverse-volatility start). ``S`` is shrunk towards its diagonal
    by ``shrinkage`` for numerical stability.

    Args:
        returns: log returns, shape ``(T, A)``, finite.
        rebalance: boolean mask of rebalance bars, shape ``(T,)``.
        window: bars in the covariance. Default: 720 (30 days of hours).
        long_only: forbid short weights. Default: True.
        shrinkage: weight of the diagonal target. Default: 1e-3.

    Returns:
        Shape ``(T, A)``: weights at rebalance bars, NaN elsewhere.
    """
    with needs_extra("eval"):
        from scipy.optimize import minimize

    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    window = check_int(window, "window", minimum=r.shape[1] + 1)
    n_assets = r.shape[1]
    ones = np.ones(n_assets)
    out = np.full(r.shape, np.nan)
    for t in _decision_rows(r, rebalance, window):
        cov = np.cov(r[t - window + 1 : t + 1], rowvar=False).reshape(n_assets, n_assets)
        cov = (1 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
        raw = np.linalg.solve(cov, ones)
        w = raw / raw.sum()
        if long_only and (w < 0).any():
            scale = float(np.mean(np.diag(cov)))  # objective in O(1) units for the optimiser
            inv = 1.0 / np.sqrt(np.diag(cov))
            res = minimize(
                lambda x, c=cov / scale: float(x @ c @ x),
                inv / inv.sum(),
                jac=lambda x, c=cov / scale: 2.0 * c @ x,
                bounds=[(0.0, 1.0)] * n_assets,
                constraints=[{"type": "eq", "fun": lambda x: float(x.sum() - 1.0)}],
                method="SLSQP",
                options={"ftol": 1e-12, "maxiter": 200},
            )
            w = np.clip(res.x, 0.0, None)
            w = w / w.sum()
        out[t] = w
    return out
