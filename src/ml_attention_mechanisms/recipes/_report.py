"""The run's outputs for people: plain-language shortfalls, the notes and extra tables of the HTML report,
and the short terminal table (figures: :mod:`._figures`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._import_guard import needs_extra
from ..evaluation.report import ReportFigure

__all__ = ["RunReport", "report_notes", "report_tables", "shortfalls", "terminal_table", "write_run_report"]

logger = logging.getLogger(__name__)

VALIDATION_ONLY = (
    "Everything was chosen on the validation split (early stopping, conformal intervals, variance and VaR "
    "scales, temperature); the test split was read once, for these figures."
)


@dataclass(eq=False)
class RunReport:
    """What ``report.html`` shows besides the metrics: figures, notes and extra tables (title -> rows)."""

    figures: list[ReportFigure]
    notes: list[str]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def report_notes(metrics: Mapping[str, Any]) -> list[str]:
    """The report's notes: how choices were made, the bar, the shortfalls, warnings, what is not covered."""
    bar = metrics["bar"]
    return [
        VALIDATION_ONLY,
        f"The bar: {bar['n_passed']} of {bar['n_criteria']} criteria pass.",
        *(
            ["Where the models fall short: " + " ".join(metrics["shortfalls"])]
            if metrics["shortfalls"]
            else []
        ),
        *metrics["warnings"],
        *metrics["not_covered"],
    ]


def report_tables(metrics: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Extra tables of the report: correlation forecasts, walk-forward folds, ablations (when run)."""
    extra: dict[str, list[dict[str, Any]]] = {}
    correlation = metrics.get("correlation")
    if correlation:
        extra[
            f"Correlation forecasts ({', '.join(correlation['assets'])}, next {correlation['horizon']} bars)"
        ] = [{"forecast": k, **correlation[k]} for k in ("model", "rolling")]
    if metrics.get("walk_forward"):
        extra["Walk-forward folds (price model, retrained per fold)"] = metrics["walk_forward"]["folds"]
    if metrics.get("ablations"):
        extra["Ablations (test split)"] = metrics["ablations"]["rows"] + metrics["ablations"]["not_run"]
    return extra


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
    report: RunReport,
    out: Path,
    *,
    title: str,
) -> Path:
    """``report.html`` and the PNGs in ``out`` (the evaluation layer's report writer); the matplotlib
    figures are closed afterwards."""
    with needs_extra("viz"):
        import matplotlib.pyplot as plt

    from ..evaluation.report import comparison_tables, write_report
    from ._score import strip_arrays

    tables = comparison_tables(assets_scores, strip_arrays(strategies))
    for k, v in report.tables.items():
        tables[k] = [dict(r) for r in v]
    try:
        return write_report(
            metrics, report.figures, out / "report.html", tables=tables, bar=metrics.get("bar"), title=title,
            notes=report.notes,
        )  # fmt: skip
    finally:
        for fig in report.figures:
            plt.close(fig.matplotlib)


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "—" if not isinstance(v, int | float) or v != v else format(v, spec)


def _n(scores: Mapping[str, Any], key: str = "n") -> str:
    value = scores.get(key)
    return str(int(value)) if isinstance(value, int | float) and value == value else "—"


def terminal_table(metrics: Mapping[str, Any]) -> str:
    """A short fixed-width table: per asset the model against its best baseline, the strategies, the bar;
    ``rows``: the bars every figure of that line was computed on (the model's and the baselines' alike)."""
    lines = []
    head = f"{'asset':<6} {'figure':<22} {'model':>11} {'best baseline':>26} {'bar':>5} {'rows':>6}"
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
                f"{best + ' ' + _fmt(base[best]):>26} {mark(asset, 'volatility'):>5} {_n(vol['model']):>6}"
            )
        iv = res.get("interval90") or {}
        if iv:
            m, e = iv.get("model", {}), iv.get("empirical_quantile", {})
            lines.append(
                f"{asset:<6} {'90% cover / width':<22} "
                f"{_fmt(m.get('coverage'), '.3f') + ' / ' + _fmt(m.get('width'), '.4f'):>11} "
                f"{'emp.q ' + _fmt(e.get('coverage'), '.3f') + ' / ' + _fmt(e.get('width'), '.4f'):>26} "
                f"{mark(asset, 'interval90'):>5} {_n(m):>6}"
            )
        for key in ("var95", "var99"):
            v = res.get(key)
            if v:
                lines.append(
                    f"{asset:<6} {key + ' hits / Kup p':<22} "
                    f"{_fmt(v.get('exceedance_rate'), '.3f') + ' / ' + _fmt(v.get('kupiec_p'), '.2f'):>11} "
                    f"{'Chr p ' + _fmt(v.get('christoffersen_p'), '.2f'):>26} {mark(asset, key):>5} {_n(v):>6}"
                )
    for kind, res in (metrics.get("strategies") or {}).items():
        base = {k: v.get("sharpe") for k, v in (res.get("baselines") or {}).items()}
        best = max(base, key=lambda k: base[k] if base[k] is not None else -float("inf")) if base else "—"
        m = res.get("model") or {}
        lines.append(
            f"{'all':<6} {('Sharpe ' + kind)[:22]:<22} {_fmt(m.get('sharpe'), '.2f'):>11} "
            f"{best + ' ' + _fmt(base.get(best), '.2f'):>26} {mark('all', 'strategy_' + kind):>5} "
            f"{_n(m, 'n_bars'):>6}"
        )
    bar = metrics.get("bar") or {}
    lines.append("-" * len(head))
    lines.append(f"the bar: {bar.get('n_passed', 0)} of {bar.get('n_criteria', 0)} criteria pass")
    return "\n".join(lines)
