"""The run's outputs for people: plain-language shortfalls, the notes and extra tables of the HTML report,
and the terminal's one-screen summary of the bar (figures: :mod:`._figures`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._import_guard import needs_extra
from ..evaluation.report import ReportFigure
from ._sizing import NULL_STRATEGIES, best_score

__all__ = [
    "RunReport",
    "holds_notes",
    "report_notes",
    "report_tables",
    "shortfalls",
    "sizing_notes",
    "terminal_table",
    "write_run_report",
]

logger = logging.getLogger(__name__)

VALIDATION_ONLY = (
    "Everything was chosen on the validation split (early stopping, each model's training budget, conformal "
    "intervals, variance and VaR scales, temperature, the strategies' target volatility and no-trade band); "
    "the test split was read once, for these figures. Seen: the run's training data contained the asset; unseen: it did not (in the demo, BNB "
    "and ADA, which start after the training split ends), and its variance forecast need only match the better "
    "baseline."
)


@dataclass(eq=False)
class RunReport:
    """What ``report.html`` shows besides the metrics: figures, notes and extra tables (title -> rows)."""

    figures: list[ReportFigure]
    notes: list[str]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def report_notes(metrics: Mapping[str, Any]) -> list[str]:
    """The report's notes: how choices were made, the strategies' sizing, the shortfalls in plain sentences,
    warnings, what is not covered (the summary table of the bar comes first, drawn by the report writer)."""
    return [
        VALIDATION_ONLY,
        *ensemble_notes(metrics.get("training") or {}),
        *sizing_notes(metrics.get("sizing")),
        *(
            ["Where the models fall short: " + " ".join(metrics["shortfalls"])]
            if metrics["shortfalls"]
            else []
        ),
        *metrics["warnings"],
        *metrics["not_covered"],
    ]


def ensemble_notes(training: Mapping[str, Any]) -> list[str]:
    """One sentence per model trained as an ensemble: its members' seeds and best validation losses."""
    return [
        f"{name} is an ensemble of {len(members)} trainings whose forecasts are averaged (seeds "
        + ", ".join(str(m["seed"]) for m in members)
        + "; best validation losses "
        + ", ".join(f"{m['best_val_loss']:.4f}" for m in members)
        + ")."
        for name, t in training.items()
        if (members := t.get("ensemble"))
    ]


def sizing_notes(sizing: Mapping[str, Any] | None) -> list[str]:
    """One sentence on how the strategies were sized and chosen."""
    if not sizing:
        return []
    chosen = sizing.get("chosen", {})
    parts = [f"{name}: target {c['target_vol']:.0%} a year, band {c['band']:g}" for name, c in chosen.items()]
    n = max((len(v) for v in (sizing.get("validation") or {}).values()), default=1)
    return [
        "Strategies are sized by the forecast volatility (position = direction x min(1, target / forecast "
        f"volatility), sized by {sizing.get('variance_source') or 'the variance forecasts'}; the baselines "
        f"'_vol_target' by HAR-RV), each with the best of {n} (target, band) pairs on {sizing.get('chosen_on')}: "
        + "; ".join(parts)
        + ".",
        *holds_notes(sizing),
    ]


_HELD = {  # kind -> (what the strategy is, the model's decisions, the null strategy's)
    "signal": ("The signal strategy", "the signal model's long/flat decisions", "long on every bar"),
    "portfolio": ("The portfolio", "the portfolio model's weights", "equal weights over the listed assets"),
}


def holds_notes(sizing: Mapping[str, Any]) -> list[str]:
    """One sentence per strategy on what it holds (its model's decisions or its null strategy's) and why;
    none for a strategy whose run did not compare them."""
    validation = sizing.get("validation") or {}
    holds = sizing.get("holds") or {}
    margins = sizing.get("margins") or {}
    out = []
    for kind, (null, name) in NULL_STRATEGIES.items():
        if kind not in validation or null not in validation:
            continue
        what, model, other = _HELD[kind]
        held = other if holds.get(kind) == name else model
        out.append(
            f"{what} holds {held}, sized the same way: the higher best validation net Sharpe ({model} "
            f"{best_score(validation[kind]):.2f}, {other} {best_score(validation[null]):.2f}"
            f"{_margin_text(margins.get(kind))})."
        )
    return out


def _margin_text(margin: Mapping[str, float] | None) -> str:
    """``; the difference +0.07, 90% interval -0.92 to +1.05 (block bootstrap): ...`` (empty without one)."""
    if not margin:
        return ""
    figures = [float(margin.get(k, math.nan)) for k in ("difference", "low", "high")]
    if not all(math.isfinite(f) for f in figures):
        return ""
    difference, lo, hi = figures
    verdict = "validation cannot tell them apart" if lo <= 0.0 <= hi else "a difference validation can tell"
    return (
        f"; the difference {difference:+.2f}, {float(margin.get('confidence', 0.9)):.0%} "
        f"interval {lo:+.2f} to {hi:+.2f} (block bootstrap of the validation bars): {verdict}"
    )


