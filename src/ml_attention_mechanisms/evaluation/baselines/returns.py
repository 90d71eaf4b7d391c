"""Return-forecast baselines: zero, training mean, ridge on lagged returns.

All forecasts are indexed by decision time ``t`` (see :mod:`.targets`): ``forecast[t]`` uses
``returns[:t+1]`` only and targets ``r[t+1] + ... + r[t+h]``. Entries that cannot be formed without
look-ahead (the warm-up) are NaN.

Shapes:
    T: bars; L: lags.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import as_array, check_int
from ..targets import future_return_target

__all__ = ["lag_matrix", "mean_forecast", "refit_points", "ridge_forecast", "zero_forecast"]


def zero_forecast(returns: Any, horizon: int = 1) -> np.ndarray:
    """The random-walk forecast: zero for every decision time. Shape ``(T,)``."""
    r = as_array(returns, "returns")
    check_int(horizon, "horizon")
    return np.zeros(r.shape[0])


def mean_forecast(returns: Any, *, train_size: int, horizon: int = 1, expanding: bool = False) -> np.ndarray:
    """``horizon`` times the mean return of the training bars.

    Args:
        returns: hourly log returns, shape ``(T,)``.
        train_size: the first ``train_size`` bars are the training split; the forecast is defined from
            decision time ``train_size - 1`` on (NaN before).
        horizon: bars ahead. Default: 1.
        expanding: if True, ``forecast[t]`` is ``horizon * mean(returns[:t+1])`` (updated every bar) from
            ``train_size - 1`` on, instead of the fixed training mean. Default: False.

    Returns:
        Shape ``(T,)``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    train_size = check_int(train_size, "train_size")
    horizon = check_int(horizon, "horizon")
    if train_size > r.shape[0]:
        raise ValueError(f"train_size={train_size}: larger than the {r.shape[0]} bars given")
    out = np.full(r.shape[0], np.nan)
    if expanding:
        running = np.cumsum(r) / np.arange(1, r.shape[0] + 1)
        out[train_size - 1 :] = horizon * running[train_size - 1 :]
    else:
        out[train_size - 1 :] = horizon * r[:train_size].mean()
    return out


def lag_matrix(x: np.ndarray, n_lags: int) -> np.ndarray:
    """``out[t] = [x[t], x[t-1], ..., x[t-L+1]]``; rows ``t < L-1`` are NaN. Shape ``(T, L)``."""
    out = np.full((x.shape[0], n_lags), np.nan)
    for k in range(n_lags):
        out[k:, k] = x[: x.shape[0] - k]
    return out


def refit_points(n: int, *, start: int, refit_every: int) -> list[tuple[int, int]]:
    """Rolling refit schedule: ``[(s, e), ...]``, fit at decision time ``s`` and forecast ``s .. e-1``."""
    return [(s, min(s + refit_every, n)) for s in range(start, n, refit_every)]


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    # Ridge on standardised features with an unpenalised intercept: centre, scale each column to unit
    # variance (so ``alpha`` does not depend on the returns' scale), solve (Z'Z + alpha I) b = Z'y.
    x_mean, y_mean = x.mean(axis=0), y.mean()
    x_std = x.std(axis=0)
    x_std[x_std == 0] = 1.0
    z = (x - x_mean) / x_std
    coef = np.linalg.solve(z.T @ z + alpha * np.eye(x.shape[1]), z.T @ (y - y_mean)) / x_std
    return coef, float(y_mean - x_mean @ coef)


def ridge_forecast(
    returns: Any,
    *,
    n_lags: int = 24,
    horizon: int = 1,
    alpha: float = 10.0,
    min_train: int = 720,
    refit_every: int = 168,
    window: int | None = None,
    start: int | None = None,
) -> np.ndarray:
    """Ridge regression of the next-``horizon``-bar return on the last ``n_lags`` returns, refitted on a
    rolling schedule without look-ahead.

    At each refit time ``s`` the model is fitted on the pairs ``(lags[t], target[t])`` whose target is
    fully known at ``s`` (``t + horizon <= s``), then forecasts decision times ``s .. s+refit_every-1``.

    Args:
        returns: hourly log returns, shape ``(T,)``, finite.
        n_lags: lagged returns used as features. Default: 24.
        horizon: bars ahead. Default: 1.
        alpha: L2 penalty on the standardised lags (compare with the number of fitted pairs). Default: 10.
        min_train: decision times before ``min_train - 1`` are NaN. Default: 720 (30 days of hours).
        refit_every: bars between refits. Default: 168 (a week).
        window: fit on the last ``window`` usable pairs only; None = expanding. Default: None.
        start: first decision time to forecast (earlier ones are NaN, saving refits). Default:
            ``min_train - 1``.

    Returns:
        Shape ``(T,)`` forecasts indexed by decision time.

    Raises:
        ValueError: bad sizes, or ``returns`` with NaN/inf.
    """
    r = as_array(returns, "returns", allow_nan=False)
    n_lags, horizon = check_int(n_lags, "n_lags"), check_int(horizon, "horizon")
    min_train, refit_every = check_int(min_train, "min_train"), check_int(refit_every, "refit_every")
    if alpha < 0:
        raise ValueError(f"alpha={alpha!r}: expected >= 0")
    if min_train < n_lags + horizon + 2:
        raise ValueError(f"min_train={min_train}: expected >= n_lags + horizon + 2 = {n_lags + horizon + 2}")
    first = min_train - 1 if start is None else max(check_int(start, "start", minimum=0), min_train - 1)
    x, y = lag_matrix(r, n_lags), future_return_target(r, horizon)
    out = np.full(r.shape[0], np.nan)
    for s, e in refit_points(r.shape[0], start=first, refit_every=refit_every):
        hi = s - horizon  # last row whose target r[hi+1..hi+h] is known at s
        lo = n_lags - 1 if window is None else max(n_lags - 1, hi - check_int(window, "window") + 1)
        coef, intercept = _ridge_fit(x[lo : hi + 1], y[lo : hi + 1], alpha)
        out[s:e] = x[s:e] @ coef + intercept
    return out
