"""The run's outputs for people: figures (plotly + PNG via the report writer), plain-language shortfalls,
the HTML report, and the short terminal table.

Shapes:
    T: bars; A: assets; Q: quantile levels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._data import DemoData

__all__ = ["build_figures", "shortfalls", "terminal_table", "write_run_report"]

logger = logging.getLogger(__name__)


def _dates(data: DemoData, lo: int, hi: int) -> Any:
    import pandas as pd

    return pd.to_datetime(data.timestamps[lo:hi], unit="s", utc=True)


def build_figures(
    data: DemoData,
    forecasts: Mapping[str, Any],
    strategies: Mapping[str, Mapping[str, Any]],
    assets_scores: Mapping[str, Mapping[str, Any]],
    *,
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    attention: np.ndarray | None,
) -> list[Any]:
    """The report's figures, each only when its inputs exist."""
    from ..evaluation import report as rf
    from ..evaluation.targets import future_return_target

    figs: list[Any] = []
    lo, hi = data.test_start, data.test_end
    for kind, res in strategies.items():
        eq = res.get("equity") or {}
        if eq:
            n = len(next(iter(eq.values())))
            figs.append(
                rf.equity_curves_figure(
                    eq,
                    index=_dates(data, lo, lo + n),
                    title=f"Equity after costs: {kind}",
                    name=f"equity_{kind}",
                )
            )
    assets = forecasts.get("assets", {})
    first = next((a for a in assets if "quantiles" in assets[a]), None)
    if first is not None:
        from ._data import asset_column

        r = data.returns[:, asset_column(data, first)]
        y = future_return_target(r, 1)[lo:hi]
        q = assets[first]["quantiles"][lo:hi]
        levels = list(forecasts.get("quantile_levels", ()))
        span = slice(0, min(500, hi - lo))  # the first three weeks: bands stay readable
        figs.append(
            rf.fan_chart_figure(
                y[span], q[span], levels, index=_dates(data, lo, hi)[span],
                title=f"{first}: next-bar return, calibrated quantiles", name=f"fan_chart_{first}",
            )
        )  # fmt: skip
    calib = {
        f"{a}/{name}": s["calibration"]["observed"]
        for a, sc in assets_scores.items()
        for name, s in (sc.get("interval90") or {}).items()
        if isinstance(s, Mapping) and "calibration" in s and name in ("model", "model_raw")
    }
    levels_by = [
        s["calibration"]["levels"]
        for sc in assets_scores.values()
        for name, s in (sc.get("interval90") or {}).items()
        if isinstance(s, Mapping) and "calibration" in s and name in ("model", "model_raw")
    ]
    if calib and levels_by:
        figs.append(rf.calibration_figure(levels_by[0], calib, title="Quantile calibration (test)"))
    pit = {
        f"{a}/{name}": s["pit_histogram"]
        for a, sc in assets_scores.items()
        for name, s in (sc.get("interval90") or {}).items()
        if isinstance(s, Mapping) and "pit_histogram" in s and name in ("model", "model_raw")
    }
    if pit:
        figs.append(rf.pit_histogram_figure(pit, title="PIT histogram (test)"))
    risk = next((a for a in assets if "var" in assets[a]), None)
    if risk is not None:
        from ._data import asset_column

        r = data.returns[:, asset_column(data, risk)]
        y = future_return_target(r, 1)[lo:hi]
        v = assets[risk]["var"][lo:hi]
        ok = np.isfinite(y) & np.isfinite(v).all(axis=1)
        var_levels = list(forecasts.get("var_levels", (0.05, 0.01)))
        series = {f"VaR {1 - lv:.0%}": v[ok, i] for i, lv in enumerate(var_levels)}
        figs.append(
            rf.var_exceedance_figure(
                y[ok], series, index=_dates(data, lo, hi)[ok], title=f"{risk}: 1-bar VaR and exceedances (test)",
                name=f"var_exceedances_{risk}",
            )
        )  # fmt: skip
    port = strategies.get("portfolio")
    if port and port.get("weights") and port["weights"].get("model") is not None:
        w = np.asarray(port["weights"]["model"], dtype=np.float64)
        keep = np.isfinite(w).all(axis=1)
        if keep.any():
            idx = _dates(data, lo, lo + w.shape[0])[keep]
            names = [s.split("/")[0] for s in data.symbols]
            figs.append(
                rf.weights_figure(
                    w[keep], names=names, index=idx, title="Portfolio model: weights at rebalances"
                )
            )
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


