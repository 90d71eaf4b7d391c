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
from ._data import HORIZON, DemoData, asset_column, base_symbol, priced_bars
from ._forecast import asset_ids_for, forecast_portfolio, forecast_single
from ._models import RunModel

__all__ = [
    "ROLLING_WINDOW",
    "WARM_UP",
    "Forecasts",
    "calibrate_signal_temperature",
    "forecast_run",
    "rebalance_positions",
]

logger = logging.getLogger(__name__)

QUANTILE_LEVELS_DEFAULT = (0.05, 0.25, 0.5, 0.75, 0.95)
VAR_LEVELS_DEFAULT = (0.05, 0.01)
ROLLING_WINDOW = 720  # 30 days of resolved forecasts: the same span as the features' causal scaling
WARM_UP = ROLLING_WINDOW + HORIZON  # the bars whose resolved forecasts the rolling calibration reads first


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
    model: nn.Module, forecasts: Mapping[str, dict[str, np.ndarray]], data: DemoData, rows: np.ndarray,
    fit_assets: Sequence[str] | None = None,
) -> float:  # fmt: skip
    """Temperature scaling of the signal model on the validation rows (pooled over ``fit_assets``, default
    all); returns the fitted temperature (stored in the model's buffer) and rescales the stored
    probabilities of every asset in place."""
    logits, labels = [], []
    target = data.prepared.targets["signal"]  # (A, T)
    valid = data.prepared.target_valid
    for asset, f in forecasts.items():
        if fit_assets is not None and asset not in fit_assets:
            continue
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


def _positions(lo: int, hi: int, first_scored: int, stride: int) -> np.ndarray:
    """Decision times in ``[lo, hi)``: every bar from ``first_scored - WARM_UP`` on (the scored bars and
    the rolling calibration's warm-up before them, so that a scored bar's calibration reads every resolved
    forecast of its window, whichever of ``demo``, ``evaluate`` and ``predict`` makes it); before that (the
    rest of the validation split) the bars of :func:`_stride_grid`."""
    dense = max(lo, first_scored - WARM_UP)
    before = np.arange(first_scored - stride, lo - 1, -stride, dtype=np.int64)[::-1]
    return np.r_[before[(before >= lo) & (before < dense)], np.arange(dense, hi, dtype=np.int64)]


def _stride_grid(size: int, first_scored: int, stride: int) -> np.ndarray:
    """Bool ``[size]``: the bars before ``first_scored`` on its ``stride`` grid (every ``stride``-th, counted
    back from it): the rows a strided kind's calibration is fitted on, evenly spread over the validation
    split (the denser warm-up of :func:`_positions` is not weighted more)."""
    rows = np.arange(size)
    return (rows < first_scored) & ((first_scored - rows) % stride == 0)


STRIDED = ("risk",)  # the kinds forecast at ``val_stride`` before the scored rows; price and signal size
# the strategies, whose sizing is chosen on every validation bar


@dataclass(eq=False)
class _Forecast:
    """Where the single-asset models forecast and which outputs each gave, for :func:`_check`."""

    positions: dict[str, dict[str, np.ndarray]]  # kind -> asset -> the rows the model had its inputs for
    outputs: dict[str, set[str]]  # kind -> its output names

    def add(self, other: _Forecast) -> None:
        for kind, rows in other.positions.items():
            for asset, where in rows.items():
                mine = self.positions.setdefault(kind, {}).get(asset)
                self.positions[kind][asset] = where if mine is None else np.union1d(mine, where)
        for kind, names in other.outputs.items():
            self.outputs.setdefault(kind, set()).update(names)


def _raw_single_asset(
    models: Mapping[str, RunModel], data: DemoData, assets: Sequence[str], positions: Mapping[str, np.ndarray], *,
    window: int, progress: bool, starts: Mapping[str, int] | None = None,
) -> tuple[dict[str, dict[str, dict[str, np.ndarray]]], _Forecast]:  # fmt: skip
    """The single-asset models' raw forecasts at each kind's ``positions`` (an asset of ``starts`` only from
    its start on): ``(kind -> asset -> outputs, where they were made)``."""
    out: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    made = _Forecast({}, {})
    for kind, where in positions.items():
        if kind not in models:
            continue
        model, payload = models[kind]
        ids = _ids(payload, data)
        for asset in assets:
            mine = where[where >= (starts or {}).get(asset, 0)]
            f = forecast_single(
                model, kind, data.prepared, asset_column(data, asset), mine, window=window,
                asset_id=ids[base_symbol(asset)], progress=progress, desc=f"{kind} {asset}",
            )  # fmt: skip
            made.positions.setdefault(kind, {})[asset] = f.pop("_positions")
            made.outputs[kind] = set(f)
            out.setdefault(kind, {})[asset] = f
    return out, made


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
            rows = made.positions.get(kind, {}).get(asset, np.zeros(0, dtype=np.int64))
            check_forecasts(chosen, rows, model=model, asset=asset, timestamps=data.timestamps)


