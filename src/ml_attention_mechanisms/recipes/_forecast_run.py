"""Every model of a run forecast on one prepared panel, and calibrated: shared by ``mlattn demo`` (its own
validation and test splits, calibration fitted on validation) and ``evaluate``/``predict`` (other data,
with the run's stored calibration).

Shapes:
    T: bars; A: assets; Q: quantile levels; Lv: VaR levels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..evaluation.backtest import BacktestConfig
from ._calibration import fit_calibration, rolling_calibration
from ._calibration_file import check_calibration
from ._data import HORIZON, DemoData, asset_column, base_symbol
from ._forecast import asset_ids_for, forecast_portfolio, forecast_single
from ._models import RunModel

__all__ = [
    "ROLLING_WINDOW",
    "Forecasts",
    "calibrate_signal_temperature",
    "forecast_run",
    "rebalance_positions",
]

logger = logging.getLogger(__name__)

QUANTILE_LEVELS_DEFAULT = (0.05, 0.25, 0.5, 0.75, 0.95)
VAR_LEVELS_DEFAULT = (0.05, 0.01)
ROLLING_WINDOW = 720  # 30 days of resolved forecasts: the same span as the features' causal scaling


@dataclass(eq=False)
class Forecasts:
    """A run's calibrated forecasts on the grid (NaN where not forecast).

    Attributes:
        assets: asset -> the price and risk models' calibrated outputs (``return``, ``quantiles``,
            ``variance``, ``var``, ``es``, ``drawdown``, ... ``[T, ...]``; raw ones as ``*_raw``).
        signals: asset -> the signal model's outputs (``signal`` ``[T]``, ``probabilities``, ``logits``,
            ``confidence``), temperature-scaled.
        weights: the portfolio model's target weights ``[T, A]`` at the rebalance bars, or ``None``.
        calibration: the calibration applied (fitted on validation or the run's stored one), as
            ``calibration.json`` stores it.
        quantile_levels: the price model's quantile levels ``[Q]``.
        var_levels: the risk model's tail probabilities ``[Lv]``.
    """

    assets: dict[str, dict[str, np.ndarray]]
    signals: dict[str, dict[str, np.ndarray]]
    weights: np.ndarray | None
    calibration: dict[str, Any]
    quantile_levels: tuple[float, ...]
    var_levels: tuple[float, ...]

    @property
    def decisions(self) -> dict[str, np.ndarray]:
        """asset -> the signal model's decision ``[T]`` in {-1, 0, 1} (NaN = no decision)."""
        return {a: f["signal"] for a, f in self.signals.items()}


def rebalance_positions(data: DemoData, lo: int, hi: int, config: BacktestConfig) -> np.ndarray:
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


def _positions(lo: int, hi: int, calibrate_rows: np.ndarray | None, val_stride: int) -> np.ndarray:
    """Decision times ``[lo, hi)``, keeping every ``val_stride``-th of the ``calibrate_rows``."""
    positions = np.arange(lo, hi, dtype=np.int64)
    if calibrate_rows is not None and val_stride > 1:
        cal = calibrate_rows[positions]
        keep = ~cal | (np.cumsum(cal) % val_stride == 1)
        positions = positions[keep]
    return positions


@dataclass(eq=False)
class _Forecast:
    """Where the single-asset models forecast and which outputs each gave, for :func:`_check`."""

    positions: dict[str, np.ndarray]  # asset -> the rows the models had their inputs for
    outputs: dict[str, set[str]]  # kind -> its output names


def _raw_single_asset(
    models: Mapping[str, RunModel], data: DemoData, assets: Sequence[str], positions: np.ndarray, *,
    window: int, progress: bool,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]], _Forecast]:  # fmt: skip
    """The price, risk and signal models' raw forecasts: ``(asset -> price/risk outputs, asset -> signal,
    where they were made)``."""
    per_asset: dict[str, dict[str, np.ndarray]] = {a: {} for a in assets}
    signal: dict[str, dict[str, np.ndarray]] = {}
    made = _Forecast({}, {})
    for kind in ("price", "risk", "signal"):
        if kind not in models:
            continue
        model, payload = models[kind]
        ids = _ids(payload, data)
        for asset in assets:
            f = forecast_single(
                model, kind, data.prepared, asset_column(data, asset), positions, window=window,
                asset_id=ids[base_symbol(asset)], progress=progress, desc=f"{kind} {asset}",
            )  # fmt: skip
            made.positions[asset] = f.pop("_positions")
            made.outputs[kind] = set(f)
            (signal.setdefault(asset, {}) if kind == "signal" else per_asset[asset]).update(f)
    return per_asset, signal, made


