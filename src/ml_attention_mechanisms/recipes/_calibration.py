"""Calibration of a run's forecasts: fitted on the validation period only, then continued causally on a
rolling window of the forecasts whose outcomes are known (split-conformal intervals, VaR/ES scales, and
QLIKE's variance scale for a forecaster given one).

The models' own variance forecast is not rescaled: it is the data layer's variance anchor (fitted by QLIKE
on the training rows) times a residual whose weight was chosen on validation, calibrated by construction. A
trailing rescaling (the mean of target / forecast over the last 720 resolved bars) lags every volatility
spike: on walk-forward folds of the bundled data it raised the next period's 24-bar QLIKE of the anchor by
5-30%.

Shapes:
    T: bars; Q: quantile levels; Lv: VaR levels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation.conformal import ConformalQuantileCalibrator, conformal_quantile
from ..evaluation.targets import future_return_target, realized_variance_target

__all__ = [
    "apply_calibration",
    "fit_calibration",
    "next_return",
    "rolling_calibrated_quantiles",
    "rolling_calibration",
    "var_scale",
    "variance_scale",
]


def variance_scale(y: np.ndarray, f: np.ndarray) -> float:
    """The factor ``c`` minimising the mean QLIKE of ``c * f`` against ``y`` (``c = mean(y / f)``)."""
    ok = np.isfinite(y) & np.isfinite(f) & (f > 0)
    return float(np.mean(y[ok] / f[ok])) if ok.any() else 1.0


def var_scale(loss: np.ndarray, var: np.ndarray, level: float) -> float:
    """The factor ``s`` giving ``s * var`` an exceedance rate of at most ``level`` on the calibration rows:
    the split-conformal quantile of ``loss / var`` (:func:`conformal_quantile`)."""
    ok = np.isfinite(loss) & np.isfinite(var) & (var > 0)
    return conformal_quantile(loss[ok] / var[ok], level) if ok.sum() >= 20 else 1.0


def fit_calibration(
    forecasts: Mapping[str, Mapping[str, np.ndarray]],
    returns: Mapping[str, np.ndarray],
    rows: np.ndarray,
    *,
    quantile_levels: tuple[float, ...],
    var_levels: tuple[float, ...],
    horizon: int,
    observed: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Pooled calibration of every asset's forecasts on the validation rows only.

    Args:
        forecasts: asset -> the merged outputs of :func:`forecast_single` (price and risk keys).
        returns: asset -> its previous-tick log returns ``[T]``.
        rows: bool ``[T]``, the validation rows.
        observed: asset -> bool ``[T]``, True where the bar has a price (a next bar without one is no
            outcome); None = every bar has one.

    Returns:
        ``{"cqr_offsets": {tau: offset}, "quantile_levels", "var_scale": {level: s}}`` (plain data, stored in
        ``calibration.json`` and applied unchanged to test and other data; no variance scale: see the module
        docstring).
    """
    ys, qs, losses = [], [], []
    var_rows: dict[float, list[np.ndarray]] = {lv: [] for lv in var_levels}
    for asset, f in forecasts.items():
        r = returns[asset]
        y1 = next_return(r, None if observed is None else observed.get(asset))
        if "quantiles" in f:
            ok = rows & np.isfinite(y1) & np.isfinite(f["quantiles"]).all(axis=1)
            ys.append(y1[ok])
            qs.append(f["quantiles"][ok])
        if "var" in f:
            outcome = rows & np.isfinite(y1)
            losses.append(-y1[outcome])
            for i, lv in enumerate(var_levels):
                var_rows[lv].append(f["var"][outcome, i])
    out: dict[str, Any] = {"quantile_levels": list(quantile_levels)}
    if ys and sum(y.size for y in ys) >= 20:
        cal = ConformalQuantileCalibrator.fit(np.concatenate(ys), np.concatenate(qs), list(quantile_levels))
        out["cqr_offsets"] = {str(k): float(v) for k, v in cal.offsets.items()}
    if losses:
        loss = np.concatenate(losses)
        out["var_scale"] = {str(lv): var_scale(loss, np.concatenate(var_rows[lv]), lv) for lv in var_levels}
    return out


