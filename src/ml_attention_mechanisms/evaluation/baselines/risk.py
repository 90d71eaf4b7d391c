"""Interval and risk baselines: rolling empirical quantiles, historical-simulation VaR/ES, GARCH-normal VaR.

Conventions: forecasts are indexed by decision time ``t`` and use ``returns[:t+1]`` only. VaR and ES are
reported as positive losses: the bar ``t+1`` is an exceedance when ``r[t+1] < -VaR[t]``; ``level`` is the
confidence (0.95 -> the 5% left tail).

Shapes:
    T: bars; Q: quantile levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._import_guard import needs_extra
from .._checks import as_array, check_int, check_prob
from ..targets import _window_correlations, trailing_sum
from .volatility import GarchForecast, garch_forecast

__all__ = [
    "garch_normal_var_es",
    "historical_var_es",
    "listed_correlation",
    "normal_var_es",
    "rolling_correlation_forecast",
    "rolling_drawdown_forecast",
    "rolling_quantile_forecast",
]


def _windows(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing windows ending at each t >= window-1: shape (T - window + 1, window), a strided view."""
    return np.lib.stride_tricks.sliding_window_view(x, window)


def rolling_quantile_forecast(
    returns: Any, quantiles: Sequence[float], *, window: int = 720, horizon: int = 1
) -> np.ndarray:
    """Empirical quantiles of the past ``horizon``-bar returns as the forecast of the next ``horizon`` bars.

    ``forecast[t, j]`` is the ``quantiles[j]`` quantile (linear interpolation) of the ``window`` most recent
    ``horizon``-bar log returns fully known at ``t`` (those ending at ``t-window+1 .. t``).

    Args:
        returns: hourly log returns, shape ``(T,)``, finite.
        quantiles: levels in (0, 1), increasing.
        window: past ``horizon``-bar returns used. Default: 720 (30 days).
        horizon: bars ahead. Default: 1.

    Returns:
        Shape ``(T, Q)``; rows before ``window + horizon - 2`` are NaN.
    """
    r = as_array(returns, "returns", allow_nan=False)
    window, horizon = check_int(window, "window", minimum=2), check_int(horizon, "horizon")
    levels = np.array([check_prob(q, "quantiles") for q in quantiles])
    if levels.size == 0 or np.any(np.diff(levels) <= 0):
        raise ValueError(f"quantiles={list(quantiles)!r}: expected a non-empty increasing sequence")
    sums = trailing_sum(r, horizon)
    out = np.full((r.shape[0], levels.size), np.nan)
    first = window + horizon - 2  # first t with `window` complete h-bar sums
    if r.shape[0] > first:
        out[first:] = np.quantile(_windows(sums[horizon - 1 :], window), levels, axis=1).T
    return out