def _check(
    models: Mapping[str, RunModel],
    data: DemoData,
    made: _Forecast,
    per_asset: Mapping[str, Mapping[str, np.ndarray]],
    signal: Mapping[str, Mapping[str, np.ndarray]],
) -> None:
    """Every model's outputs defined and in their domain wherever it had its inputs (else an error naming
    the model, the asset and the first bad time: never rows silently dropped from the scores)."""
    from ..evaluation._forecast_checks import check_forecasts

    for kind, names in made.outputs.items():
        model = str(models[kind].payload.get("model_type", kind))
        for asset, outputs in (signal if kind == "signal" else per_asset).items():
            chosen = {k: v for k, v in outputs.items() if k in names}
            rows = made.positions.get(asset, np.zeros(0, dtype=np.int64))
            check_forecasts(chosen, rows, model=model, asset=asset, timestamps=data.timestamps)


def _levels(models: Mapping[str, RunModel]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(quantile levels, VaR levels)`` of the run's price and risk models (defaults without them)."""
    levels: tuple[float, ...] = QUANTILE_LEVELS_DEFAULT
    var_levels: tuple[float, ...] = VAR_LEVELS_DEFAULT
    if "price" in models:
        levels = tuple(float(q) for q in models["price"].model.config.quantiles)  # type: ignore[union-attr]
    if "risk" in models:
        configured: Any = models["risk"].model.config.var_levels or VAR_LEVELS_DEFAULT  # type: ignore[union-attr]
        var_levels = tuple(float(v) for v in configured)
    return levels, var_levels


def forecast_run(
    models: Mapping[str, RunModel],
    data: DemoData,
    assets: Sequence[str],
    *,
    window: int,
    lo: int,
    hi: int,
    backtest_config: BacktestConfig,
    calibration: Mapping[str, Any] | None,
    calibrate_rows: np.ndarray | None,
    progress: bool,
    val_stride: int = 1,
) -> Forecasts:
    """Every model's forecasts at decision times ``[lo, hi)``, calibrated.

    Args:
        models: kind (``"price"``, ``"risk"``, ``"signal"``, ``"portfolio"``) -> the model and its payload.
        assets: assets the single-asset models forecast (``"BTC"``...).
        calibration: stored calibration to apply (``evaluate``/``predict``); ``None`` = fit it on
            ``calibrate_rows`` (the validation rows) first, with the signal model's temperature.
        calibrate_rows: bool ``[T]``, the validation rows (with ``calibration=None``).
        val_stride: forecast only every ``val_stride``-th of the ``calibrate_rows`` (all later rows).

    Raises:
        ValueError: a model's output NaN, infinite or out of its domain (a negative variance or VaR, crossed
            quantiles) at a row where it had its inputs, raw or calibrated: the model, the asset and the
            first bad time are named.
    """
    positions = _positions(lo, hi, calibrate_rows, val_stride)
    per_asset, signal, made = _raw_single_asset(
        models, data, assets, positions, window=window, progress=progress
    )
    _check(models, data, made, per_asset, signal)  # the models' own outputs
    levels, var_levels = _levels(models)
    temperature = None
    if "signal" in models and signal and calibrate_rows is not None and calibration is None:
        temperature = calibrate_signal_temperature(models["signal"].model, signal, data, calibrate_rows)
    if calibration is None:
        rows = calibrate_rows if calibrate_rows is not None else np.zeros(data.timestamps.size, dtype=bool)
        returns = {a: data.returns[:, asset_column(data, a)] for a in assets}
        calibration = fit_calibration(
            per_asset, returns, rows, quantile_levels=levels, var_levels=var_levels, horizon=HORIZON
        )
        calibration["var_levels"] = list(var_levels)
        if temperature is not None:
            calibration["signal_temperature"] = temperature
        check_calibration(calibration, "the calibration fitted on the validation split")
    applied = {**calibration, "mode": "rolling", "rolling_window": ROLLING_WINDOW}
    calibrated = {
        a: rolling_calibration(f, data.returns[:, asset_column(data, a)], calibration, window=ROLLING_WINDOW)
        if f
        else {}
        for a, f in per_asset.items()
    }
    _check(models, data, made, calibrated, signal)  # and after their calibration
    weights = None
    if "portfolio" in models:
        reb = rebalance_positions(data, lo, hi, backtest_config)
        weights = forecast_portfolio(
            models["portfolio"].model, data.prepared, reb, window=window, progress=progress
        )
    return Forecasts(
        assets=calibrated, signals=signal, weights=weights, calibration=applied,
        quantile_levels=levels, var_levels=var_levels,
    )  # fmt: skip
