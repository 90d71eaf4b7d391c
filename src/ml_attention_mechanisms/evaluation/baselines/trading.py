"""Trading baselines: buy-and-hold, 24-bar time-series momentum, volatility-targeted buy-and-hold (sized by
HAR-RV); portfolios: equal weight, inverse volatility, minimum variance on a rolling 30-day covariance, and
volatility-targeted equal weight or risk parity (sized by HAR-RV and the rolling 30-day correlation).

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
from ..backtest.sizing import VolTargetConfig, vol_target_positions, vol_target_weights
from ..targets import trailing_sum
from .risk import listed_correlation
from .volatility import HAR_MIN_TRAIN, listed_har_rv_forecast

__all__ = [
    "buy_and_hold_positions",
    "equal_weight_weights",
    "inverse_volatility_weights",
    "min_variance_weights",
    "momentum_positions",
    "vol_target_buy_and_hold_positions",
    "vol_target_portfolio_weights",
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


def vol_target_buy_and_hold_positions(
    returns: Any,
    config: VolTargetConfig,
    *,
    start: int = 0,
    min_train: int = HAR_MIN_TRAIN,
    refit_every: int = 168,
    variance: Any = None,
) -> np.ndarray:
    """Long, sized by HAR-RV: ``min(max_position, target_vol / vol_HAR[t])`` with the no-trade band, from
    bar ``start`` on (flat before it, and wherever HAR-RV has no forecast yet).

    The strategy a volatility-sized signal must beat: it earns what sizing by a classical variance forecast
    earns without any view on direction (:func:`.volatility.har_rv_forecast`, refitted every
    ``refit_every`` bars on the bars before; :func:`..backtest.sizing.vol_target_positions`).

    Args:
        returns: hourly log returns, shape ``(T,)``, finite.
        config: the target, the cap, the band and the variance horizon.
        start: first decision time (the band starts flat there, so the positions from ``start`` on do not
            depend on earlier ones). Default: 0.
        min_train: HAR-RV's first training span, in bars. Default: 2160 (90 days).
        refit_every: HAR-RV's refit interval, in bars. Default: 168.
        variance: HAR-RV's forecast of these returns, shape ``(T,)``, when already computed (several
            configs on one series). Default: computed here.

    Returns:
        Positions indexed by decision time, shape ``(T,)``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    start = check_int(start, "start", minimum=0)
    out = np.zeros(r.shape[0])
    if variance is None:
        variance = listed_har_rv_forecast(r[:, None], horizon=config.horizon, min_train=min_train,
                                          refit_every=refit_every, start=start)[:, 0]  # fmt: skip
    v = as_array(variance, "variance")
    check_same_length(returns=r, variance=v)
    out[start:] = vol_target_positions(np.ones(r.shape[0] - start), v[start:], config)
    return out


def vol_target_portfolio_weights(
    returns: Any,
    rebalance: Any,
    config: VolTargetConfig,
    *,
    allocation: str = "risk_parity",
    listed: Any = None,
    window: int = 720,
    min_train: int = HAR_MIN_TRAIN,
    refit_every: int = 168,
    variance: Any = None,
) -> np.ndarray:
    """A portfolio sized to the target volatility by HAR-RV: at each rebalance bar, ``equal_weight`` (1/k) or
    ``risk_parity`` (``1 / vol_HAR``, normalised) weights over the k assets that have a HAR-RV forecast and
    ``window`` listed bars, scaled by ``min(max_position, target_vol / portfolio_vol)`` with the portfolio
    volatility from the HAR-RV forecasts and the correlation of the last ``window`` bars (all ``<= t``), then
    the no-trade band (:func:`..backtest.sizing.vol_target_weights`).

    Args:
        returns: log returns, shape ``(T, A)``, finite (0 where an asset has no bar).
        rebalance: boolean mask of rebalance bars, shape ``(T,)``; the band starts at the first one.
        config: the target, the gross-exposure cap, the band and the variance horizon.
        allocation: ``"risk_parity"`` or ``"equal_weight"``. Default: ``"risk_parity"``.
        listed: bool ``(T, A)``: the asset trades at bar ``t`` or did before (its HAR-RV is fitted on its own
            bars only, from its first). Default: every asset from the first bar.
        window: bars of the correlation. Default: 720 (30 days).
        min_train: HAR-RV's first training span, per asset from its first listed bar. Default: 2160.
        refit_every: HAR-RV's refit interval, in bars. Default: 168.
        variance: :func:`.volatility.listed_har_rv_forecast` of these returns, shape ``(T, A)``, when already
            computed. Default: computed here.

    Returns:
        Shape ``(T, A)``: weights at the rebalance bars that trade, NaN elsewhere.

    Raises:
        ValueError: bad shapes, or an unknown ``allocation``.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    if allocation not in ("risk_parity", "equal_weight"):
        raise ValueError(f"allocation={allocation!r}: expected 'risk_parity' or 'equal_weight'")
    on = np.ones(r.shape, dtype=bool) if listed is None else np.asarray(listed, dtype=bool)
    if on.shape != r.shape:
        raise ValueError(f"listed: shape {on.shape}, expected {r.shape}")
    rows = _decision_rows(r, rebalance, check_int(window, "window", minimum=3))
    if variance is None:
        begin = int(rows[0]) if rows.size else r.shape[0]  # HAR-RV is needed from the first decision on
        variance = listed_har_rv_forecast(r, on, horizon=config.horizon, min_train=min_train,
                                          refit_every=refit_every, start=begin)  # fmt: skip
    var = as_array(variance, "variance", ndim=2)
    if var.shape != r.shape:
        raise ValueError(f"variance: shape {var.shape}, expected {r.shape}")
    base = np.full(r.shape, np.nan)
    for t in rows:
        ok = np.isfinite(var[t]) & on[t - window + 1]  # a forecast, and a full window of own bars
        base[t] = 0.0
        if ok.any():
            inv = 1.0 / np.sqrt(var[t, ok]) if allocation == "risk_parity" else np.ones(int(ok.sum()))
            base[t, ok] = inv / inv.sum()
    corr = listed_correlation(r, rows, listed=on, window=window)
    return vol_target_weights(base, var, corr, config)