def shortfalls(bar: Mapping[str, Any]) -> list[str]:
    """One plain sentence per failed criterion of the bar."""
    out = []
    for c in bar.get("criteria", []):
        if c.get("passed"):
            continue
        out.append(
            f"{c.get('asset')}: {c.get('criterion')} FAILS ({c.get('rule')}; value {_short(c.get('value'))}, "
            f"threshold {_short(c.get('threshold'))})."
        )
    return out


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)


def write_run_report(
    metrics: Mapping[str, Any],
    assets_scores: Mapping[str, Any],
    strategies: Mapping[str, Any],
    figures: Sequence[Any],
    out: Path,
    *,
    title: str,
    notes: Sequence[str],
    extra_tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Path:
    """``report.html`` and the PNGs in ``out`` (the evaluation layer's report writer)."""
    from ..evaluation.report import comparison_tables, write_report
    from ._score import strip_arrays

    tables = comparison_tables(assets_scores, strip_arrays(strategies))
    for k, v in (extra_tables or {}).items():
        tables[k] = [dict(r) for r in v]
    return write_report(
        metrics, figures, out / "report.html", tables=tables, bar=metrics.get("bar"), title=title, notes=notes
    )


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "—" if not isinstance(v, int | float) or v != v else format(v, spec)


def terminal_table(metrics: Mapping[str, Any]) -> str:
    """A short fixed-width table: per asset the model against its best baseline, the strategies, the bar."""
    lines = []
    head = f"{'asset':<6} {'figure':<22} {'model':>11} {'best baseline':>26} {'bar':>5}"
    lines += [head, "-" * len(head)]
    verdicts = {(c["asset"], c["criterion"]): c["passed"] for c in metrics.get("bar", {}).get("criteria", [])}

    def mark(asset: str, crit: str) -> str:
        v = verdicts.get((asset, crit))
        return "" if v is None else ("PASS" if v else "FAIL")

    for asset, res in (metrics.get("assets") or {}).items():
        vol = res.get("volatility") or {}
        if vol:
            base = {k: v.get("qlike") for k, v in vol.items() if k != "model"}
            best = min(base, key=lambda k: base[k] if base[k] is not None else float("inf"))
            lines.append(
                f"{asset:<6} {'QLIKE 24h variance':<22} {_fmt(vol['model'].get('qlike')):>11} "
                f"{best + ' ' + _fmt(base[best]):>26} {mark(asset, 'volatility'):>5}"
            )
        iv = res.get("interval90") or {}
        if iv:
            m, e = iv.get("model", {}), iv.get("empirical_quantile", {})
            lines.append(
                f"{asset:<6} {'90% cover / width':<22} "
                f"{_fmt(m.get('coverage'), '.3f') + ' / ' + _fmt(m.get('width'), '.4f'):>11} "
                f"{'emp.q ' + _fmt(e.get('coverage'), '.3f') + ' / ' + _fmt(e.get('width'), '.4f'):>26} "
                f"{mark(asset, 'interval90'):>5}"
            )
        for key in ("var95", "var99"):
            v = res.get(key)
            if v:
                lines.append(
                    f"{asset:<6} {key + ' hits / Kup p':<22} "
                    f"{_fmt(v.get('exceedance_rate'), '.3f') + ' / ' + _fmt(v.get('kupiec_p'), '.2f'):>11} "
                    f"{'Chr p ' + _fmt(v.get('christoffersen_p'), '.2f'):>26} {mark(asset, key):>5}"
                )
    for kind, res in (metrics.get("strategies") or {}).items():
        base = {k: v.get("sharpe") for k, v in (res.get("baselines") or {}).items()}
        best = max(base, key=lambda k: base[k] if base[k] is not None else -float("inf")) if base else "—"
        m = res.get("model") or {}
        lines.append(
            f"{'all':<6} {('Sharpe ' + kind)[:22]:<22} {_fmt(m.get('sharpe'), '.2f'):>11} "
            f"{best + ' ' + _fmt(base.get(best), '.2f'):>26} {mark('all', 'strategy_' + kind):>5}"
        )
    bar = metrics.get("bar") or {}
    lines.append("-" * len(head))
    lines.append(f"the bar: {bar.get('n_passed', 0)} of {bar.get('n_criteria', 0)} criteria pass")
    return "\n".join(lines)
