"""Forecast targets indexed by decision time, built from hourly log returns.

Every forecast in :mod:`ml_attention_mechanisms.evaluation` is indexed by its *decision time* ``t``: it is
made with the returns up to and including bar ``t`` and it targets bars ``t+1 .. t+h``. The targets below
use the same index, so a forecast array and its target array line up element by element (the last ``h``
targets are NaN: their future is not in the sample).

Shapes:
    T: bars. ``returns[t] = log(close[t] / close[t-1])``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import as_array, check_int

__all__ = [
    "finite_rows",
    "future_return_target",
    "observed_target",
    "realized_correlation_target",
    "realized_variance_target",
    "trailing_sum",
]


def trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    """``out[t] = x[t-window+1] + ... + x[t]``; NaN for ``t < window-1``. Shape ``(T,)``."""
    window = check_int(window, "window")
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= window:
        c = np.concatenate([[0.0], np.cumsum(x)])
        out[window - 1 :] = c[window:] - c[:-window]
    return out


def _forward_sum(x: np.ndarray, horizon: int) -> np.ndarray:
    # out[t] = x[t+1] + ... + x[t+h]: the trailing sum ending at t+h, moved back by h bars.
    trailing = trailing_sum(x, horizon)
    out = np.full(x.shape[0], np.nan)
    out[: x.shape[0] - horizon] = trailing[horizon:]
    return out


def future_return_target(returns: Any, horizon: int = 1, *, observed: Any = None) -> np.ndarray:
    """The log return over the next ``horizon`` bars, ``r[t+1] + ... + r[t+h]``, at decision time ``t``.

    Args:
        returns: hourly log returns, shape ``(T,)``.
        horizon: bars ahead. Default: 1.
        observed: bool, shape ``(T,)``: True where the bar has a price (``returns`` previous-tick); a target
            whose last bar has none is NaN (:func:`observed_target`). Default: None (every bar has one).

    Returns:
        Shape ``(T,)``; the last ``horizon`` entries are NaN.
    """
    r = as_array(returns, "returns")
    h = check_int(horizon, "horizon")
    return observed_target(_forward_sum(r, h), observed, h)


def realized_variance_target(returns: Any, horizon: int = 24, *, observed: Any = None) -> np.ndarray:
    """Next-``horizon``-bar realised variance ``r[t+1]^2 + ... + r[t+h]^2`` at decision time ``t``.

    The volatility target of the evaluation: with ``horizon=24`` it is the square of the price model's
    ``volatility`` target at horizon 24. ``observed``: as for :func:`future_return_target`.

    Returns:
        Shape ``(T,)``; the last ``horizon`` entries are NaN.
    """
    r = as_array(returns, "returns")
    h = check_int(horizon, "horizon")
    return observed_target(_forward_sum(r * r, h), observed, h)


def observed_target(target: Any, observed: Any, horizon: int) -> np.ndarray:
    """``target`` with NaN at the decision times ``t`` whose last target bar ``t + horizon`` has no price.

    Returns across a gap in the data are previous-tick ones (0 at a bar without a price, the move on the
    first bar after it), so a path's sum and its realised variance stay whole while its last bar has a
    price; a path that ends in a gap has no outcome yet and is not scored.

    Args:
        target: a target indexed by decision time, shape ``(T,)``.
        observed: bool, shape ``(T,)``: True where the bar has a price; None: every bar has one.
        horizon: bars of the target.

    Returns:
        Shape ``(T,)``, float64.
    """
    y = np.array(as_array(target, "target"), dtype=np.float64)
    if observed is None:
        return y
    seen = np.asarray(observed, dtype=bool)
    if seen.shape != y.shape:
        raise ValueError(f"observed: shape {seen.shape}, expected {y.shape} like the target")
    h = check_int(horizon, "horizon")
    y[: y.shape[0] - h][~seen[h:]] = np.nan
    return y


def finite_rows(*arrays: Any) -> np.ndarray:
    """Boolean mask of the rows where every array is finite (2-D arrays: every column).

    Use it to drop the warm-up and the end of sample before scoring:
    ``ok = finite_rows(y, f); mae(y[ok], f[ok])``.
    """
    mask: np.ndarray | None = None
    for i, a in enumerate(arrays):
        arr = np.asarray(getattr(a, "to_numpy", lambda a=a: a)(), dtype=np.float64)
        row_ok = np.asarray(np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1), dtype=bool)
        if mask is not None and row_ok.shape[0] != mask.shape[0]:
            raise ValueError(f"finite_rows: array {i} has {row_ok.shape[0]} rows, expected {mask.shape[0]}")
        mask = row_ok if mask is None else mask & row_ok
    if mask is None:
        raise ValueError("finite_rows: expected at least one array")
    return mask


def realized_correlation_target(returns: Any, horizon: int = 24) -> np.ndarray:
    """Correlation matrix of the next ``horizon`` bars' returns across assets, at decision time ``t``.

    Args:
        returns: log returns, shape ``(T, A)``, finite.
        horizon: bars in each window (>= 3). Default: 24.

    Returns:
        Shape ``(T, A, A)``; the last ``horizon`` entries are NaN.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    horizon = check_int(horizon, "horizon", minimum=3)
    out = np.full((r.shape[0], r.shape[1], r.shape[1]), np.nan)
    n = r.shape[0] - horizon
    if n > 0:
        out[:n] = _window_correlations(np.lib.stride_tricks.sliding_window_view(r[1:], horizon, axis=0)[:n])
    return out


def _window_correlations(windows: np.ndarray) -> np.ndarray:
    """Correlations of windows shaped ``(N, A, W)`` -> ``(N, A, A)`` (zero-variance assets give NaN)."""
    centred = windows - windows.mean(axis=2, keepdims=True)
    cov = centred @ centred.transpose(0, 2, 1)
    std = np.sqrt(np.einsum("nii->ni", cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / (std[:, :, None] * std[:, None, :])