def next_return(returns: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
    """The next bar's log return at each decision time; NaN where that bar has no price or lies past the end."""
    return future_return_target(returns, 1, observed=observed)


def apply_calibration(
    forecast: Mapping[str, np.ndarray], calibration: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """The forecasts with the stored calibration applied (CQR offsets, variance and VaR/ES scales); the raw
    quantiles stay under ``quantiles_raw``."""
    out = dict(forecast)
    if "quantiles" in out and "cqr_offsets" in calibration:
        levels = tuple(float(x) for x in calibration["quantile_levels"])
        cal = ConformalQuantileCalibrator(
            quantiles=levels, offsets={float(k): float(v) for k, v in calibration["cqr_offsets"].items()}
        )
        q = out["quantiles"]
        ok = np.isfinite(q).all(axis=1)
        calibrated = q.copy()
        if ok.any():
            calibrated[ok] = cal.transform(q[ok])
        out["quantiles_raw"], out["quantiles"] = q, calibrated
    if "variance" in out and "variance_scale" in calibration:
        out["variance_raw"] = out["variance"]
        out["variance"] = out["variance"] * float(calibration["variance_scale"])
    if "var" in out and "var_scale" in calibration:
        scales = np.array([float(v) for v in calibration["var_scale"].values()])
        out["var"] = out["var"] * scales
        out["es"] = out["es"] * scales
    return out


def _trailing(
    values: np.ndarray,
    known_lag: int,
    window: int,
    min_rows: int,
    stat: Callable[[np.ndarray], float],
    at: np.ndarray,
) -> np.ndarray:
    """``out[t] = stat(values[s])`` for ``t`` in ``at``, over the finite ``values[s]`` with ``t - known_lag -
    window < s <= t - known_lag`` (only outcomes realised by bar ``t``); NaN where fewer than ``min_rows``."""
    n = values.shape[0]
    out = np.full(n, np.nan)
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size < min_rows:
        return out
    for t in at.tolist():
        hi = t - known_lag
        if hi < 0:
            continue
        a, b = np.searchsorted(finite, hi - window, side="right"), np.searchsorted(finite, hi, side="right")
        if b - a >= min_rows:
            out[t] = stat(values[finite[a:b]])
    return out


def rolling_calibration(
    forecast: Mapping[str, np.ndarray],
    returns: np.ndarray,
    calibration: Mapping[str, Any],
    *,
    window: int = 720,
    min_rows: int = 168,
    horizon: int = 24,
    observed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Causal rolling split-conformal calibration: at each decision time ``t`` the calibration set is the
    model's own forecasts of the last ``window`` bars whose outcomes are known at ``t`` (the validation
    forecasts first, then the test ones as they resolve), so the scales follow a change of regime without
    looking ahead. Where fewer than ``min_rows`` are known, the stored (validation) calibration applies.

    Intervals: each symmetric quantile pair is widened by the split-conformal quantile of
    the CQR conformity scores ``max(lo - y, y - hi)`` (its ``ceil((n + 1)(1 - 2 tau))``-th smallest of
    the ``n`` known; Romano et al. 2019); the ``horizon``-bar variance, when the stored calibration has a
    ``variance_scale``, by the mean of ``target / forecast`` (QLIKE's optimal scale); VaR/ES by the
    split-conformal ``1 - level`` quantile of ``loss / VaR`` (its ``ceil((n + 1)(1 - level))``-th smallest:
    an exceedance rate of at most ``level`` on exchangeable data, where the plain empirical quantile exceeds
    it by about ``1 / n``).

    Args:
        forecast: raw outputs of :func:`forecast_single` (price and/or risk keys), ``[T, ...]``.
        returns: the asset's previous-tick log returns ``[T]``.
        calibration: the stored calibration (fallback; its ``quantile_levels``, ``var_levels``).
        observed: bool ``[T]``, True where the bar has a price: an outcome whose last bar has none is not
            known (not in any calibration set); None = every bar has one.

    Returns:
        The forecasts with calibrated ``quantiles``/``variance``/``var``/``es`` and the raw ones kept as
        ``quantiles_raw``/``variance_raw``.
    """
    static = apply_calibration(forecast, calibration)
    out = dict(static)
    y = next_return(returns, observed)
    first = next(iter(forecast.values()))
    at = np.flatnonzero(np.isfinite(first.reshape(first.shape[0], -1)).all(axis=1))  # rows forecast
    known = _Known(at=at, window=window, min_rows=min_rows)
    if "quantiles" in forecast:
        levels = [float(v) for v in calibration.get("quantile_levels", ())] or [0.05, 0.25, 0.5, 0.75, 0.95]
        out["quantiles"] = _rolling_intervals(forecast["quantiles"], static["quantiles"], y, levels, known)
    if "variance" in forecast and "variance_scale" in calibration:
        out["variance"] = _rolling_variance(
            forecast["variance"], static["variance"], returns, horizon, known, observed
        )
    if "var" in forecast:
        var_levels = [float(v) for v in calibration.get("var_levels", (0.05, 0.01))]
        out["var"], out["es"] = _rolling_var_es(forecast, static, y, var_levels, known)
    return out


def rolling_calibrated_quantiles(
    quantiles: np.ndarray,
    returns: np.ndarray,
    levels: list[float],
    *,
    window: int = 720,
    min_rows: int = 168,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """Any forecaster's next-bar quantiles ``[T, Q]`` calibrated as :func:`rolling_calibration` calibrates the
    models' (each symmetric pair widened by the split-conformal quantile of its last ``window`` resolved CQR
    scores), unchanged where fewer than ``min_rows`` are resolved: e.g. the empirical quantiles, scored beside
    the model's intervals at the same calibration."""
    q = np.asarray(quantiles, dtype=np.float64)
    at = np.flatnonzero(np.isfinite(q).all(axis=1))
    known = _Known(at=at, window=window, min_rows=min_rows)
    return _rolling_intervals(q, q, next_return(returns, observed), levels, known)


@dataclass(frozen=True, slots=True)
class _Known:
    """Where and over what the rolling calibration looks back: the rows forecast, the ``window`` of bars,
    and the fewest resolved outcomes that replace the stored calibration."""

    at: np.ndarray
    window: int
    min_rows: int

    def trailing(self, values: np.ndarray, known_lag: int, stat: Callable[[np.ndarray], float]) -> np.ndarray:
        return _trailing(values, known_lag, self.window, self.min_rows, stat, self.at)


def _rolling_intervals(
    raw: np.ndarray, static: np.ndarray, y: np.ndarray, levels: list[float], known: _Known
) -> np.ndarray:
    """Each symmetric quantile pair widened by the split-conformal quantile of its CQR scores."""
    q = np.array(raw, dtype=np.float64)
    cal = q.copy()
    for i in range(len(levels) // 2):
        j = len(levels) - 1 - i
        alpha = 2 * levels[i]
        score = np.maximum(q[:, i] - y, y - q[:, j])  # NaN where no forecast or no outcome
        offset = known.trailing(score, 1, functools.partial(conformal_quantile, alpha=alpha))
        fallback = static[:, i] - q[:, i]  # the stored offset, as a shift of the low side
        shift = np.where(np.isfinite(offset), offset, -fallback)
        cal[:, i] = q[:, i] - shift
        cal[:, j] = q[:, j] + shift
    return np.sort(cal, axis=1)


def _rolling_variance(
    raw: np.ndarray,
    static: np.ndarray,
    returns: np.ndarray,
    horizon: int,
    known: _Known,
    observed: np.ndarray | None,
) -> np.ndarray:
    """The ``horizon``-bar variance scaled by the mean of ``target / forecast`` (QLIKE's optimal scale)."""
    f = np.asarray(raw, dtype=np.float64)
    rv = realized_variance_target(returns, horizon, observed=observed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(f > 0, rv / f, np.nan)
    scale = known.trailing(ratio, horizon, lambda s: float(np.mean(s)))
    return np.where(np.isfinite(scale), f * scale, static)


def _rolling_var_es(
    forecast: Mapping[str, np.ndarray],
    static: Mapping[str, np.ndarray],
    y: np.ndarray,
    var_levels: list[float],
    known: _Known,
) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES scaled by the split-conformal ``1 - level`` quantile of ``loss / VaR``."""
    var, es = np.asarray(forecast["var"], dtype=np.float64), np.asarray(forecast["es"], dtype=np.float64)
    new_var, new_es = static["var"].copy(), static["es"].copy()
    for i, lv in enumerate(var_levels):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(var[:, i] > 0, -y / var[:, i], np.nan)
        s = known.trailing(ratio, 1, functools.partial(conformal_quantile, alpha=lv))
        ok = np.isfinite(s)
        new_var[ok, i] = var[ok, i] * s[ok]
        new_es[ok, i] = es[ok, i] * s[ok]
    return new_var, new_es
