"""Scoring of a run: the models' calibrated forecasts against every baseline on the test rows (with the
non-attention learner beside them), each asset from its own first bar, and the volatility-targeted
strategies after costs.

Everything here calls the evaluation layer's public functions (``evaluate_asset_forecasts``, the
scorecards, ``evaluate_signal_strategy``, ``evaluate_portfolio_strategy``).

Shapes:
    T: bars; A: assets; Q: quantile levels; Lv: VaR levels.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.backtest import BacktestConfig
from ..evaluation.baselines import rolling_quantile_forecast
from ._calibration import rolling_calibrated_quantiles
from ._data import HORIZON, DemoData, asset_column, first_bar, listed_mask, priced_bars, scored_span
from ._forecast_run import ROLLING_WINDOW
from ._learner import LEARNER
from ._sizing import (
    NULL_STRATEGIES,
    PORTFOLIO_BASELINES,
    SIGNAL_BASELINE,
    Sizing,
    held_portfolio,
    held_signal,
    sized_portfolio,
    sized_signal,
)

__all__ = ["ANCHOR", "CALIBRATED_EMPIRICAL", "score_assets", "score_strategies", "strip_arrays"]

logger = logging.getLogger(__name__)

ANCHOR = "variance_anchor"  # the price model's variance anchor alone (its residual at 0), in every table
CALIBRATED_EMPIRICAL = "empirical_quantile_calibrated"  # the empirical quantiles, calibrated as the model's


def score_assets(
    data: DemoData,
    forecasts: Mapping[str, Mapping[str, np.ndarray]],
    learner: Mapping[str, Mapping[str, np.ndarray]],
    *,
    quantile_levels: Sequence[float],
    var_levels: Sequence[float],
    refit_every: int,
    n_sims: int,
) -> dict[str, dict[str, Any]]:
    """Each asset's calibrated model forecasts against every forecast baseline on the test rows.

    Every figure of a table (the model's, each baseline's, the learner's, the raw intervals') is computed on
    the same rows: the test rows where all of them and the target are finite (``n`` of each entry). Beside
    the model's 24-bar variance, its variance anchor alone (``variance_anchor``: ``24 x`` the asset's scale,
    the model's forecast with its learned residual at 0) shows what the attention adds to it. Beside its 90%
    interval, the empirical quantiles with the model's rolling conformal calibration
    (``empirical_quantile_calibrated``) compare widths at a like calibration.

    Args:
        forecasts: asset -> calibrated price/risk outputs (see :mod:`._forecast_run`).
        learner: asset -> :func:`._learner.learner_forecasts` (may be empty).
        var_levels: the risk model's tail probabilities (0.05, 0.01 -> ``var95``, ``var99``).

    Returns:
        asset -> the result of ``evaluate_asset_forecasts`` with the learner's and the anchor's scores beside
        the baselines (``learner_hgb``, ``variance_anchor``, and their Diebold-Mariano rows) and the raw
        (uncalibrated) interval scores as ``model_raw``; the variance also per calendar month of the decision
        times (``volatility_by_period``).
    """
    from ..evaluation.suite import evaluate_asset_forecasts

    out: dict[str, dict[str, Any]] = {}
    priced = priced_bars(data)
    months = np.datetime_as_string(data.timestamps.astype("datetime64[s]"), unit="M")  # "2021-01"
    with warnings.catch_warnings():
        # rolling baselines warm up on all-NaN windows before the test rows; those rows are not scored
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        for asset, full in forecasts.items():
            # from the asset's first bar: the baselines fit its own history, never the zeros before its listing
            col = asset_column(data, asset)
            first = first_bar(data, col)
            r, f = data.returns[first:, col], {k: v[first:] for k, v in full.items()}
            # narrower than the period for an asset listed late or whose bars end early
            scored = scored_span(data, col)
            mean_end = data.val_start if data.mean_end is None else data.mean_end
            if scored.start > data.test_start:  # the training mean then averages its history before it
                mean_end = scored.start - 1
            t0, t1, v0 = scored.start - first, scored.stop - first, mean_end - first
            var_forecasts = None
            if "var" in f:
                var_forecasts = {1.0 - lv: (f["var"][:, i], f["es"][:, i]) for i, lv in enumerate(var_levels)}
            empirical = rolling_quantile_forecast(r, quantile_levels) if "quantiles" in f else None
            others = _interval_rows(f, r, empirical, quantile_levels, priced[first:, col])
            if "variance" in f:  # the model's own anchor alone: what the attention's residual adds to it
                own = np.where(
                    data.prepared.mask[col, first:], HORIZON * data.prepared.scale[col, first:], np.nan
                )
                others[ANCHOR] = {"variance": np.where(np.isfinite(f["variance"]), own, np.nan)}
            if asset in learner:  # the learner's forecasts of the targets the model forecasts
                lf = {k: v if k == "levels" else v[first:] for k, v in learner[asset].items()}
                others[LEARNER] = {k: lf[k] for k in ("return", "variance", "quantiles") if k in f}
                others[LEARNER]["quantile_levels"] = [float(v) for v in lf["levels"]]
            out[asset] = evaluate_asset_forecasts(
                r, test_start=t0, test_end=t1, train_end=v0 if v0 > 0 else t0,
                return_forecast=f.get("return"), variance_forecast=f.get("variance"),
                quantile_forecast=f.get("quantiles"),
                quantile_levels=list(quantile_levels) if "quantiles" in f else None, empirical_quantiles=empirical,
                var_forecasts=var_forecasts, drawdown_forecast=f.get("drawdown"), others=others,
                horizon=HORIZON, refit_every=refit_every, n_sims=n_sims, observed=priced[first:, col],
                periods=months[first:],
            )  # fmt: skip
    return out


def _interval_rows(
    f: Mapping[str, np.ndarray],
    r: np.ndarray,
    empirical: np.ndarray | None,
    levels: Sequence[float],
    observed: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """The intervals scored beside the model's calibrated ones: its raw quantiles (``model_raw``) and the
    empirical quantiles ``empirical`` (``[T, Q]``, the suite's baseline) with its rolling calibration
    (``empirical_quantile_calibrated``); none without both."""
    if "quantiles_raw" not in f or "quantiles" not in f or empirical is None:
        return {}
    calibrated = rolling_calibrated_quantiles(
        empirical, r, list(levels), window=ROLLING_WINDOW, observed=observed
    )
    return {
        "model_raw": {"quantiles": f["quantiles_raw"], "quantile_levels": list(levels)},
        CALIBRATED_EMPIRICAL: {"quantiles": calibrated, "quantile_levels": list(levels)},
    }


def score_strategies(
    data: DemoData,
    signals: Mapping[str, np.ndarray],
    weights: np.ndarray | None,
    *,
    config: BacktestConfig,
    sizing: Sizing,
    variance: np.ndarray,
    n_configs: Mapping[str, int],
    n_boot: int,
    model_only: bool = False,
) -> dict[str, dict[str, Any]]:
    """Signal strategies per asset (``signal_<ASSET>``) and the portfolio, sized by the forecast volatility
    (:mod:`._sizing`), net of costs, on the test span, against their baselines (the volatility-targeted ones
    with their own validation-chosen sizing). Each strategy holds its model's decisions or its null strategy's
    (always long; equal weights), as chosen on validation (:attr:`._sizing.Sizing.holds`); each block says
    which under ``"holds"``.

    Args:
        signals: asset -> signal ``[T]`` in {-1, 0, 1} (NaN = no decision: hold).
        weights: the portfolio model's target weights ``[T, A]`` (rebalance bars used), or ``None``.
        config: the backtest's costs and position rules.
        sizing: the sizing of each strategy and baseline (chosen on validation, or a run's stored one).
        variance: the 24-bar variance forecasts ``[T, A]`` that size the model's strategies.
        n_configs: kind -> configurations tried (reported beside each Sharpe, used by the deflated Sharpe).
        model_only: hold the models' decisions whatever validation chose (an ablation of a model). Default:
            False (the sizing's choice).
    """
    from ..evaluation.suite import evaluate_portfolio_strategy, evaluate_signal_strategy

    holds = dict.fromkeys(NULL_STRATEGIES, "model") if model_only else sizing.holds
    out: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        # a strategy that never trades has no Sharpe ratio: its bootstrap interval is NaN (reported as null)
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        for asset, sig in signals.items():
            col = asset_column(data, asset)
            first = first_bar(data, col)
            own = scored_span(data, col)
            held, cfg = held_signal(sig, sizing, holds["signal"])
            positions = sized_signal(held, variance[:, col], own, cfg, config)
            out[f"signal_{asset}"] = evaluate_signal_strategy(
                data.returns[first:, col], positions[first:], test_start=own.start - first,
                test_end=own.stop - first, config=config, n_configs=int(n_configs.get("signal", 1)),
                n_boot=n_boot, vol_target=sizing.chosen[SIGNAL_BASELINE],
            )  # fmt: skip
            out[f"signal_{asset}"]["holds"] = holds["signal"]  # what the "model" row held
        if weights is not None:
            # over the bars every asset is scored on: its baselines hold every asset throughout
            spans = [scored_span(data, c) for c in range(len(data.symbols))]
            every = slice(max(s.start for s in spans), min(s.stop for s in spans))
            w, cfg = held_portfolio(weights, data, sizing, holds["portfolio"])
            sized = sized_portfolio(w, variance, data, every, cfg, config)
            out["portfolio"] = evaluate_portfolio_strategy(
                data.returns, sized, data.timestamps, test_start=every.start, test_end=every.stop, config=config,
                n_configs=int(n_configs.get("portfolio", 1)), n_boot=n_boot, listed=listed_mask(data),
                vol_targets={name: sizing.chosen[name] for name in PORTFOLIO_BASELINES},
            )  # fmt: skip
            out["portfolio"]["holds"] = holds["portfolio"]  # what the "model" row held
    return out


def strip_arrays(tree: Any) -> Any:
    """A copy of ``tree`` without the per-bar arrays (equity curves, weights): they go to the plots."""
    if isinstance(tree, Mapping):
        return {k: strip_arrays(v) for k, v in tree.items() if k not in ("equity", "weights")}
    if isinstance(tree, list):
        return [strip_arrays(v) for v in tree]
    return tree