def _signals(
    models: Mapping[str, RunModel], data: DemoData, assets: Sequence[str], positions: np.ndarray,
    first_scored: int, rows: np.ndarray | None, fit_assets: Sequence[str] | None, *, window: int, progress: bool,
    starts: Mapping[str, int] | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], float | None, _Forecast]:  # fmt: skip
    """The signal model's forecasts, its fitted temperature and where they were made. With validation
    ``rows`` the temperature is calibrated on the forecasts before ``first_scored`` first, and the later ones
    are made by the calibrated model, exactly as the run's checkpoint (which stores the temperature) makes
    them in ``evaluate``."""
    if "signal" not in models:
        return {}, None, _Forecast({}, {})
    early, late = positions[positions < first_scored], positions[positions >= first_scored]
    kw: dict[str, Any] = {"window": window, "progress": progress, "starts": starts}
    if early.size == 0:
        later, made = _raw_single_asset(models, data, assets, {"signal": late}, **kw)
        return later.get("signal", {}), None, made
    raw, made = _raw_single_asset(models, data, assets, {"signal": early}, **kw)
    out = raw["signal"]
    temperature = None
    if rows is not None:
        temperature = calibrate_signal_temperature(models["signal"].model, out, data, rows, fit_assets)
    later, made_late = _raw_single_asset(models, data, assets, {"signal": late}, **kw)  # the calibrated model
    made.add(made_late)
    for asset, f in later.get("signal", {}).items():
        mine = out.setdefault(asset, {})
        for key, value in f.items():
            if key in mine:
                mine[key][first_scored:] = value[first_scored:]
            else:  # an asset listed after the scored period starts: no forecast before it
                mine[key] = value
    return out, temperature, made


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


def _raw_forecasts(
    models: Mapping[str, RunModel], data: DemoData, assets: Sequence[str], *, lo: int, hi: int,
    first_scored: int, val_stride: int, fit_rows: np.ndarray | None, calibrate_assets: Sequence[str] | None,
    window: int, progress: bool, scored_from: Mapping[str, int] | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, dict[str, np.ndarray]], float | None, _Forecast]:  # fmt: skip
    """The single-asset models' raw forecasts (``asset -> price/risk outputs``, ``asset -> signal``), the
    signal model's fitted temperature (with ``fit_rows``) and where they were made."""
    start = first_scored
    # an asset scored from a later bar (listed late) forecasts around its own first scored bar as it would
    # alone: the same warm-up before it, at the same stride
    own = {a: max(start, int((scored_from or {}).get(a, start))) for a in assets}
    # a coin the models never saw needs its own forecasts only over the rolling calibration's warm-up, as in
    # ``evaluate`` (the pooled calibration and the strategies' sizing read the seen assets' validation)
    unseen = [a for a in assets if calibrate_assets is not None and a not in calibrate_assets]
    raw: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    made = _Forecast({}, {})
    for first in sorted(set(own.values())):
        group = [a for a in assets if own[a] == first]
        positions = {
            k: _positions(lo, hi, first, val_stride if k in STRIDED else 1) for k in ("price", "risk")
        }
        starts = {a: max(lo, first - WARM_UP) for a in group if a in unseen or first > start}
        part, where = _raw_single_asset(models, data, group, positions, window=window, progress=progress,
                                        starts=starts)  # fmt: skip
        for kind, by_asset in part.items():
            raw.setdefault(kind, {}).update(by_asset)
        made.add(where)
    starts = {a: max(lo, start - WARM_UP) for a in unseen}
    per_asset = {
        a: {k: v for kind in ("price", "risk") for k, v in raw.get(kind, {}).get(a, {}).items()}
        for a in assets
    }
    signal, temperature, made_signal = _signals(models, data, assets, _positions(lo, hi, start, 1), start, fit_rows,
                                                calibrate_assets, window=window, progress=progress,
                                                starts=starts)  # fmt: skip
    made.add(made_signal)
    return per_asset, signal, temperature, made


STRIDED_OUTPUTS = ("var", "es", "drawdown")  # the outputs of the kinds of STRIDED (the risk model)


