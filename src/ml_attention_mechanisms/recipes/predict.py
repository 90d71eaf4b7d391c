"""``mlattn predict``: a run's forecasts, signals, positions, risk figures and portfolio weights for every
bar and asset of other data, as one table (CSV or Parquet). Calibrated as ``evaluate`` calibrates: the
run's stored calibration, continued causally on the forecasts whose outcomes are known
(:func:`._calibration.rolling_calibration`); the models also forecast the :data:`._forecast_run.WARM_UP`
bars before the first predicted bar where the data have them, so a bar's figures do not depend on where
``--start`` lies. Nothing is scored, so the data need only the forecasts' own history (with less, the first
predicted bars fall back on the stored calibration until 168 outcomes are known). What the run's strategies
hold follows its validation choice (:attr:`._sizing.Sizing.holds`): ``direction`` is the signal strategy's
long/flat direction (the signal model's decision, or long on every bar where the run chose that; the model's
own is in ``signal`` and ``p_*``) and ``position`` that direction sized by the run's stored volatility
targeting (starting flat at the first predicted bar); ``portfolio_weight`` is the weight the run's portfolio
holds before its sizing (the portfolio model's, or equal weights over the listed assets),
``portfolio_model_weight`` the portfolio model's own.

Shapes:
    T: bars; A: assets; Q: quantile levels; Lv: VaR levels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ..evaluation.backtest import BacktestConfig, signals_to_positions, vol_target_positions
from ..utils._paths import refuse_output_over_input
from ._data import base_symbol
from ._files import reading_warnings
from ._forecast import forecast_portfolio
from ._forecast_run import WARM_UP, Forecasts, forecast_run
from ._run_inputs import input_files, load_run_inputs
from ._sizing import Sizing, held_portfolio, held_signal

__all__ = ["predict_run", "prediction_table"]


def prediction_table(
    run: str | Path,
    data_files: Sequence[str | Path],
    *,
    start: str | None = None,
    end: str | None = None,
    progress: bool = False,
    missing_hours: str = "auto",
    timezone: str | None = None,
) -> Any:
    """Forecasts, signals, positions, risk figures and portfolio weights of a run's models for every bar
    and asset of the data, as one long ``pandas.DataFrame`` (``timestamp``, ``symbol``, ``close``, one
    column per figure), calibrated as the module docstring says. ``missing_hours`` is how the files' hours
    without trades are read (``load_ohlcv``'s: ``"auto"``, ``"no-trades"`` or ``"absent"``); ``timezone``
    the zone of their times written without one (``load_ohlcv``'s; default UTC). How the files were read
    (shorter bars aggregated, the data check's warnings, bars read as bars without trades) is in
    ``table.attrs["warnings"]``, a sentence each.

    Raises:
        FileNotFoundError: a missing run directory or data file.
        ValueError: a run without checkpoints, fewer bars than the window, start after end.
    """
    with needs_extra("data"):
        import pandas as pd

    inputs = load_run_inputs(
        run, data_files, start=start, end=end, predict=True, missing_hours=missing_hours, timezone=timezone
    )
    data, window = inputs.data, inputs.window
    backtest = BacktestConfig()
    assets = [base_symbol(s) for s in data.symbols]
    lo, hi = data.test_start, int(data.timestamps.size)
    fc = forecast_run(
        inputs.models, data, assets, window=window, lo=max(window - 1, lo - WARM_UP), hi=hi,
        backtest_config=backtest, calibration=inputs.calibration, calibrate_rows=None, progress=progress,
        first_scored=lo,
    )  # fmt: skip
    times = pd.to_datetime(data.timestamps[lo:hi], unit="s", utc=True)
    stored = inputs.calibration.get("sizing")
    sizing = Sizing.from_dict(stored) if stored else None
    holds = sizing.holds if sizing is not None else {}  # what the run's strategies hold, read once
    weights = None
    if "portfolio" in inputs.models:
        weights = forecast_portfolio(
            inputs.models["portfolio"].model, data.prepared, np.arange(lo, hi), window=window
        )
        held = weights if sizing is None else held_portfolio(weights, data, sizing, holds["portfolio"])[0]
    frames = []
    for a, asset in enumerate(assets):
        cols: dict[str, Any] = {
            "timestamp": times,
            "symbol": data.symbols[a],
            "close": data.prepared.close[a, lo:hi],
        }
        cols.update(_asset_columns(fc, asset, slice(lo, hi), backtest, sizing, holds.get("signal", "model")))
        if weights is not None:
            cols["portfolio_weight"] = held[lo:hi, a]
            cols["portfolio_model_weight"] = weights[lo:hi, a]
        frames.append(pd.DataFrame(cols))
    table = pd.concat(frames, ignore_index=True)
    table.attrs["warnings"] = list(reading_warnings(data))
    return table


def _asset_columns(
    fc: Forecasts,
    asset: str,
    rows: slice,
    backtest: BacktestConfig,
    sizing: Sizing | None = None,
    holds: str = "model",
) -> dict[str, np.ndarray]:
    """One asset's columns: return forecast and quantiles, 24-bar variance, VaR/ES, drawdown, signal,
    class probabilities, the direction the run's signal strategy holds (``holds``: the run's
    ``Sizing.holds["signal"]``) and the position the backtest would hold (sized by the run's stored
    ``sizing`` and the 24-bar variance forecast when both are there)."""
    cols: dict[str, np.ndarray] = {}
    f = fc.assets.get(asset, {})
    if "return" in f:
        cols["return_forecast"] = f["return"][rows]
        for i, q in enumerate(fc.quantile_levels):
            cols[f"return_q{q:g}"] = f["quantiles"][rows, i]
        cols["variance_24h"] = f["variance"][rows]
    if "var" in f:
        for i, lv in enumerate(fc.var_levels):
            cols[f"var{round((1 - lv) * 100)}"] = f["var"][rows, i]
            cols[f"es{round((1 - lv) * 100)}"] = f["es"][rows, i]
        cols["drawdown_24h"] = f["drawdown"][rows]
    s = fc.signals.get(asset)
    if s is not None:
        sig = s["signal"][rows]
        cols["signal"] = sig
        for i, name in enumerate(("sell", "hold", "buy")):
            cols[f"p_{name}"] = s["probabilities"][rows, i]
        held, cfg = (
            (sig, None)
            if sizing is None or "signal" not in sizing.chosen
            else held_signal(sig, sizing, holds)
        )
        direction = signals_to_positions(np.nan_to_num(held, nan=0.0).astype(np.int64), backtest)
        cols["direction"] = direction
        cols["position"] = direction
        if cfg is not None and "variance_24h" in cols:
            cols["position"] = vol_target_positions(direction, cols["variance_24h"], cfg)
    return cols


def predict_run(
    run: str | Path,
    data_files: Sequence[str | Path],
    out: str | Path,
    *,
    start: str | None = None,
    end: str | None = None,
    progress: bool = False,
    missing_hours: str = "auto",
    timezone: str | None = None,
    on_warning: Callable[[str], object] | None = None,
) -> Path:
    """:func:`prediction_table` written as CSV or Parquet (by the suffix of ``out``).

    ``on_warning`` is called with each of the table's warnings (``mlattn predict`` prints them); None issues
    each as a :class:`UserWarning`.

    Raises:
        ValueError: an output suffix other than ``.csv``/``.parquet``, an output that is one of the inputs
            (a data file, a file of the run), plus :func:`prediction_table`'s errors.
    """
    target = Path(out)
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {target}: expected a .csv or .parquet file")
    refuse_output_over_input("--out", target, input_files(run, data_files))
    table = prediction_table(
        run,
        data_files,
        start=start,
        end=end,
        progress=progress,
        missing_hours=missing_hours,
        timezone=timezone,
    )
    for sentence in table.attrs.get("warnings", []):
        if on_warning is None:
            warnings.warn(sentence, UserWarning, stacklevel=2)
        else:
            on_warning(sentence)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".csv":
        table.to_csv(target, index=False)
    else:
        with needs_extra("data"):
            import pyarrow  # noqa: F401 - to_parquet's engine
        table.to_parquet(target, index=False)
    return target
