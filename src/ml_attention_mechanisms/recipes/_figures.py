"""The report's figures of a run (plotly, with a PNG twin each, via the evaluation layer's figure builders),
each drawn only when its inputs exist.

Shapes:
    T: bars; A: assets; Q: quantile levels; L: window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._import_guard import needs_extra
from ..evaluation.report import ReportFigure
from ._calibration import next_return
from ._data import DemoData, asset_column, priced_bars
from ._forecast_run import Forecasts

__all__ = ["build_figures"]

_MODEL_ROWS = ("model", "model_raw")


def _dates(data: DemoData, lo: int, hi: int) -> Any:
    with needs_extra("data"):
        import pandas as pd

    return pd.to_datetime(data.timestamps[lo:hi], unit="s", utc=True)


def _next_returns(data: DemoData, asset: str) -> np.ndarray:
    """The next bar's log return ``[T_test]`` at each test decision time of ``asset`` (NaN where that bar
    has no price)."""
    col = asset_column(data, asset)
    return next_return(data.returns[:, col], priced_bars(data)[:, col])[data.test_start : data.test_end]


def build_figures(
    data: DemoData,
    forecasts: Forecasts,
    strategies: Mapping[str, Mapping[str, Any]],
    assets_scores: Mapping[str, Mapping[str, Any]],
    *,
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    attention: np.ndarray | None,
) -> list[ReportFigure]:
    """The report's figures, each only when its inputs exist: equity curves, a fan chart, calibration and
    PIT, VaR exceedances, portfolio weights, an attention map, training curves."""
    from ..evaluation import report as rf

    figs = _equity_figures(data, strategies)
    figs += _fan_chart(data, forecasts)
    figs += _calibration_figures(assets_scores)
    figs += _var_figure(data, forecasts)
    figs += _weights_figure(data, strategies)
    if attention is not None:
        figs.append(
            rf.attention_heatmap_figure(
                attention, title="Price model: attention of one test window (layer 0, head mean)"
            )
        )
    curves = {f"{m}/{k}": v for m, h in histories.items() for k, v in h.items() if len(v) > 0}
    if curves:
        figs.append(rf.training_curves_figure(curves, title="Training curves (per epoch)"))
    return figs


def _equity_figures(data: DemoData, strategies: Mapping[str, Mapping[str, Any]]) -> list[ReportFigure]:
    from ..evaluation.report import equity_curves_figure

    figs = []
    lo = data.test_start
    for kind, res in strategies.items():
        eq = res.get("equity") or {}
        if eq:
            n = len(next(iter(eq.values())))
            figs.append(
                equity_curves_figure(
                    eq,
                    index=_dates(data, lo, lo + n),
                    title=f"Equity after costs: {kind}",
                    name=f"equity_{kind}",
                )
            )
    return figs


def _fan_chart(data: DemoData, forecasts: Forecasts) -> list[ReportFigure]:
    from ..evaluation.report import fan_chart_figure

    first = next((a for a in forecasts.assets if "quantiles" in forecasts.assets[a]), None)
    if first is None:
        return []
    lo, hi = data.test_start, data.test_end
    y = _next_returns(data, first)
    q = forecasts.assets[first]["quantiles"][lo:hi]
    span = slice(0, min(500, hi - lo))  # the first three weeks: bands stay readable
    return [
        fan_chart_figure(
            y[span], q[span], list(forecasts.quantile_levels), index=_dates(data, lo, hi)[span],
            title=f"{first}: next-bar return, calibrated quantiles", name=f"fan_chart_{first}",
        )
    ]  # fmt: skip


def _calibration_figures(assets_scores: Mapping[str, Mapping[str, Any]]) -> list[ReportFigure]:
    """Quantile calibration and PIT histograms of the models' intervals (calibrated and raw)."""
    from ..evaluation.report import calibration_figure, pit_histogram_figure

    def rows(key: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [
            (f"{a}/{name}", s)
            for a, sc in assets_scores.items()
            for name, s in (sc.get("interval90") or {}).items()
            if isinstance(s, Mapping) and key in s and name in _MODEL_ROWS
        ]

    figs = []
    calib = rows("calibration")
    if calib:
        observed = {label: s["calibration"]["observed"] for label, s in calib}
        levels = calib[0][1]["calibration"]["levels"]
        figs.append(calibration_figure(levels, observed, title="Quantile calibration (test)"))
    pit = {label: s["pit_histogram"] for label, s in rows("pit_histogram")}
    if pit:
        figs.append(pit_histogram_figure(pit, title="PIT histogram (test)"))
    return figs


def _var_figure(data: DemoData, forecasts: Forecasts) -> list[ReportFigure]:
    from ..evaluation.report import var_exceedance_figure

    risk = next((a for a in forecasts.assets if "var" in forecasts.assets[a]), None)
    if risk is None:
        return []
    lo, hi = data.test_start, data.test_end
    y = _next_returns(data, risk)
    v = forecasts.assets[risk]["var"][lo:hi]
    ok = np.isfinite(y) & np.isfinite(v).all(axis=1)
    series = {f"VaR {1 - lv:.0%}": v[ok, i] for i, lv in enumerate(forecasts.var_levels)}
    return [
        var_exceedance_figure(
            y[ok], series, index=_dates(data, lo, hi)[ok], title=f"{risk}: 1-bar VaR and exceedances (test)",
            name=f"var_exceedances_{risk}",
        )
    ]  # fmt: skip


def _weights_figure(data: DemoData, strategies: Mapping[str, Mapping[str, Any]]) -> list[ReportFigure]:
    from ..evaluation.report import weights_figure

    port = strategies.get("portfolio")
    if not (port and port.get("weights") and port["weights"].get("model") is not None):
        return []
    w = np.asarray(port["weights"]["model"], dtype=np.float64)
    keep = np.isfinite(w).all(axis=1)
    if not keep.any():
        return []
    idx = _dates(data, data.test_start, data.test_start + w.shape[0])[keep]
    names = [s.split("/")[0] for s in data.symbols]
    return [weights_figure(w[keep], names=names, index=idx, title="Portfolio model: weights at rebalances")]
