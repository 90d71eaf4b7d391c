"""What a run writes: ``metrics.json`` (every figure, built by :func:`run_metrics`), ``report.html`` with its
PNGs, and for a demo the model-only checkpoints, ``calibration.json`` and ``demo_config.json``::

    metrics.json  report.html  *.png  calibration.json  demo_config.json
    checkpoints/<model>.ckpt       one model-only checkpoint each (calibrated temperature included)
    models/<model>/                each model's training run (config.yaml, run.json, logs, checkpoints)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestConfig
from ..evaluation.metrics_io import write_metrics_json
from ._data import DemoData, asset_column, bar_time, base_symbol, scored_span
from ._figures import build_figures
from ._forecast import attention_map
from ._full import FullResults
from ._models import RunModel
from ._report import RunReport, report_notes, report_tables, shortfalls, terminal_table, write_run_report
from ._score import strip_arrays
from ._scoring import ScoredForecasts
from ._sizing import Sizing
from ._train import TrainedModel
from .config import DemoConfig

__all__ = ["RunOutputs", "RunResults", "build_report", "run_metrics", "save_run_state", "write_run"]

NOT_COVERED_CORRELATION = (
    "Correlation-forecast error: the run's risk model has no correlation head fitted on multi-asset windows "
    "(or fewer than 2 of BTC, ETH, LTC are in the data), so no model correlation forecast is scored."
)
NOT_COVERED_LEARNER = "The non-attention learner (learner_hgb) is trained and scored by `mlattn demo` only."


@dataclass
class RunOutputs:
    """Paths and figures of a finished run."""

    out: Path
    metrics: dict[str, Any]
    table: str
    seconds: float


@dataclass(eq=False)
class RunResults:
    """Everything a run computed, before it is written.

    Attributes:
        title: the report's title.
        data: the scored data.
        config: the run's config (stored in ``metrics.json``).
        backtest_config: the strategies' costs and rules.
        scored: the forecasts and their scores.
        strategies: kind -> the strategy's scores after costs (with equity curves and weights).
        configurations_tried: kind -> configurations tried (deflating the Sharpe ratios).
        trained: kind -> the models trained by this run (the demo; empty for ``evaluate``).
        full: walk-forward folds, leave-one-asset-out folds and ablations (``--full``), or None.
        warnings: sentences about the scores (e.g. an in-sample period).
        sizing: the strategies' volatility targeting and how it was chosen.
    """

    title: str
    data: DemoData
    config: DemoConfig
    backtest_config: BacktestConfig
    scored: ScoredForecasts
    strategies: dict[str, dict[str, Any]]
    configurations_tried: dict[str, int]
    trained: dict[str, TrainedModel] = field(default_factory=dict)
    full: FullResults | None = None
    warnings: tuple[str, ...] = ()
    sizing: Sizing | None = None


def _span_times(data: DemoData, column: int) -> list[str]:
    """The asset's first and last scored decision times (:func:`._data.scored_span`), or ``[]`` for none."""
    span = scored_span(data, column)
    if span.start >= span.stop:
        return []
    return [bar_time(int(data.timestamps[span.start])), bar_time(int(data.timestamps[span.stop - 1]))]


