"""Volatility baselines for the next-``h``-bar realised variance: last window, HAR-RV, GARCH(1,1).

Forecasts are indexed by decision time ``t`` (see :mod:`.targets`) and use ``returns[:t+1]`` only; the
models are refitted on a rolling schedule (fit at ``s`` with data up to ``s``, forecast ``s .. s+N-1``).

References:
    Corsi (2009), "A Simple Approximate Long-Memory Model of Realized Volatility", J. Financial
    Econometrics 7(2). Bollerslev (1986), GARCH. The GARCH fits use the ``arch`` package.

Shapes:
    T: bars.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._import_guard import needs_extra
from .._checks import as_array, check_int
from ..targets import realized_variance_target, trailing_sum
from .returns import refit_points

__all__ = [
    "HAR_MIN_TRAIN",
    "GarchForecast",
    "garch_forecast",
    "har_rv_forecast",
    "last_window_variance_forecast",
    "listed_har_rv_forecast",
]

logger = logging.getLogger(__name__)

# HAR-RV's first training span, in bars (90 days of hourly bars): fitted on fewer, its 4 coefficients swing
HAR_MIN_TRAIN = 2160


def last_window_variance_forecast(returns: Any, *, window: int = 24, horizon: int = 24) -> np.ndarray:
    """Realised variance of the last ``window`` bars, scaled to ``horizon`` bars.

    ``forecast[t] = horizon / window * (r[t-window+1]^2 + ... + r[t]^2)``; NaN for ``t < window - 1``.
    Shape ``(T,)``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    window, horizon = check_int(window, "window"), check_int(horizon, "horizon")
    return trailing_sum(r * r, window) * (horizon / window)


def har_rv_forecast(
    returns: Any,
    *,
    horizon: int = 24,
    bars_per_day: int = 24,
    min_train: int = HAR_MIN_TRAIN,
    refit_every: int = 168,
    window: int | None = None,
    start: int | None = None,
) -> np.ndarray:
    """HAR-RV (Corsi 2009) on the hourly grid for the next-``horizon``-bar realised variance.

    Regressors at decision time ``t`` (all from bars ``<= t``): daily ``RV_d`` (sum of the last
    ``bars_per_day`` squared returns), weekly ``RV_w`` (last 7 days' sum / 7) and monthly ``RV_m`` (last 30
    days' sum / 30). OLS with intercept of ``target[t]`` on ``(RV_d, RV_w, RV_m)`` over the rows whose target
    is known at the refit time. Forecasts are floored at 1% of the fitted rows' mean target, so that QLIKE
    stays defined.

    Args:
        returns: hourly log returns, shape ``(T,)``, finite.
        horizon: bars in the target. Default: 24.
        bars_per_day: bars per day of the grid. Default: 24.
        min_train: first decision time is ``min_train - 1``; must leave rows to fit after the monthly
            warm-up (``30 * bars_per_day``). Default: 2160 (90 days).
        refit_every: bars between refits. Default: 168.
        window: fit on the last ``window`` rows only; None = expanding. Default: None.
        start: first decision time to forecast. Default: ``min_train - 1``.

    Returns:
        Shape ``(T,)``.
    """
    r = as_array(returns, "returns", allow_nan=False)
    horizon, bpd = check_int(horizon, "horizon"), check_int(bars_per_day, "bars_per_day")
    min_train, refit_every = check_int(min_train, "min_train"), check_int(refit_every, "refit_every")
    warmup = 30 * bpd - 1
    if min_train - 1 - horizon - warmup < 10:
        raise ValueError(
            f"min_train={min_train}: expected >= 30 * bars_per_day + horizon + 11 = {warmup + horizon + 12}"
        )
    sq = r * r
    x = np.column_stack(
        [trailing_sum(sq, bpd), trailing_sum(sq, 7 * bpd) / 7.0, trailing_sum(sq, 30 * bpd) / 30.0]
    )
    y = realized_variance_target(r, horizon)
    first = min_train - 1 if start is None else max(check_int(start, "start", minimum=0), min_train - 1)
    out = np.full(r.shape[0], np.nan)
    for s, e in refit_points(r.shape[0], start=first, refit_every=refit_every):
        hi = s - horizon
        lo = warmup if window is None else max(warmup, hi - check_int(window, "window") + 1)
        design = np.column_stack([np.ones(hi + 1 - lo), x[lo : hi + 1]])
        coef, *_ = np.linalg.lstsq(design, y[lo : hi + 1], rcond=None)
        floor = 0.01 * float(y[lo : hi + 1].mean())
        out[s:e] = np.maximum(coef[0] + x[s:e] @ coef[1:], floor)
    return out