def _on_grid(outputs: Mapping[str, np.ndarray], grid: np.ndarray) -> dict[str, np.ndarray]:
    """``outputs`` with the strided kinds' forecasts off the validation ``grid`` set to NaN (for the fit)."""
    out = dict(outputs)
    for key in STRIDED_OUTPUTS:
        if key in out:
            out[key] = out[key].copy()
            out[key][~grid] = np.nan
    return out


def _fit(
    per_asset: Mapping[str, Mapping[str, np.ndarray]], data: DemoData, rows: np.ndarray | None,
    levels: tuple[float, ...], var_levels: tuple[float, ...], temperature: float | None, priced_all: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """The calibration fitted on the validation ``rows`` of the assets of ``per_asset``, checked
    (``priced_all``: :func:`._data.priced_bars` of ``data``)."""
    rows = rows if rows is not None else np.zeros(data.timestamps.size, dtype=bool)
    returns = {a: data.returns[:, asset_column(data, a)] for a in per_asset}
    priced = {a: priced_all[:, asset_column(data, a)] for a in per_asset}
    calibration = fit_calibration(
        per_asset, returns, rows, quantile_levels=levels, var_levels=var_levels, horizon=HORIZON,
        observed=priced,
    )  # fmt: skip
    calibration["var_levels"] = list(var_levels)
    if temperature is not None:
        calibration["signal_temperature"] = temperature
    return check_calibration(calibration, "the calibration fitted on the validation split")


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
    first_scored: int | None = None,
    calibrate_assets: Sequence[str] | None = None,
    scored_from: Mapping[str, int] | None = None,
) -> Forecasts:
    """Every model's forecasts at decision times ``[lo, hi)``, calibrated.

    The bars in ``[lo, first_scored)`` are the calibration's: the validation split (the demo) or the warm-up
    of the causal rolling calibration before the scored bars (``evaluate``), so that both see the same
    resolved forecasts at the first scored bar.

    Args:
        models: kind (``"price"``, ``"risk"``, ``"signal"``, ``"portfolio"``) -> the model and its payload.
        assets: assets the single-asset models forecast (``"BTC"``...).
        calibration: stored calibration to apply (``evaluate``/``predict``); ``None`` = fit it on
            ``calibrate_rows`` (the validation rows) first, with the signal model's temperature.
        calibrate_rows: bool ``[T]``, the validation rows (with ``calibration=None``).
        val_stride: forecast the risk model only every ``val_stride``-th bar before ``first_scored`` but for
            the :data:`WARM_UP` bars just before it, which the rolling calibration of the first scored bars
            reads (the price and signal models size the strategies, whose sizing reads every validation
            bar); its calibration is fitted on the strided bars only.
        first_scored: the first scored bar. Default: ``lo``.
        calibrate_assets: the assets whose validation forecasts the fitted calibration pools (the run's
            training assets: a coin the models never saw is calibrated as ``evaluate`` would, by its own
            resolved forecasts). Default: all of ``assets``.
        scored_from: asset -> its own first scored bar, where later than ``first_scored`` (an asset listed
            late: :func:`._data.scored_span`); its risk forecasts before that bar are strided from it, as
            they would be with it alone. Default: none.

    Raises:
        ValueError: a model's output NaN, infinite or out of its domain (a negative variance or VaR, crossed
            quantiles) at a row where it had its inputs, raw or calibrated: the model, the asset and the
            first bad time are named.
    """
    start = lo if first_scored is None else first_scored
    fit_rows = calibrate_rows if calibration is None else None
    per_asset, signal, temperature, made = _raw_forecasts(
        models, data, assets, lo=lo, hi=hi, first_scored=start, val_stride=val_stride, fit_rows=fit_rows,
        calibrate_assets=calibrate_assets, window=window, progress=progress, scored_from=scored_from,
    )  # fmt: skip
    _check(models, data, made, per_asset, signal)  # the models' own outputs
    levels, var_levels = _levels(models)
    priced, col = priced_bars(data), {a: asset_column(data, a) for a in per_asset}
    if calibration is None:
        fit_on = [a for a in assets if calibrate_assets is None or a in calibrate_assets] or list(assets)
        grid = _stride_grid(data.timestamps.size, start, val_stride)  # the fit reads the strided bars only
        calibration = _fit({a: _on_grid(per_asset[a], grid) for a in fit_on}, data, calibrate_rows, levels,
                           var_levels, temperature, priced)  # fmt: skip
    applied = {**calibration, "mode": "rolling", "rolling_window": ROLLING_WINDOW}
    calibrated = {
        a: rolling_calibration(
            f, data.returns[:, col[a]], calibration, window=ROLLING_WINDOW, observed=priced[:, col[a]]
        )
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
