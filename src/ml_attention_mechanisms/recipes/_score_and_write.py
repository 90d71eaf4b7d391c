"""From trained models to the run's artefacts: forecasts, scores, the bar, metrics.json, report.html, PNGs,
checkpoints and the resolved config. Shared by :func:`.pipeline.run_demo` and :func:`.pipeline.evaluate_run`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._data import DemoData, asset_column
from ._score import BAR_ASSETS, learner_forecasts, score_assets, score_strategies, strip_arrays

__all__ = ["score_and_write"]

logger = logging.getLogger(__name__)

NOT_COVERED_CORRELATION = (
    "Correlation-forecast error: the run's risk model has no correlation head fitted on multi-asset windows "
    "(or fewer than 2 of BTC, ETH, LTC are in the data), so no model correlation forecast is scored."
)


def _say(msg: str, enabled: bool) -> None:
    if enabled:
        print(f"[mlattn] {msg}", flush=True)


def _save_checkpoints(trained: Mapping[str, Any], root: Path) -> dict[str, str]:
    from ..training.checkpoint import atomic_save, build_payload

    paths = {}
    (root / "checkpoints").mkdir(parents=True, exist_ok=True)
    for t in trained.values():
        p = t.payload
        payload = build_payload(
            t.model,
            model_type=t.model_type,
            feature_names=p["feature_names"],
            scaler=p["scaler"],
            symbols=p["symbols"],
        )
        path = root / "checkpoints" / f"{t.model_type}.ckpt"
        atomic_save(payload, path)
        paths[t.model_type] = str(path)
    return paths


def _attention(
    models: Mapping[str, Any], data: DemoData, assets: tuple[str, ...], window: int
) -> np.ndarray | None:
    if "price" not in models or not assets:
        return None
    from ._forecasts import attention_map

    col = asset_column(data, assets[0])
    end = int(data.test_start)
    while end < data.test_end and not data.prepared.mask[col, end]:
        end += 1
    if end >= data.test_end:
        return None
    return attention_map(models["price"][0], data.prepared, col, end, window=window)


def _correlation(
    models: Mapping[str, Any],
    data: DemoData,
    cfg: Any,
    fc: dict[str, Any],
    assets: tuple[str, ...],
    progress: bool,
    *,
    fit: bool,
) -> dict[str, Any] | None:
    """The risk model's correlation forecast scored on the test split (``None`` when it cannot be): in a
    demo (no stored calibration) its correlation head is first fitted on training windows (encoder frozen)
    and the fit is recorded in the calibration; ``evaluate`` scores a run whose head was fitted."""
    from ._correlation import correlation_figures, fit_correlation_head

    if "risk" not in models or len(assets) < 2:
        return None
    model, payload = models["risk"]
    cal = fc["calibration"]
    if "correlation_head" not in cal:
        if not fit:
            return None
        _say("fitting the risk model's correlation head on multi-asset training windows", progress)
        cal["correlation_head"] = fit_correlation_head(
            model, payload, data, assets, window=cfg.window, seed=cfg.seed
        )
    return correlation_figures(model, payload, data, assets, window=cfg.window)


def score_and_write(
    data: DemoData,
    models: Mapping[str, Any],
    cfg: Any,
    root: Path,
    *,
    backtest_config: Any,
    calibration: Mapping[str, Any] | None,
    calibrate_rows: np.ndarray | None,
    histories: Mapping[str, Any],
    training: Mapping[str, Any],
    progress: bool,
    timings: dict[str, float],
    t0: float,
    title: str,
    save_checkpoints: Mapping[str, Any] | None,
    bar_assets: tuple[str, ...] = BAR_ASSETS,
    warnings_: tuple[str, ...] = (),
) -> tuple[dict[str, Any], str]:
    """Forecast, score, write every artefact of a run in ``root``; return ``(metrics, terminal table)``.

    ``warnings_`` (sentences about the scores, e.g. an in-sample period) go to ``metrics["warnings"]`` and
    the report's notes."""
    from ..evaluation.criteria import evaluate_bar
    from ._forecast_run import forecast_all
    from ._report import build_figures, shortfalls, terminal_table, write_run_report
    from .demo import write_json

    assets = tuple(cfg.assets)
    lo = data.val_start if calibration is None else data.test_start
    _say("forecasting (validation and test)" if calibration is None else "forecasting", progress)
    t1 = time.perf_counter()
    fc = forecast_all(
        models, data, assets, window=cfg.window, lo=lo, hi=data.test_end, backtest_config=backtest_config,
        calibration=calibration, calibrate_rows=calibrate_rows, progress=progress,
        val_stride=getattr(cfg, "val_stride", 1),
    )  # fmt: skip
    timings["forecast"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    correlation = _correlation(
        models, data, cfg, fc, tuple(a for a in bar_assets if a in assets), progress, fit=calibration is None
    )
    timings["correlation"] = time.perf_counter() - t1
    learner: dict[str, Any] = {}
    if calibration is None and "price" in models:
        _say("non-attention learner (gradient boosting on the same features)", progress)
        t1 = time.perf_counter()
        from threadpoolctl import threadpool_limits

        # one OpenMP thread: on a busy 2-core machine scikit-learn's spinning threads cost 10x (measured)
        with threadpool_limits(limits=1):
            for a in assets:
                learner[a] = learner_forecasts(
                    data,
                    asset_column(data, a),
                    train_rows=cfg.learner_rows,
                    quantile_levels=fc["quantile_levels"],
                    max_iter=cfg.learner_iter,
                    seed=cfg.seed,
                )
        timings["learner"] = time.perf_counter() - t1
    _say("scoring against the baselines (rolling HAR-RV / GARCH refits, tests, bootstrap)", progress)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        # rolling baselines warm up on all-NaN windows before the test rows; those rows are not scored
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        assets_scores = score_assets(
            data, {a: f for a, f in fc["assets"].items() if f}, learner, quantile_levels=fc["quantile_levels"],
            var_levels=fc["var_levels"], refit_every=cfg.refit_every, n_sims=cfg.n_sims,
        )  # fmt: skip
    n_configs = {"signal": 1, "portfolio": 1}
    full: dict[str, Any] = {}
    if getattr(cfg, "full", False) and save_checkpoints is not None:
        from ._full import run_full

        _say("--full: walk-forward folds and ablations", progress)
        t2 = time.perf_counter()
        full = run_full(data, cfg, root, assets_scores, progress=progress)
        timings["full"] = time.perf_counter() - t2
        for kind, n in full.get("configs_tried", {}).items():
            n_configs[kind] = n_configs.get(kind, 1) + int(n)
    with warnings.catch_warnings():
        # a strategy that never trades has no Sharpe ratio: its bootstrap interval is NaN (reported as null)
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        strategies = score_strategies(
            data, {a: s for a, s in fc["signals"].items()}, fc["weights"], config=backtest_config,
            n_configs=n_configs, n_boot=cfg.n_boot,
        )  # fmt: skip
    timings["scoring"] = time.perf_counter() - t1
    kinds = [k for k in strategies if k == "portfolio" or k.split("_", 1)[1] in bar_assets]
    metrics: dict[str, Any] = {
        "title": title,
        "data": {
            "symbols": list(data.symbols),
            "periods": {k: list(v) for k, v in data.split.describe(data.timestamps).items()},
            "test_rows": [int(data.test_start), int(data.test_end)],
        },
        "config": {**dataclasses.asdict(cfg), "models": list(cfg.models), "assets": list(cfg.assets)},
        "backtest_config": dataclasses.asdict(backtest_config),
        "calibration": fc["calibration"],
        "training": dict(training),
        "assets": assets_scores,
        "strategies": strip_arrays(strategies),
        "configurations_tried": n_configs,
        "not_covered": ([] if correlation else [NOT_COVERED_CORRELATION])
        + (
            []
            if calibration is None
            else ["The non-attention learner (learner_hgb) is trained and scored by `mlattn demo` only."]
        ),
    }
    bar = evaluate_bar(
        metrics, assets=tuple(a for a in bar_assets if a in assets_scores), strategy_kinds=kinds
    )
    metrics["bar"] = bar
    if correlation:
        metrics["correlation"] = correlation
    metrics["shortfalls"] = shortfalls(bar)
    metrics["warnings"] = list(warnings_)
    if full:
        metrics["walk_forward"] = full.get("walk_forward")
        metrics["ablations"] = full.get("ablations")
    if save_checkpoints is not None:
        metrics["checkpoints"] = _save_checkpoints(save_checkpoints, root)
        write_json(fc["calibration"], root / "calibration.json")
        write_json(metrics["config"], root / "demo_config.json")
    _say("writing metrics.json, report.html and the figures", progress)
    t1 = time.perf_counter()
    figures = build_figures(
        data, fc, strategies, assets_scores, histories=histories,
        attention=_attention(models, data, assets, cfg.window),
    )  # fmt: skip
    notes = [
        "Everything was chosen on the validation split (early stopping, conformal intervals, variance and VaR "
        "scales, temperature); the test split was read once, for these figures.",
        f"The bar: {bar['n_passed']} of {bar['n_criteria']} criteria pass.",
        *(
            ["Where the models fall short: " + " ".join(metrics["shortfalls"])]
            if metrics["shortfalls"]
            else []
        ),
        *metrics["warnings"],
        *metrics["not_covered"],
    ]
    extra = {}
    if correlation:
        extra[
            f"Correlation forecasts ({', '.join(correlation['assets'])}, next {correlation['horizon']} bars)"
        ] = [{"forecast": k, **correlation[k]} for k in ("model", "rolling")]
    if full.get("walk_forward"):
        extra["Walk-forward folds (price model, retrained per fold)"] = full["walk_forward"]["folds"]
    if full.get("ablations"):
        extra["Ablations (test split)"] = full["ablations"]["rows"] + full["ablations"]["not_run"]
    timings["report"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    metrics["timings_s"] = dict(timings)
    write_run_report(
        metrics, assets_scores, strategies, figures, root, title=title, notes=notes, extra_tables=extra
    )
    for fig in figures:  # free matplotlib figures
        import matplotlib.pyplot as plt

        plt.close(fig.matplotlib)
    write_json(metrics, root / "metrics.json")
    return metrics, terminal_table(metrics)
