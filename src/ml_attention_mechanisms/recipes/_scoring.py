"""The scoring steps shared by ``mlattn demo`` and ``mlattn evaluate``: forecast and calibrate, score the
correlation forecast, fit the non-attention learner (demo), score every asset against the baselines, then
the strategies after costs.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..evaluation.backtest import BacktestConfig
from ._correlation import correlation_step
from ._data import DemoData, validation_rows
from ._forecast_run import Forecasts, forecast_run
from ._learner import learner_forecasts_all
from ._models import RunModel
from ._progress import Timings, say
from ._score import score_assets, score_strategies
from .config import BAR_ASSETS, DemoConfig

__all__ = ["ScoredForecasts", "score_forecasts", "score_run_strategies"]


@dataclass(eq=False)
class ScoredForecasts:
    """A run's forecasts and their scores on the test rows.

    Attributes:
        forecasts: the calibrated forecasts; their calibration includes a correlation head fitted here.
        fitted: whether the calibration (and the learner) were fitted on this run's validation split
            (``mlattn demo``) rather than read from a run directory (``evaluate``).
        correlation: the correlation forecast's scores, or None.
        assets: asset -> its scores against every baseline.
        seconds: step -> wall-clock seconds (forecast, correlation, learner, scoring).
    """

    forecasts: Forecasts
    fitted: bool
    correlation: dict[str, Any] | None
    assets: dict[str, dict[str, Any]]
    seconds: dict[str, float]


def score_forecasts(
    models: Mapping[str, RunModel],
    data: DemoData,
    config: DemoConfig,
    backtest_config: BacktestConfig,
    *,
    calibration: Mapping[str, Any] | None,
    progress: bool,
) -> ScoredForecasts:
    """Forecast every asset of ``config.assets`` on the test rows and score the forecasts.

    Args:
        models: kind -> model and payload.
        data: the run's data (its validation rows calibrate when ``calibration`` is None).
        config: the run's config (assets, window, baselines' budget, learner's budget, seed).
        backtest_config: the portfolio model's rebalance schedule.
        calibration: a run's stored calibration (applied unchanged), or None to fit it on validation and
            train the non-attention learner (the demo).
        progress: stage lines and progress bars.
    """
    fit = calibration is None
    clock = Timings()
    say("forecasting (validation and test)" if fit else "forecasting", progress)
    with clock.measure("forecast"):
        forecasts = forecast_run(
            models, data, config.assets, window=config.window, lo=data.val_start if fit else data.test_start,
            hi=data.test_end, backtest_config=backtest_config, calibration=calibration,
            calibrate_rows=validation_rows(data) if fit else None, progress=progress, val_stride=config.val_stride,
        )  # fmt: skip
    with clock.measure("correlation"):
        bar_assets = tuple(a for a in BAR_ASSETS if a in config.assets)
        corr = correlation_step(
            models, data, config, forecasts.calibration, bar_assets, fit=fit, progress=progress
        )
    if corr.head is not None:
        forecasts = dataclasses.replace(
            forecasts, calibration={**forecasts.calibration, "correlation_head": corr.head}
        )
    learner: dict[str, Any] = {}
    if fit and "price" in models:
        say("non-attention learner (gradient boosting on the same features)", progress)
        with clock.measure("learner"):
            learner = learner_forecasts_all(data, config.assets, config, forecasts.quantile_levels)
    say("scoring against the baselines (rolling HAR-RV / GARCH refits, tests, bootstrap)", progress)
    with clock.measure("scoring"):
        assets = score_assets(
            data, {a: f for a, f in forecasts.assets.items() if f}, learner,
            quantile_levels=forecasts.quantile_levels, var_levels=forecasts.var_levels,
            refit_every=config.refit_every, n_sims=config.n_sims,
        )  # fmt: skip
    return ScoredForecasts(forecasts, fit, corr.scores, assets, dict(clock.seconds))


def score_run_strategies(
    forecasts: Forecasts,
    data: DemoData,
    config: DemoConfig,
    backtest_config: BacktestConfig,
    extra_configs_tried: Mapping[str, int],
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The signal and portfolio strategies after costs: ``(strategies, configurations tried per kind)``.

    ``extra_configs_tried`` (the ablations' variants) are added to the one configuration of each kind: they
    deflate the Sharpe ratios.
    """
    n_configs = {"signal": 1, "portfolio": 1}
    for kind, n in extra_configs_tried.items():
        n_configs[kind] = n_configs.get(kind, 1) + int(n)
    strategies = score_strategies(
        data, forecasts.decisions, forecasts.weights, config=backtest_config, n_configs=n_configs,
        n_boot=config.n_boot,
    )  # fmt: skip
    return strategies, n_configs