def report_tables(metrics: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Extra tables of the report: training budgets, correlation forecasts, walk-forward folds, ablations
    (when run)."""
    extra: dict[str, list[dict[str, Any]]] = {}
    budgets = [
        {
            "model": name,
            **{k: b[k] for k in ("train_windows", "max_epochs", "epochs", "best_val_loss")},
            "val_sharpe": b.get("val_sharpe", "-"),
            "kept": b["kept"],
        }
        for name, t in (metrics.get("training") or {}).items()
        for b in t.get("budgets", [])
    ]
    if budgets:
        title = (
            "Training budgets (each model's best validation loss; the lowest is kept, for the signal and "
            "portfolio models the highest validation net Sharpe of their sized strategy)"
        )
        extra[title] = budgets
    correlation = metrics.get("correlation")
    if correlation:
        extra[
            f"Correlation forecasts ({', '.join(correlation['assets'])}, next {correlation['horizon']} bars)"
        ] = [{"forecast": k, **correlation[k]} for k in ("model", "rolling")]
    if metrics.get("walk_forward"):
        extra["Walk-forward folds (price model, retrained per fold)"] = _marked(
            metrics["walk_forward"]["folds"], {}
        )
    loao = metrics.get("leave_one_asset_out")
    if loao:
        title = (
            f"Leave-one-asset-out folds (price model trained without the asset, {loao['budget']['max_epochs']} "
            "epochs; the asset scored as unseen on the test split; passes if QLIKE <= the better baseline's)"
        )
        extra[title] = _marked(loao["folds"], {})
    sizing = metrics.get("sizing")
    if sizing and sizing.get("validation"):
        extra["Strategy sizing on the validation split (net Sharpe of each target volatility and band)"] = [
            {"strategy": name, **row} for name, rows in sizing["validation"].items() for row in rows
        ]
    if metrics.get("ablations"):
        seen = (metrics.get("data") or {}).get("seen") or {}
        extra["Ablations (test split)"] = (
            _marked(metrics["ablations"]["rows"], seen) + metrics["ablations"]["not_run"]
        )
    return extra


def _marked(rows: list[dict[str, Any]], seen: Mapping[str, bool]) -> list[dict[str, Any]]:
    """Rows with ``seen`` shown as ``seen``/``unseen`` right after ``asset`` (from the row's own flag, else
    from ``seen``; a row of no single asset, e.g. the portfolio, is left blank)."""
    out = []
    for r in rows:
        flag = r.get("seen", seen.get(str(r.get("asset"))))
        mark = "" if flag is None else ("seen" if flag else "unseen")
        head = {k: v for k, v in r.items() if k in ("fold", "ablation", "asset")}
        out.append({**head, "seen": mark, **{k: v for k, v in r.items() if k not in head and k != "seen"}})
    return out


def shortfalls(bar: Mapping[str, Any], assets: Mapping[str, Any] | None = None) -> list[str]:
    """One plain sentence per failed criterion of the bar: the asset (seen or unseen), the figure, what it
    is compared with, the margin and what the criterion needs; for a variance miss, with the metrics'
    ``assets``, the Diebold-Mariano p of the model against the baseline it missed (whether the period's
    data tell the two apart)."""
    from ..evaluation.report import summary_rows

    dm = {
        (str(c.get("asset", "")), c.get("criterion")): _variance_dm(c, assets or {})
        for c in bar.get("criteria", [])
    }
    return [
        f"{r['asset']}{' (' + r['seen'] + ')' if r['seen'] else ''}: {r['criterion']} fails: {r['figure']} vs "
        f"{r['vs']} (margin {r['margin']}; needs {r['needs']}){dm.get((r['asset'], r['key']), '')}."
        for r in summary_rows(bar)
        if r["passed"] is False
    ]


def _variance_dm(criterion: Mapping[str, Any], assets: Mapping[str, Any]) -> str:
    """``"; Diebold-Mariano p 0.35 against garch: ..."`` for a failed variance criterion whose asset has the
    test's row in ``assets``; ``""`` otherwise."""
    test = _variance_test(criterion, assets)
    return "" if test is None else f"; Diebold-Mariano p {test[0]:.2f} against {test[1]}: {test[2]}"


def _variance_test(criterion: Mapping[str, Any], assets: Mapping[str, Any]) -> tuple[float, str, str] | None:
    """``(p, baseline, verdict)`` of the Diebold-Mariano row of a failed variance criterion against the
    baseline it missed, or None (passed, another criterion, or no finite test row)."""
    if criterion.get("criterion") != "volatility" or criterion.get("passed") is not False:
        return None
    rows = (assets.get(str(criterion.get("asset", ""))) or {}).get("dm") or []
    baseline = str(criterion.get("baseline"))
    row: Mapping[str, Any] = next(
        (d for d in rows if d.get("target") == "variance" and d.get("baseline") == baseline), {}
    )
    p = row.get("p_value")
    if not isinstance(p, int | float) or not math.isfinite(p):
        return None
    if p >= 0.05:
        verdict = "the difference is not significant at the 5% level"
    elif row.get("model_better"):
        verdict = "the model's QLIKE is significantly lower, by less than the bar asks"
    else:
        verdict = "the model's QLIKE is significantly higher"
    return float(p), baseline, verdict


def _variance_misses(metrics: Mapping[str, Any]) -> str:
    """The terminal's line on the variance misses' Diebold-Mariano tests; ``""`` without a miss."""
    assets = metrics.get("assets") or {}
    tests = [
        (c.get("asset"), _variance_test(c, assets)) for c in (metrics.get("bar") or {}).get("criteria", [])
    ]
    found = [f"{a} p {t[0]:.2f} against {t[1]} ({t[2]})" for a, t in tests if t is not None]
    return "24h variance misses, Diebold-Mariano: " + "; ".join(found) if found else ""


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

    seen = (metrics.get("data") or {}).get("seen")
    tables = comparison_tables(assets_scores, strip_arrays(strategies), seen=seen)
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


def terminal_table(metrics: Mapping[str, Any]) -> str:
    """The one-screen summary of the bar (per asset, seen or unseen: each criterion's figure, what it is
    compared with, margin, pass/fail) and the strategies' sizing, for the terminal."""
    from ..evaluation.report import summary_rows, summary_text

    bar = metrics.get("bar") or {}
    lines = [
        summary_text(summary_rows(bar), n_passed=bar.get("n_passed", 0), n_criteria=bar.get("n_criteria", 0))
    ]
    misses = _variance_misses(metrics)
    if misses:
        lines.append(misses)
    wild = _wild_third_coverage(metrics.get("assets") or {})
    if wild:
        lines.append(
            "90% interval in the wildest third of hours (by the last 24 bars' realised variance): covers "
            + ", ".join(f"{k} {v}" for k, v in wild.items())
        )
    like = _like_calibration(metrics.get("assets") or {})
    if like:
        lines.append(like)
    chosen = (metrics.get("sizing") or {}).get("chosen") or {}
    if chosen:
        lines.append(
            "sizing (chosen on validation): "
            + ", ".join(f"{k} {c['target_vol']:g}/{c['band']:g}" for k, c in chosen.items())
            + " (target vol a year / no-trade band)"
        )
    lines += holds_notes(metrics.get("sizing") or {})
    return "\n".join(lines)


def _percent_range(values: list[float]) -> str:
    lo, hi = 100 * min(values), 100 * max(values)
    return f"{lo:.1f}%" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}%"


