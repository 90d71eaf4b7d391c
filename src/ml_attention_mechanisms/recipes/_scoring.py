"""The scoring steps shared by ``mlattn demo`` and ``mlattn evaluate``: forecast and calibrate, score the
correlation forecast, fit the non-attention learner (demo), score every asset against the baselines, size
the strategies (chosen on validation by the demo, the run's stored choice in ``evaluate``), then the
strategies after costs.

``evaluate`` forecasts the :data:`WARM_UP` bars before its first scored bar too, as the demo forecasts its
validation split: the causal rolling calibration then reads the same resolved forecasts at every scored bar,
and ``evaluate`` on the demo's own test period and data gives the demo's figures.

Shapes:
    T: bars; A: assets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestConfig
from ._correlation import correlation_step
from ._data import DemoData, asset_column, scored_span, validation_rows
from ._forecast_run import WARM_UP, Forecasts, forecast_run
from ._learner import learner_forecasts_all
from ._models import RunModel, training_assets
from ._progress import Timings, say
from ._score import score_assets, score_strategies
from ._sizing import NULL_STRATEGIES, Sizing, asset_variances, choose_sizing
from .config import DemoConfig

__all__ = ["WARM_UP", "ScoredForecasts", "score_forecasts", "score_run_strategies", "strategy_sizing"]


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
        seen: the assets the run's training data contained (its checkpoints' ``symbols``).
    """

    forecasts: Forecasts
    fitted: bool
    correlation: dict[str, Any] | None
    assets: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    seen: tuple[str, ...] = ()


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
    seen = training_assets(models)
    lo = data.val_start if fit else max(config.window - 1, data.test_start - WARM_UP)
    say("forecasting (validation and test)" if fit else "forecasting", progress)
    with clock.measure("forecast"):
        forecasts = forecast_run(
            models, data, config.assets, window=config.window, lo=lo, hi=data.test_end,
            backtest_config=backtest_config, calibration=calibration,
            calibrate_rows=validation_rows(data) if fit else None, progress=progress, val_stride=config.val_stride,
            first_scored=data.test_start, calibrate_assets=seen,
            scored_from={a: scored_span(data, asset_column(data, a)).start for a in config.assets},
        )  # fmt: skip
    with clock.measure("correlation"):
        bar_assets = config.main_assets(data)
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
            own = [
                a for a in config.assets if a in seen
            ]  # the learner trains on an asset's own training rows
            learner = learner_forecasts_all(data, own, config, forecasts.quantile_levels)
    say("scoring against the baselines (rolling HAR-RV / GARCH refits, tests, bootstrap)", progress)
    with clock.measure("scoring"):
        assets = score_assets(
            data, {a: f for a, f in forecasts.assets.items() if f}, learner,
            quantile_levels=forecasts.quantile_levels, var_levels=forecasts.var_levels,
            refit_every=config.refit_every, n_sims=config.n_sims,
        )  # fmt: skip
    return ScoredForecasts(forecasts, fit, corr.scores, assets, dict(clock.seconds), seen)


def strategy_sizing(
    scored: ScoredForecasts, data: DemoData, config: DemoConfig, backtest_config: BacktestConfig
) -> tuple[Sizing, np.ndarray]:
    """``(sizing, variance [T, A])``: the strategies' volatility targeting, chosen on the validation split
    when the run's calibration was fitted here (the demo; stored in its calibration), else the run's stored
    choice (``evaluate``; the default :class:`VolTargetConfig` for a run that stored none, with a warning
    in ``warnings``)."""
    from ..evaluation.backtest import VolTargetConfig

    fc = scored.forecasts
    variance = asset_variances(fc.assets, data)
    if scored.fitted:
        sizing = choose_sizing(fc.decisions, fc.weights, variance, data, scored.seen, config.vol_targets(),
                               backtest_config)  # fmt: skip
        fc.calibration["sizing"] = sizing.to_dict()
    elif "sizing" in fc.calibration:
        sizing = Sizing.from_dict(fc.calibration["sizing"])
    else:
        names = (
            "signal",
            "portfolio",
            "buy_and_hold_vol_target",
            "equal_weight_vol_target",
            "risk_parity_vol_target",
        )
        sizing = Sizing({k: VolTargetConfig() for k in names}, {}, variance[1], "none stored: the defaults")
    return sizing, variance[0]


def score_run_strategies(
    forecasts: Forecasts,
    data: DemoData,
    config: DemoConfig,
    backtest_config: BacktestConfig,
    sizing: tuple[Sizing, np.ndarray],
    extra_configs_tried: Mapping[str, int],
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The volatility-targeted signal and portfolio strategies after costs: ``(strategies, configurations
    tried per kind)``.

    The sizing candidates of each training budget the models were chosen from, the null strategy's (always
    long; equal weights), and ``extra_configs_tried`` (the ablations' variants), count as configurations
    tried: they deflate the Sharpe ratios.
    """
    chosen, variance = sizing
    tried = chosen.n_candidates * len(config.training_budgets())
    n_configs = {
        kind: tried + len(chosen.validation.get(null, ())) for kind, (null, _) in NULL_STRATEGIES.items()
    }
    for kind, n in extra_configs_tried.items():
        n_configs[kind] = n_configs.get(kind, 1) + int(n)
    strategies = score_strategies(
        data, forecasts.decisions, forecasts.weights, config=backtest_config, sizing=chosen, variance=variance,
        n_configs=n_configs, n_boot=config.n_boot,
    )  # fmt: skip
    return strategies, n_configs