def historical_var_es(
    returns: Any, levels: Sequence[float] = (0.95, 0.99), *, window: int = 720
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Historical-simulation one-bar VaR and ES from the last ``window`` returns.

    ``VaR[t] = -quantile(r[t-window+1 .. t], 1 - level)``; ``ES[t]`` is minus the mean of the returns in
    the window at or below ``-VaR[t]``.

    Returns:
        ``{level: (var, es)}``, each shape ``(T,)``, NaN for ``t < window - 1``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    window = check_int(window, "window", minimum=2)
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    if r.shape[0] < window:
        raise ValueError(f"returns: {r.shape[0]} bars, fewer than window={window}")
    win = _windows(r, window)
    for level in levels:
        level = check_prob(level, "levels")
        q = np.quantile(win, 1.0 - level, axis=1)
        tail = np.where(win <= q[:, None], win, np.nan)
        var, es = np.full(r.shape[0], np.nan), np.full(r.shape[0], np.nan)
        var[window - 1 :] = -q
        es[window - 1 :] = -np.nanmean(tail, axis=1)
        out[level] = (var, es)
    return out


def garch_normal_var_es(
    returns: Any, levels: Sequence[float] = (0.95, 0.99), **garch_kwargs: Any
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """One-bar VaR and ES from GARCH(1,1)-normal (:func:`garch_forecast`, rolling refits).

    With the one-bar mean ``mu[t]`` and standard deviation ``sigma[t]`` and ``z = Phi^-1(1 - level)``:
    ``VaR = -(mu + sigma z)`` and ``ES = -(mu - sigma phi(z) / (1 - level))``.

    Args:
        returns: hourly log returns, shape ``(T,)``.
        levels: confidence levels. Default: (0.95, 0.99).
        **garch_kwargs: passed to :func:`garch_forecast` (``min_train``, ``refit_every``, ``window``,
            ``start``, ``mean``).

    Returns:
        ``{level: (var, es)}``, each shape ``(T,)``.
    """
    return normal_var_es(garch_forecast(returns, horizon=1, **garch_kwargs), levels)


def normal_var_es(
    forecast: GarchForecast, levels: Sequence[float] = (0.95, 0.99)
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """One-bar normal VaR and ES from a :class:`GarchForecast`'s one-bar ``mean`` and ``sigma`` (any
    ``horizon`` of the variance part), so that one set of GARCH fits serves volatility and risk."""
    with needs_extra("eval"):
        from scipy.stats import norm

    fc = forecast
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for level in levels:
        tail = 1.0 - check_prob(level, "levels")
        z = float(norm.ppf(tail))
        out[level] = (-(fc.mean + fc.sigma * z), -(fc.mean - fc.sigma * float(norm.pdf(z)) / tail))
    return out


def rolling_correlation_forecast(returns: Any, *, window: int = 720) -> np.ndarray:
    """The correlation matrix of the last ``window`` bars (``<= t``) as the forecast of the next ones.

    Args:
        returns: log returns, shape ``(T, A)``, finite.
        window: bars. Default: 720 (30 days of hours).

    Returns:
        Shape ``(T, A, A)``; NaN for ``t < window - 1``.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    window = check_int(window, "window", minimum=3)
    out = np.full((r.shape[0], r.shape[1], r.shape[1]), np.nan)
    if r.shape[0] >= window:
        out[window - 1 :] = _window_correlations(np.lib.stride_tricks.sliding_window_view(r, window, axis=0))
    return out


def listed_correlation(returns: Any, rows: Any, *, listed: Any = None, window: int = 720) -> np.ndarray:
    """The correlation matrix of the last ``window`` bars (``<= t``) at the decision ``rows`` only, among the
    assets listed for the whole window; an asset listed later than ``t - window + 1`` counts as uncorrelated
    with the others (its row and column of the identity), as its window would mix in bars it did not trade.

    Args:
        returns: log returns, shape ``(T, A)``, finite (0 where an asset has no bar).
        rows: the decision times, int positions.
        listed: bool ``(T, A)``: the asset trades at ``t`` or did before. Default: all, from the first bar.
        window: bars. Default: 720 (30 days of hours).

    Returns:
        Shape ``(T, A, A)``; NaN outside ``rows`` and where ``t < window - 1``.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    window = check_int(window, "window", minimum=3)
    on = np.ones(r.shape, dtype=bool) if listed is None else np.asarray(listed, dtype=bool)
    if on.shape != r.shape:
        raise ValueError(f"listed: shape {on.shape}, expected {r.shape}")
    out = np.full((r.shape[0], r.shape[1], r.shape[1]), np.nan)
    for t in np.asarray(rows, dtype=np.int64):
        if t < window - 1:
            continue
        ok = on[t - window + 1]
        ok &= r[t - window + 1 : t + 1].std(axis=0) > 0  # a constant window has no correlation
        out[t] = np.eye(r.shape[1])
        if ok.sum() > 1:
            out[t][np.ix_(ok, ok)] = np.corrcoef(r[t - window + 1 : t + 1, ok], rowvar=False)
    return out


def rolling_drawdown_forecast(returns: Any, *, window: int = 720, horizon: int = 24) -> np.ndarray:
    """Mean maximum drawdown of the past ``horizon``-bar windows fully known at ``t`` (those ending in the
    last ``window`` bars), as the forecast of the next ``horizon`` bars' maximum drawdown.

    Returns:
        Shape ``(T,)`` (positive fractions); NaN for ``t < window + horizon - 2``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    window, horizon = check_int(window, "window"), check_int(horizon, "horizon")
    if r.shape[0] < horizon:
        raise ValueError(f"returns: {r.shape[0]} bars, fewer than horizon={horizon}")
    paths = np.cumsum(_windows(r, horizon), axis=1)  # row u: the path over bars u .. u+h-1
    paths = np.concatenate([np.zeros((paths.shape[0], 1)), paths], axis=1)
    dd = np.max(1.0 - np.exp(paths - np.maximum.accumulate(paths, axis=1)), axis=1)  # ends at u+h-1
    ending = np.full(r.shape[0], np.nan)
    ending[horizon - 1 :] = dd
    out = np.full(r.shape[0], np.nan)
    first = window + horizon - 2
    if r.shape[0] > first:
        c = np.concatenate([[0.0], np.cumsum(ending[horizon - 1 :])])
        means = (c[window:] - c[:-window]) / window  # windows of `window` drawdowns ending at t
        out[first:] = means
    return out
