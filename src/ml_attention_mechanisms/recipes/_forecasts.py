"""Forecasts of trained models at every decision time of a period, on the grid of the prepared panel, and
their calibration on the validation period.

A forecast at decision time ``t`` reads the window of bars ``t-L+1..t`` (features scaled with the run's
training statistics) and targets bars after ``t``; arrays here are ``[T, ...]`` with NaN at the times not
forecast, the convention of :mod:`ml_attention_mechanisms.evaluation`.

Shapes:
    T: bars; L: window; F: features; A: assets; Q: quantile levels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "apply_calibration",
    "asset_ids_for",
    "attention_map",
    "fit_calibration",
    "forecast_portfolio",
    "forecast_single",
    "rolling_calibration",
    "var_scale",
    "variance_scale",
]

logger = logging.getLogger(__name__)

_CHUNK = 512


def asset_ids_for(symbols: tuple[str, ...], known: Mapping[str, int]) -> list[int]:
    """The run's id of each symbol of the data; 0 (the reserved unknown-asset id) for a symbol it never saw."""
    return [int(known.get(s, 0)) for s in symbols]


def _progress(iterable: Any, total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _chunks(positions: np.ndarray) -> Iterator[np.ndarray]:
    for i in range(0, positions.size, _CHUNK):
        yield positions[i : i + _CHUNK]


def _present(prepared: Any, column: int, positions: np.ndarray, window: int) -> np.ndarray:
    p = np.asarray(positions, dtype=np.int64)
    p = p[(p >= window - 1) & (p < prepared.timestamps.size)]
    return p[prepared.mask[column, p]]


def _single_batch(prepared: Any, column: int, ends: np.ndarray, window: int, asset_id: int) -> dict[str, Any]:
    idx = ends[:, None] + np.arange(-window + 1, 1)[None, :]  # (N, L)
    return {
        "price_data": torch.from_numpy(prepared.features[column][idx]),  # (N, L, F)
        "timestamps": torch.from_numpy(prepared.timestamps[idx]),  # (N, L)
        "asset_ids": torch.full((ends.size,), asset_id, dtype=torch.int64),
        "mask": torch.from_numpy(prepared.mask[column][idx]),  # (N, L)
    }


@torch.no_grad()
def forecast_single(
    model: nn.Module,
    prepared: Any,
    column: int,
    positions: np.ndarray,
    *,
    window: int,
    asset_id: int,
    progress: bool = False,
    desc: str = "",
) -> dict[str, np.ndarray]:
    """Run a single-asset model at each position (where the asset's bar is present).

    Returns:
        Grid-aligned arrays (NaN where not forecast) by output kind: ``price``: ``return`` ``[T]`` (median
        1-bar log return), ``quantiles`` ``[T, Q]`` (1-bar return quantiles), ``variance`` ``[T]`` (squared
        median of the last horizon's realised volatility); ``risk``: ``var``/``es`` ``[T, Lv]``,
        ``drawdown``, ``volatility`` ``[T]``; ``signal``: ``signal`` ``[T]`` in {-1, 0, 1},
        ``probabilities``/``logits`` ``[T, 3]``, ``confidence`` ``[T]``.
    """
    kind = str(getattr(type(model), "OUTPUT_KIND", ""))
    n = int(prepared.timestamps.size)
    ends = _present(prepared, column, positions, window)
    parts: dict[str, list[np.ndarray]] = {}
    model.eval()
    chunks = list(_chunks(ends))
    for chunk in _progress(chunks, len(chunks), desc, progress):
        out = model(**model.training_inputs(_single_batch(prepared, column, chunk, window, asset_id)))  # type: ignore[operator]
        for key, value in _pick(kind, out).items():
            parts.setdefault(key, []).append(value)
    result: dict[str, np.ndarray] = {}
    for key, values in parts.items():
        stacked = np.concatenate(values, axis=0)
        full = np.full((n, *stacked.shape[1:]), np.nan)
        full[ends] = stacked
        result[key] = full
    result["_positions"] = ends
    return result


def _pick(kind: str, out: Mapping[str, Any]) -> dict[str, np.ndarray]:
    def np64(t: torch.Tensor) -> np.ndarray:
        return t.detach().double().numpy()

    if kind == "price":
        q = out["quantiles"]  # (N, H, 2, Q): targets ("price", "volatility")
        med = q.shape[-1] // 2
        return {
            "return": np64(q[:, 0, 0, med]),
            "quantiles": np64(q[:, 0, 0, :]),
            "variance": np64(q[:, -1, 1, med]) ** 2,
        }
    if kind == "risk":
        return {
            "var": np64(out["var"]),
            "es": np64(out["es"]),
            "drawdown": np64(out["drawdown"]),
            "volatility": np64(out["volatility"]),
        }
    if kind == "signal":
        return {
            "signal": np64(out["signal"]),
            "probabilities": np64(out["probabilities"]),
            "logits": np64(out["logits"]),
            "confidence": np64(out["confidence"]),
        }
    raise ValueError(f"forecast_single: a model of OUTPUT_KIND {kind!r} is not single-asset")


@torch.no_grad()
def forecast_portfolio(
    model: nn.Module,
    prepared: Any,
    positions: np.ndarray,
    *,
    window: int,
    progress: bool = False,
) -> np.ndarray:
    """Target weights ``[T, A]`` of a portfolio model at the positions (NaN elsewhere)."""
    n, a = int(prepared.timestamps.size), len(prepared.symbols)
    ends = np.asarray(positions, dtype=np.int64)
    ends = ends[(ends >= window - 1) & prepared.mask[:, ends].any(axis=0)] if ends.size else ends
    out = np.full((n, a), np.nan)
    feats = np.swapaxes(prepared.features, 0, 1)  # (T, A, F)
    mask, volume = prepared.mask.T, prepared.volume.T  # (T, A)
    chunks = list(_chunks(ends))
    for chunk in _progress(chunks, len(chunks), "portfolio", progress):
        idx = chunk[:, None] + np.arange(-window + 1, 1)[None, :]  # (N, L)
        res = model(  # type: ignore[operator]
            asset_features=torch.from_numpy(np.ascontiguousarray(feats[idx])),  # (N, L, A, F)
            volume_data=torch.from_numpy(np.ascontiguousarray(volume[idx])),
            timestamps=torch.from_numpy(prepared.timestamps[idx]),
            mask=torch.from_numpy(np.ascontiguousarray(mask[idx])),
        )
        out[chunk] = res["optimal_weights"].double().numpy()
    return out


@torch.no_grad()
def attention_map(
    model: nn.Module, prepared: Any, column: int, end: int, *, window: int
) -> np.ndarray | None:
    """Head-averaged attention ``[L, L]`` of a single-asset model's first layer for the window ending at
    ``end`` (``None`` when the model returns none)."""
    batch = _single_batch(prepared, column, np.array([end]), window, 0)
    out = model(**model.training_inputs(batch), need_attention_weights=True)  # type: ignore[operator]
    maps = out.get("attention_weights") or {}
    if not maps:
        return None
    first = maps[sorted(maps)[0]]  # (1, H, L, L)
    return np.asarray(first[0].mean(0).double().numpy())


def variance_scale(y: np.ndarray, f: np.ndarray) -> float:
    """The factor ``c`` minimising the mean QLIKE of ``c * f`` against ``y`` (``c = mean(y / f)``)."""
    ok = np.isfinite(y) & np.isfinite(f) & (f > 0)
    return float(np.mean(y[ok] / f[ok])) if ok.any() else 1.0


def var_scale(loss: np.ndarray, var: np.ndarray, level: float) -> float:
    """The factor ``s`` giving ``s * var`` an exceedance rate of ``level`` on the calibration rows."""
    ok = np.isfinite(loss) & np.isfinite(var) & (var > 0)
    return float(np.quantile(loss[ok] / var[ok], 1.0 - level)) if ok.sum() >= 20 else 1.0


def fit_calibration(
    forecasts: Mapping[str, Mapping[str, np.ndarray]],
    returns: Mapping[str, np.ndarray],
    rows: np.ndarray,
    *,
    quantile_levels: tuple[float, ...],
    var_levels: tuple[float, ...],
    horizon: int,
) -> dict[str, Any]:
    """Pooled calibration of every asset's forecasts on the validation rows only.

    Args:
        forecasts: asset -> the merged outputs of :func:`forecast_single` (price and risk keys).
        returns: asset -> its log returns ``[T]``.
        rows: bool ``[T]``, the validation rows.

    Returns:
        ``{"cqr_offsets": {tau: offset}, "quantile_levels", "variance_scale", "var_scale": {level: s}}``
        (plain data, stored in ``calibration.json`` and applied unchanged to test and other data).
    """
    from ..evaluation.conformal import ConformalQuantileCalibrator
    from ..evaluation.targets import future_return_target, realized_variance_target

    ys, qs, vy, vf, losses = [], [], [], [], []
    var_rows: dict[float, list[np.ndarray]] = {lv: [] for lv in var_levels}
    for asset, f in forecasts.items():
        r = returns[asset]
        y1 = future_return_target(r, 1)
        if "quantiles" in f:
            ok = rows & np.isfinite(y1) & np.isfinite(f["quantiles"]).all(axis=1)
            ys.append(y1[ok])
            qs.append(f["quantiles"][ok])
        if "variance" in f:
            vy.append(realized_variance_target(r, horizon)[rows])
            vf.append(f["variance"][rows])
        if "var" in f:
            losses.append(-y1[rows])
            for i, lv in enumerate(var_levels):
                var_rows[lv].append(f["var"][rows, i])
    out: dict[str, Any] = {"quantile_levels": list(quantile_levels)}
    if ys and sum(y.size for y in ys) >= 20:
        cal = ConformalQuantileCalibrator.fit(np.concatenate(ys), np.concatenate(qs), list(quantile_levels))
        out["cqr_offsets"] = {str(k): float(v) for k, v in cal.offsets.items()}
    if vy:
        out["variance_scale"] = variance_scale(np.concatenate(vy), np.concatenate(vf))
    if losses:
        loss = np.concatenate(losses)
        out["var_scale"] = {str(lv): var_scale(loss, np.concatenate(var_rows[lv]), lv) for lv in var_levels}
    return out


def apply_calibration(
    forecast: Mapping[str, np.ndarray], calibration: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """The forecasts with the stored calibration applied (CQR offsets, variance and VaR/ES scales); the raw
    quantiles stay under ``quantiles_raw``."""
    from ..evaluation.conformal import ConformalQuantileCalibrator

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
    values: np.ndarray, known_lag: int, window: int, min_rows: int, stat: Any, at: np.ndarray
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


def _conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1)(1 - alpha))``-th smallest of ``n`` scores."""
    n = scores.shape[0]
    k = min(n, int(np.ceil((n + 1) * (1.0 - alpha))))
    return float(np.partition(scores, k - 1)[k - 1])


def rolling_calibration(
    forecast: Mapping[str, np.ndarray],
    returns: np.ndarray,
    calibration: Mapping[str, Any],
    *,
    window: int = 720,
    min_rows: int = 168,
    horizon: int = 24,
) -> dict[str, np.ndarray]:
    """Causal rolling split-conformal calibration: at each decision time ``t`` the calibration set is the
    model's own forecasts of the last ``window`` bars whose outcomes are known at ``t`` (the validation
    forecasts first, then the test ones as they resolve), so the scales follow a change of regime without
    looking ahead. Where fewer than ``min_rows`` are known, the stored (validation) calibration applies.

    Intervals: each symmetric quantile pair is widened by the split-conformal quantile of
    the CQR conformity scores ``max(lo - y, y - hi)`` (its ``ceil((n + 1)(1 - 2 tau))``-th smallest of
    the ``n`` known; Romano et al. 2019); the ``horizon``-bar variance by
    the mean of ``target / forecast`` (QLIKE's optimal scale); VaR/ES by the ``1 - level`` quantile of
    ``loss / VaR``.

    Args:
        forecast: raw outputs of :func:`forecast_single` (price and/or risk keys), ``[T, ...]``.
        returns: the asset's log returns ``[T]``.
        calibration: the stored calibration (fallback; its ``quantile_levels``, ``var_levels``).

    Returns:
        The forecasts with calibrated ``quantiles``/``variance``/``var``/``es`` and the raw ones kept as
        ``quantiles_raw``/``variance_raw``.
    """
    from ..evaluation.targets import future_return_target, realized_variance_target

    static = apply_calibration(forecast, calibration)
    out = dict(static)
    y = future_return_target(returns, 1)
    first = next(iter(forecast.values()))
    at = np.flatnonzero(np.isfinite(first.reshape(first.shape[0], -1)).all(axis=1))  # rows forecast
    if "quantiles" in forecast:
        q = np.array(forecast["quantiles"], dtype=np.float64)
        levels = [float(v) for v in calibration.get("quantile_levels", ())] or [0.05, 0.25, 0.5, 0.75, 0.95]
        cal = q.copy()
        for i in range(len(levels) // 2):
            j = len(levels) - 1 - i
            alpha = 2 * levels[i]
            score = np.maximum(q[:, i] - y, y - q[:, j])  # NaN where no forecast or no outcome
            offset = _trailing(score, 1, window, min_rows, lambda e, a=alpha: _conformal_quantile(e, a), at)
            fallback = static["quantiles"][:, i] - q[:, i]  # the stored offset, as a shift of the low side
            shift = np.where(np.isfinite(offset), offset, -fallback)
            cal[:, i] = q[:, i] - shift
            cal[:, j] = q[:, j] + shift
        out["quantiles"] = np.sort(cal, axis=1)
    if "variance" in forecast:
        f = np.asarray(forecast["variance"], dtype=np.float64)
        rv = realized_variance_target(returns, horizon)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(f > 0, rv / f, np.nan)
        scale = _trailing(ratio, horizon, window, min_rows, lambda s: float(np.mean(s)), at)
        out["variance"] = np.where(np.isfinite(scale), f * scale, static["variance"])
    if "var" in forecast:
        var, es = np.asarray(forecast["var"], dtype=np.float64), np.asarray(forecast["es"], dtype=np.float64)
        var_levels = [float(v) for v in calibration.get("var_levels", (0.05, 0.01))]
        new_var, new_es = static["var"].copy(), static["es"].copy()
        for i, lv in enumerate(var_levels):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(var[:, i] > 0, -y / var[:, i], np.nan)
            s = _trailing(ratio, 1, window, min_rows, lambda x, lv=lv: float(np.quantile(x, 1.0 - lv)), at)
            ok = np.isfinite(s)
            new_var[ok, i] = var[ok, i] * s[ok]
            new_es[ok, i] = es[ok, i] * s[ok]
        out["var"], out["es"] = new_var, new_es
    return out
