"""Forecast metrics: point, quantile/interval, distribution (CRPS, PIT), variance, drawdown, correlation.

Every function takes aligned arrays: ``y_true[i]`` is the realised value that ``y_pred[i]`` forecasts
(use :func:`.targets.finite_rows` to drop the warm-up and the end of sample first). Inputs must be finite.

Shapes:
    N: forecasts; Q: quantile levels; A: assets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import as_array, check_prob, check_same_length

__all__ = [
    "correlation_forecast_error",
    "crps_from_quantiles",
    "directional_accuracy",
    "drawdown_forecast_error",
    "interval_coverage",
    "interval_width",
    "mae",
    "max_drawdown_of_returns",
    "pinball_loss",
    "pit_from_quantiles",
    "qlike",
    "rmse",
]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_array(y_true, "y_true", allow_nan=False)
    f = as_array(y_pred, "y_pred", allow_nan=False)
    check_same_length(y_true=y, y_pred=f)
    return y, f


def _quantile_inputs(y_true: Any, q_pred: Any, quantiles: Sequence[float]) -> tuple[np.ndarray, ...]:
    y = as_array(y_true, "y_true", allow_nan=False)
    q = as_array(q_pred, "q_pred", ndim=2, allow_nan=False)
    levels = np.array([check_prob(t, "quantiles") for t in quantiles])
    check_same_length(y_true=y, q_pred=q)
    if q.shape[1] != levels.size or np.any(np.diff(levels) <= 0):
        raise ValueError(
            f"quantiles={list(quantiles)!r}: expected {q.shape[1]} increasing levels (one per q_pred column)"
        )
    return y, q, levels


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.abs(y - f)))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error (also the variance-forecast RMSE when given variances)."""
    y, f = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def directional_accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of forecasts with the realised sign (a zero on either side counts as a miss)."""
    y, f = _pair(y_true, y_pred)
    return float(np.mean(np.sign(y) * np.sign(f) > 0))


def pinball_loss(y_true: Any, q_pred: Any, quantiles: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over rows and levels: ``max(tau (y - q), (tau - 1)(y - q))``."""
    y, q, levels = _quantile_inputs(y_true, q_pred, quantiles)
    diff = y[:, None] - q
    return float(np.mean(np.maximum(levels * diff, (levels - 1.0) * diff)))


def crps_from_quantiles(y_true: Any, q_pred: Any, quantiles: Sequence[float]) -> float:
    """CRPS approximated from quantile forecasts: ``2 * integral_0^1 pinball_tau d tau``.

    The integral is the trapezoid rule over the given levels, with the loss held constant from each end
    level to 0 and 1; with many evenly spread levels it converges to the exact CRPS (Gneiting and Raftery
    2007, eq. 21 / Laio and Tamea 2007).
    """
    y, q, levels = _quantile_inputs(y_true, q_pred, quantiles)
    diff = y[:, None] - q
    loss = np.maximum(levels * diff, (levels - 1.0) * diff)  # (N, Q)
    grid = np.concatenate([[0.0], levels, [1.0]])
    padded = np.column_stack([loss[:, :1], loss, loss[:, -1:]])
    integral = np.sum(0.5 * (padded[:, 1:] + padded[:, :-1]) * np.diff(grid), axis=1)
    return float(np.mean(2.0 * integral))


def interval_coverage(y_true: Any, lower: Any, upper: Any) -> float:
    """Share of realised values inside ``[lower, upper]``."""
    y = as_array(y_true, "y_true", allow_nan=False)
    lo, hi = as_array(lower, "lower", allow_nan=False), as_array(upper, "upper", allow_nan=False)
    check_same_length(y_true=y, lower=lo, upper=hi)
    return float(np.mean((y >= lo) & (y <= hi)))


def interval_width(lower: Any, upper: Any) -> float:
    """Mean width ``upper - lower``."""
    lo, hi = as_array(lower, "lower", allow_nan=False), as_array(upper, "upper", allow_nan=False)
    check_same_length(lower=lo, upper=hi)
    return float(np.mean(hi - lo))