def run_metrics(results: RunResults) -> dict[str, Any]:
    """``metrics.json`` of a run (without ``checkpoints`` and ``timings_s``): every figure, the bar computed
    from them by ``evaluate_bar``, one sentence per failed criterion, warnings and what is not covered."""
    from ..evaluation.criteria import evaluate_bar

    r, scored, data = results, results.scored, results.data
    not_covered = ([] if scored.correlation else [NOT_COVERED_CORRELATION]) + (
        [] if scored.fitted else [NOT_COVERED_LEARNER]
    )
    metrics: dict[str, Any] = {
        "title": r.title,
        "data": {
            "symbols": list(data.symbols),
            "periods": {k: list(v) for k, v in data.split.describe(data.timestamps).items()},
            "test_rows": [int(data.test_start), int(data.test_end)],
            # each asset's first and last scored decision time: narrower than the period's for an asset listed
            # late or whose bars end early (scored_span)
            "scored": {base_symbol(s): _span_times(data, c) for c, s in enumerate(data.symbols)},
            "seen": {a: a in scored.seen for a in scored.assets},
        },
        "config": r.config.to_dict(),
        "backtest_config": dataclasses.asdict(r.backtest_config),
        "calibration": {k: v for k, v in scored.forecasts.calibration.items() if k != "sizing"},
        "sizing": r.sizing.to_dict() if r.sizing is not None else None,
        "training": {
            t.name: {
                "epochs": t.epochs,
                "best_val_loss": t.best_val_loss,
                "run_dir": str(t.run_dir),
                **({"budgets": t.budgets} if t.budgets else {}),
                **({"ensemble": _members_figures(t)} if t.members else {}),
            }
            for t in r.trained.values()
        },
        "assets": scored.assets,
        "strategies": strip_arrays(r.strategies),
        "configurations_tried": r.configurations_tried,
        "not_covered": not_covered,
    }
    unseen = tuple(a for a in scored.assets if a not in scored.seen)
    metrics["bar"] = evaluate_bar(
        metrics, assets=tuple(scored.assets), strategy_kinds=list(r.strategies), unseen=unseen
    )
    if scored.correlation:
        metrics["correlation"] = scored.correlation
    metrics["shortfalls"] = shortfalls(metrics["bar"], metrics["assets"])
    metrics["warnings"] = list(r.warnings)
    if r.full is not None:
        metrics["walk_forward"] = r.full.walk_forward
        metrics["leave_one_asset_out"] = r.full.leave_one_asset_out
        metrics["ablations"] = r.full.ablations
    return metrics


def _members_figures(t: TrainedModel) -> list[dict[str, Any]]:
    """Each member of a model's ensemble: its seed, epochs, best validation loss and run directory."""
    return [
        {
            "seed": m.config.seed,
            "epochs": m.epochs,
            "best_val_loss": m.best_val_loss,
            "run_dir": str(m.run_dir),
        }
        for m in (t, *t.members)
    ]


def save_run_state(trained: Mapping[str, TrainedModel], calibration: Mapping[str, Any], config: DemoConfig,
                   root: Path) -> dict[str, str]:  # fmt: skip
    """What ``evaluate``/``predict`` read back: one model-only checkpoint per model (its calibrated
    temperature included; one per member of an ensemble, ``<model>.ckpt``, ``<model>.1.ckpt``, ...),
    ``calibration.json`` and ``demo_config.json``; returns model (member) -> checkpoint path."""
    from ..training.checkpoint import atomic_save, build_payload
    from ._models import ensemble_member_payload

    paths = {}
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    for t in trained.values():
        p = t.payload
        members = (t, *t.members)
        for k, m in enumerate(members):
            payload = build_payload(
                m.model, model_type=t.model_type, feature_names=p["feature_names"], scaler=p["scaler"],
                symbols=p["symbols"],
            )  # fmt: skip
            if len(members) > 1:
                payload = ensemble_member_payload(payload, k, len(members))
            name = t.model_type if k == 0 else f"{t.model_type}.{k}"
            path = root / "checkpoints" / f"{name}.ckpt"
            atomic_save(payload, path)
            paths[name] = str(path)
    write_metrics_json(calibration, root / "calibration.json")
    write_metrics_json(config.to_dict(), root / "demo_config.json")
    return paths


def _price_attention(models: Mapping[str, RunModel], data: DemoData, config: DemoConfig) -> np.ndarray | None:
    """The price model's attention for the window ending at the first test bar of the first asset."""
    if "price" not in models or not config.assets:
        return None
    col = asset_column(data, config.assets[0])
    end = int(data.test_start)
    while end < data.test_end and not data.prepared.mask[col, end]:
        end += 1
    if end >= data.test_end:
        return None
    return attention_map(models["price"].model, data.prepared, col, end, window=config.window)


def build_report(
    results: RunResults, metrics: Mapping[str, Any], models: Mapping[str, RunModel]
) -> RunReport:
    """The figures, notes and extra tables of ``report.html``."""
    figures = build_figures(
        results.data, results.scored.forecasts, results.strategies, results.scored.assets,
        histories={t.name: t.history for t in results.trained.values()},
        attention=_price_attention(models, results.data, results.config),
    )  # fmt: skip
    return RunReport(figures=figures, notes=report_notes(metrics), tables=report_tables(metrics))


def write_run(results: RunResults, metrics: Mapping[str, Any], report: RunReport, root: Path) -> str:
    """``report.html`` with its PNGs and ``metrics.json`` in ``root``; returns the terminal table."""
    write_run_report(metrics, results.scored.assets, results.strategies, report, root, title=results.title)
    write_metrics_json(metrics, root / "metrics.json")
    return terminal_table(metrics)