def listed_har_rv_forecast(
    returns: Any,
    listed: Any = None,
    *,
    horizon: int = 24,
    min_train: int = HAR_MIN_TRAIN,
    refit_every: int = 168,
    start: int = 0,
) -> np.ndarray:
    """:func:`har_rv_forecast` of each asset fitted on its own bars only, from its first listed bar (a coin
    listed later is not fitted over the zeros before it), from decision time ``start`` on; NaN where an
    asset has fewer than ``min_train`` bars of its own.

    Args:
        returns: log returns, shape ``(T, A)``, finite (0 where an asset has no bar).
        listed: bool ``(T, A)``: the asset trades at ``t`` or did before. Default: all, from the first bar.
        horizon: HAR-RV's forecast horizon, in bars. Default: 24.
        min_train: HAR-RV's first training span, in bars. Default: 2160 (90 days).
        refit_every: HAR-RV's refit interval, in bars. Default: 168.
        start: first decision time forecast. Default: 0.

    Returns:
        Shape ``(T, A)``.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    on = np.ones(r.shape, dtype=bool) if listed is None else np.asarray(listed, dtype=bool)
    if on.shape != r.shape:
        raise ValueError(f"listed: shape {on.shape}, expected {r.shape}")
    horizon, min_train = check_int(horizon, "horizon"), check_int(min_train, "min_train")
    out = np.full(r.shape, np.nan)
    for a in range(r.shape[1]):
        first = int(np.argmax(on[:, a])) if on[:, a].any() else r.shape[0]
        own = r[first:, a]
        if own.shape[0] >= min_train and min_train - 1 - horizon - (30 * 24 - 1) >= 10:
            out[first:, a] = har_rv_forecast(
                own,
                horizon=horizon,
                min_train=min_train,
                refit_every=refit_every,
                start=max(start - first, 0),
            )
    return out


@dataclass(frozen=True, slots=True)
class GarchForecast:
    """GARCH(1,1) forecasts indexed by decision time; NaN before the first fit.

    Attributes:
        variance: forecast of the next-``horizon``-bar realised variance ``E_t[r[t+1]^2 + ... + r[t+h]^2]``
            (conditional variances plus squared mean), shape ``(T,)``.
        mean: one-bar-ahead conditional mean of ``r[t+1]``, shape ``(T,)``.
        sigma: one-bar-ahead conditional standard deviation of ``r[t+1]``, shape ``(T,)``.
        params: one dict per refit: ``{"refit_at": s, "mu", "omega", "alpha", "beta"}`` in return units.
    """

    variance: np.ndarray
    mean: np.ndarray
    sigma: np.ndarray
    params: list[dict[str, float]]


def _fit_garch(y: np.ndarray, mean: str) -> tuple[float, float, float, float, float]:
    """Fit GARCH(1,1)-normal with ``arch``; returns (mu, omega, alpha, beta, sigma2 of the last bar)."""
    with needs_extra("eval"):
        from arch import arch_model  # heavy: imported only when GARCH is used

    model = arch_model(y, mean="Zero" if mean == "zero" else "Constant", vol="GARCH", p=1, q=1, rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter: the fit is still the best found
        res = model.fit(disp="off", show_warning=False)
    p = res.params
    mu = float(p["mu"]) if "mu" in p else 0.0
    sigma2_last = float(np.asarray(res.conditional_volatility)[-1] ** 2)
    return mu, float(p["omega"]), float(p["alpha[1]"]), float(p["beta[1]"]), sigma2_last


def garch_forecast(
    returns: Any,
    *,
    horizon: int = 24,
    min_train: int = 720,
    refit_every: int = 168,
    window: int | None = 8760,
    start: int | None = None,
    mean: str = "constant",
) -> GarchForecast:
    """GARCH(1,1) with normal innovations (``arch``), refitted every ``refit_every`` bars without look-ahead.

    At a refit time ``s`` the parameters are estimated on ``returns[s-window+1 : s+1]``; for decision times
    ``s .. s+refit_every-1`` the conditional variance is filtered forward with those fixed parameters,
    ``sigma2[t+1] = omega + alpha * (r[t] - mu)^2 + beta * sigma2[t]``, and the ``h``-step forecast is
    ``sum_k E_t[sigma2[t+k]] + h * mu^2`` with ``E_t[sigma2[t+k]] = omega * sum_{j<k-1} p^j + p^(k-1) *
    sigma2[t+1]``, ``p = alpha + beta``. Returns are rescaled to unit-ish variance for the optimiser and
    the results scaled back.

    Args:
        returns: hourly log returns, shape ``(T,)``, finite.
        horizon: bars in the variance target. Default: 24.
        min_train: first decision time is ``min_train - 1``. Default: 720.
        refit_every: bars between refits. Default: 168 (weekly).
        window: bars per fit (None = expanding). Default: 8760 (a year).
        start: first decision time to forecast. Default: ``min_train - 1``.
        mean: ``"constant"`` or ``"zero"``. Default: ``"constant"``.

    Returns:
        :class:`GarchForecast`.
    """
    with needs_extra("eval"):
        from scipy.signal import lfilter

    r = as_array(returns, "returns", allow_nan=False)
    horizon, min_train = check_int(horizon, "horizon"), check_int(min_train, "min_train", minimum=50)
    refit_every = check_int(refit_every, "refit_every")
    if mean not in ("constant", "zero"):
        raise ValueError(f"mean={mean!r}: expected 'constant' or 'zero'")
    first = min_train - 1 if start is None else max(check_int(start, "start", minimum=0), min_train - 1)
    n = r.shape[0]
    var_sum, mu_out, sig_out = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    params: list[dict[str, float]] = []
    ks = np.arange(1, horizon + 1)
    for s, e in refit_points(n, start=first, refit_every=refit_every):
        lo = 0 if window is None else max(0, s - check_int(window, "window") + 1)
        scale = 1.0 / max(float(r[lo : s + 1].std()), 1e-12)  # fit in units of the window's std
        mu, omega, alpha, beta, sigma2_s = _fit_garch(r[lo : s + 1] * scale, mean)
        # sigma2[t+1] for t = s..e-1, filtered forward with the fixed parameters.
        drive = omega + alpha * (r[s:e] * scale - mu) ** 2
        sigma2_next = lfilter([1.0], [1.0, -beta], drive, zi=[beta * sigma2_s])[0]
        p = alpha + beta
        a_sum = float(sum(((1 - p ** (k - 1)) / (1 - p)) if abs(1 - p) > 1e-12 else k - 1 for k in ks))
        b_sum = float(np.sum(p ** (ks - 1)))
        var_sum[s:e] = (omega * a_sum + b_sum * sigma2_next + horizon * mu * mu) / scale**2
        mu_out[s:e] = mu / scale
        sig_out[s:e] = np.sqrt(sigma2_next) / scale
        params.append(
            {"refit_at": float(s), "mu": mu / scale, "omega": omega / scale**2, "alpha": alpha, "beta": beta}
        )
    logger.debug("garch_forecast: %d refits", len(params))
    return GarchForecast(variance=var_sum, mean=mu_out, sigma=sig_out, params=params)