def pit_from_quantiles(y_true: Any, q_pred: Any, quantiles: Sequence[float]) -> np.ndarray:
    """Probability integral transform of each realised value under its quantile forecast.

    The forecast CDF is interpolated linearly between the given (quantile, level) points and held at the
    end levels beyond them (values below the lowest quantile get ``quantiles[0] / 2``, above the highest
    ``(1 + quantiles[-1]) / 2``: the middle of the uncovered tail). A calibrated forecast gives uniform PIT.

    Returns:
        Shape ``(N,)`` in (0, 1).
    """
    y, q, levels = _quantile_inputs(y_true, q_pred, quantiles)
    q = np.sort(q, axis=1)  # crossing quantiles would make the interpolation ill-defined
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        if y[i] < q[i, 0]:
            out[i] = levels[0] / 2.0
        elif y[i] > q[i, -1]:
            out[i] = (1.0 + levels[-1]) / 2.0
        else:
            out[i] = float(np.interp(y[i], q[i], levels))
    return out


def qlike(realized: Any, forecast: Any) -> float:
    """QLIKE loss of variance forecasts: ``mean(y/f - log(y/f) - 1)`` (Patton 2011), 0 at a perfect forecast.

    Raises:
        ValueError: a forecast <= 0 or a realised variance < 0.
    """
    y, f = _pair(realized, forecast)
    if (f <= 0).any():
        raise ValueError(f"forecast: variance forecasts must be > 0 (index {int(np.flatnonzero(f <= 0)[0])})")
    if (y < 0).any():
        raise ValueError("realized: realised variances must be >= 0")
    ratio = np.maximum(y, 1e-300) / f  # a zero realised variance: the limit y/f - log(y/f) grows slowly
    return float(np.mean(ratio - np.log(ratio) - 1.0))


def max_drawdown_of_returns(log_returns: Any) -> float:
    """Maximum drawdown (a positive fraction) of the price path of a log-return series."""
    r = as_array(log_returns, "log_returns", allow_nan=False)
    path = np.concatenate([[0.0], np.cumsum(r)])
    return float(np.max(1.0 - np.exp(path - np.maximum.accumulate(path))))


def drawdown_forecast_error(returns: Any, drawdown_forecast: Any, *, horizon: int = 24) -> dict[str, float]:
    """Error of forecasts of the maximum drawdown over the next ``horizon`` bars.

    ``drawdown_forecast[t]`` (decision-time indexed, a positive fraction) targets the maximum drawdown of
    the price path over bars ``t+1 .. t+h`` (measured from the close of ``t``); rows without a full
    future window or with a NaN forecast are skipped.

    Returns:
        ``{"mae", "rmse", "bias" (mean forecast - realised), "n"}``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    f = as_array(drawdown_forecast, "drawdown_forecast")
    check_same_length(returns=r, drawdown_forecast=f)
    n = r.shape[0] - horizon
    if n <= 0:
        raise ValueError(f"returns: {r.shape[0]} bars, need more than horizon={horizon}")
    windows = np.lib.stride_tricks.sliding_window_view(r[1:], horizon)[:n]  # row t: r[t+1 .. t+h]
    path = np.concatenate([np.zeros((n, 1)), np.cumsum(windows, axis=1)], axis=1)
    realised = np.max(1.0 - np.exp(path - np.maximum.accumulate(path, axis=1)), axis=1)
    ok = np.isfinite(f[:n])
    err = f[:n][ok] - realised[ok]
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(np.mean(err)),
        "n": float(ok.sum()),
    }


def correlation_forecast_error(realized_corr: Any, forecast_corr: Any) -> dict[str, float]:
    """Error of correlation-matrix forecasts over the off-diagonal pairs.

    Args:
        realized_corr: realised correlations, shape ``(N, A, A)``.
        forecast_corr: forecasts, shape ``(N, A, A)``.

    Returns:
        ``{"mae", "rmse", "frobenius"}``: mean absolute and root-mean-squared error over the upper
        off-diagonal pairs, and the mean Frobenius norm of the difference.
    """
    y = as_array(realized_corr, "realized_corr", ndim=3, allow_nan=False)
    f = as_array(forecast_corr, "forecast_corr", ndim=3, allow_nan=False)
    if y.shape != f.shape or y.shape[1] != y.shape[2]:
        raise ValueError(f"realized_corr {y.shape} and forecast_corr {f.shape}: expected equal (N, A, A)")
    iu = np.triu_indices(y.shape[1], k=1)
    diff = (f - y)[:, iu[0], iu[1]]
    return {
        "mae": float(np.mean(np.abs(diff))),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "frobenius": float(np.mean(np.linalg.norm(f - y, axis=(1, 2)))),
    }
