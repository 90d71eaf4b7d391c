"""Forecasting and scoring a set of trained models on one prepared panel: shared by ``mlattn demo``
(the run's own test split) and ``mlattn evaluate`` (other data, with the run's stored calibration).

Shapes:
    T: bars; A: assets; Q: quantile levels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ._data import DemoData, asset_column, base_symbol
from ._forecasts import (
    asset_ids_for,
    fit_calibration,
    forecast_portfolio,
    forecast_single,
    rolling_calibration,
)

__all__ = ["ModelForecasts", "calibrate_signal_temperature", "forecast_all", "rebalance_positions"]

logger = logging.getLogger(__name__)

QUANTILE_LEVELS_DEFAULT = (0.05, 0.25, 0.5, 0.75, 0.95)
ROLLING_WINDOW = 720  # 30 days of resolved forecasts: the same span as the features' causal scaling


class ModelForecasts(dict[str, Any]):
    """``{"assets": {asset: {key: [T, ...]}}, "signals": {asset: [T]}, "signal_extra": {...},
    "weights": [T, A] | None, "calibration": {...}}``."""


def rebalance_positions(data: DemoData, lo: int, hi: int, config: Any) -> np.ndarray:
    """Grid positions in ``[lo, hi)`` that are rebalance bars of the backtest config (daily 00:00 UTC)."""
    from ..evaluation.backtest import rebalance_mask

    mask = np.asarray(rebalance_mask(data.timestamps, config), dtype=bool)
    pos = np.flatnonzero(mask)
    return pos[(pos >= lo) & (pos < hi)]


def _ids(model_payload: Mapping[str, Any], data: DemoData) -> dict[str, int]:
    ids = asset_ids_for(data.symbols, model_payload.get("symbols") or {})
    return {base_symbol(s): i for s, i in zip(data.symbols, ids)}


def calibrate_signal_temperature(
    model: nn.Module, forecasts: Mapping[str, dict[str, np.ndarray]], data: DemoData, rows: np.ndarray
) -> float:
    """Temperature scaling of the signal model on the validation rows (pooled over assets); returns the
    fitted temperature (stored in the model's buffer) and rescales the stored probabilities in place."""
    logits, labels = [], []
    target = data.prepared.targets["signal"]  # (A, T)
    valid = data.prepared.target_valid
    for asset, f in forecasts.items():
        col = asset_column(data, asset)
        ok = rows & np.isfinite(f["logits"]).all(axis=1) & valid[col]
        logits.append(f["logits"][ok])
        labels.append(target[col, ok])
    z = np.concatenate(logits) if logits else np.zeros((0, 3))
    if z.shape[0] < 20:
        return float(getattr(model, "temperature", torch.ones(())).item())
    old = float(model.temperature.item())  # type: ignore[union-attr,operator]
    new = float(
        model.calibrate_temperature(torch.from_numpy(z), torch.from_numpy(np.concatenate(labels)))  # type: ignore[operator]
    )
    factor = new / old
    for f in forecasts.values():
        scaled = f["logits"] / factor
        ok = np.isfinite(scaled).all(axis=1)
        e = np.full_like(scaled, np.nan)
        e[ok] = np.exp(scaled[ok] - scaled[ok].max(axis=1, keepdims=True))
        f["logits"] = scaled
        f["probabilities"] = e / e.sum(axis=1, keepdims=True)
        f["confidence"] = f["probabilities"].max(axis=1)
    return new


def forecast_all(
    models: Mapping[str, Any],
    data: DemoData,
    assets: Sequence[str],
    *,
    window: int,
    lo: int,
    hi: int,
    backtest_config: Any,
    calibration: Mapping[str, Any] | None,
    calibrate_rows: np.ndarray | None,
    progress: bool,
    val_stride: int = 1,
) -> ModelForecasts:
    """Every model's forecasts at decision times ``[lo, hi)``, calibrated.

    Args:
        models: kind (``"price"``, ``"risk"``, ``"signal"``, ``"portfolio"``) -> ``(model, payload)``.
        assets: assets the single-asset models forecast (``"BTC"``...).
        calibration: stored calibration to apply (``evaluate``/``predict``); ``None`` = fit it on
            ``calibrate_rows`` (the validation rows) first.
        calibrate_rows: bool ``[T]``, the validation rows (with ``calibration=None``).
        val_stride: forecast only every ``val_stride``-th of the ``calibrate_rows`` (all later rows).

    Returns:
        :class:`ModelForecasts`.
    """
    positions = np.arange(lo, hi, dtype=np.int64)
    if calibrate_rows is not None and val_stride > 1:
        cal = calibrate_rows[positions]
        keep = ~cal | (np.cumsum(cal) % val_stride == 1)
        positions = positions[keep]
    per_asset: dict[str, dict[str, np.ndarray]] = {a: {} for a in assets}
    signal: dict[str, dict[str, np.ndarray]] = {}
    levels: tuple[float, ...] = QUANTILE_LEVELS_DEFAULT
    var_levels: tuple[float, ...] = (0.05, 0.01)
    for kind in ("price", "risk", "signal"):
        if kind not in models:
            continue
        model, payload = models[kind]
        if kind == "price":
            levels = tuple(float(q) for q in model.config.quantiles)
        if kind == "risk":
            var_levels = tuple(float(v) for v in (model.config.var_levels or (0.05, 0.01)))
        ids = _ids(payload, data)
        for asset in assets:
            col = asset_column(data, asset)
            f = forecast_single(
                model,
                data.prepared,
                col,
                positions,
                window=window,
                asset_id=ids[base_symbol(asset)],
                progress=progress,
                desc=f"{kind} {asset}",
            )
            f.pop("_positions", None)
            (signal.setdefault(asset, {}) if kind == "signal" else per_asset[asset]).update(f)
    result = ModelForecasts()
    temperature = None
    if "signal" in models and signal and calibrate_rows is not None and calibration is None:
        temperature = calibrate_signal_temperature(models["signal"][0], signal, data, calibrate_rows)
    if calibration is None:
        rows = calibrate_rows if calibrate_rows is not None else np.zeros(data.timestamps.size, dtype=bool)
        calibration = fit_calibration(
            per_asset,
            {a: data.returns[:, asset_column(data, a)] for a in assets},
            rows,
            quantile_levels=levels,
            var_levels=var_levels,
            horizon=24,
        )
        calibration["var_levels"] = list(var_levels)
        if temperature is not None:
            calibration["signal_temperature"] = temperature
    result["calibration"] = dict(calibration)
    result["calibration"]["mode"] = "rolling"
    result["calibration"]["rolling_window"] = ROLLING_WINDOW
    result["assets"] = {
        a: rolling_calibration(f, data.returns[:, asset_column(data, a)], calibration, window=ROLLING_WINDOW)
        if f
        else {}
        for a, f in per_asset.items()
    }
    result["signals"] = {a: f["signal"] for a, f in signal.items()}
    result["signal_extra"] = signal
    result["quantile_levels"] = levels
    result["var_levels"] = var_levels
    result["weights"] = None
    if "portfolio" in models:
        reb = rebalance_positions(data, lo, hi, backtest_config)
        result["weights"] = forecast_portfolio(
            models["portfolio"][0], data.prepared, reb, window=window, progress=progress
        )
    return result