def _like_calibration(assets: Mapping[str, Any]) -> str:
    """One line: the 90% intervals beside the empirical quantiles calibrated as the model's (coverage of
    each, and how much narrower the model's is); empty where no asset has both with finite figures."""
    from ._score import CALIBRATED_EMPIRICAL

    def figures(entry: Any) -> tuple[float, float] | None:
        if not isinstance(entry, Mapping):
            return None
        cover, width = entry.get("coverage"), entry.get("width")
        if not (isinstance(cover, int | float) and isinstance(width, int | float)):
            return None  # null in metrics.json (NaN)
        finite = math.isfinite(cover) and math.isfinite(width) and width > 0
        return (float(cover), float(width)) if finite else None

    pairs = []
    for scores in assets.values():
        table = (scores.get("interval90") or {}) if isinstance(scores, Mapping) else {}
        model, empirical = figures(table.get("model")), figures(table.get(CALIBRATED_EMPIRICAL))
        if model and empirical:
            pairs.append((model, empirical))
    if not pairs:
        return ""
    gains = [1.0 - m[1] / e[1] for m, e in pairs]  # how much narrower the model's interval is
    if min(gains) >= 0:
        narrower = f"{_percent_range(gains)} narrower"
    elif max(gains) < 0:
        narrower = f"{_percent_range([-g for g in gains])} wider"
    else:
        narrower = f"from {-100 * min(gains):.1f}% wider to {100 * max(gains):.1f}% narrower"
    return (
        "90% interval beside the empirical quantiles with the model's rolling conformal calibration: they cover "
        f"{_percent_range([e[0] for _, e in pairs])}, the model's {_percent_range([m[0] for m, _ in pairs])}; "
        f"the model's is {narrower}"
    )


def _wild_third_coverage(assets: Mapping[str, Any]) -> dict[str, str]:
    """forecaster (the model, the empirical quantiles) -> the range over the assets of its 90% interval's
    coverage in the wildest third of the scored rows (``by_volatility``); empty where none has the thirds."""
    names = {"model": "the model's", "empirical_quantile": "the empirical quantiles'"}
    out = {}
    for key, name in names.items():
        wild = [
            float(s["interval90"][key]["by_volatility"]["coverage"][2])
            for s in assets.values()
            if isinstance(s, Mapping) and "by_volatility" in ((s.get("interval90") or {}).get(key) or {})
        ]
        finite = [w for w in wild if w == w]
        if finite:
            out[name] = _percent_range(finite)
    return out
