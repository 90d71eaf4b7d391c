"""Scoring of a run: the models' calibrated forecasts against every baseline on the test rows, with the
non-attention learner of similar budget on the same features, the strategies after costs, and the bar.

Everything here calls the evaluation layer's public functions (:mod:`.suite`, :mod:`.scorecards`,
:mod:`.criteria`); the learner is :func:`.baselines_learner.fit_predict_learner` (scikit-learn's
histogram gradient boosting, a LightGBM-style learner) trained on the training rows only.

Shapes:
    T: bars; A: assets; F: features; Q: quantile levels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._data import HORIZON, DemoData
from ._forecasts import rolling_calibration, variance_scale

__all__ = ["BAR_ASSETS", "learner_forecasts", "score_assets", "score_strategies", "strip_arrays"]

logger = logging.getLogger(__name__)

BAR_ASSETS = ("BTC", "ETH", "LTC")
LEARNER = "learner_hgb"  # the non-attention baseline's name in every table


def _learner_inputs(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``[T, 3F]`` inputs of the learner at each decision time: the features of bar ``t``, their mean over
    the last 24 bars and the features of bar ``t-24`` (NaN where absent), all from bars ``<= t``."""
    x = np.where(mask[:, None], features.astype(np.float64), np.nan)  # (T, F)
    c = np.nancumsum(np.nan_to_num(x), axis=0)
    k = np.cumsum(np.isfinite(x), axis=0)
    mean = np.full_like(x, np.nan)
    mean[HORIZON:] = (c[HORIZON:] - c[:-HORIZON]) / np.maximum(k[HORIZON:] - k[:-HORIZON], 1)
    lag = np.full_like(x, np.nan)
    lag[HORIZON:] = x[:-HORIZON]
    return np.concatenate([x, mean, lag], axis=1)


def learner_forecasts(
    data: DemoData,
    column: int,
    *,
    train_rows: int | None,
    quantile_levels: Sequence[float],
    max_iter: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """The non-attention learner's forecasts for one asset: trained on its training rows (a fixed-seed
    subsample of ``train_rows``), then calibrated exactly as the models are (validation calibration, then
    the causal rolling calibration of :func:`._pipeline_forecasts.rolling_calibration`).

    Returns:
        ``{"return": [T], "variance": [T], "quantiles": [T, Q]}`` (the learner's interval levels are the
        outermost pair of ``quantile_levels`` and the median).
    """
    from ..evaluation.baselines import fit_predict_learner
    from ..evaluation.conformal import ConformalQuantileCalibrator
    from ..evaluation.targets import future_return_target, realized_variance_target
    from ._forecast_run import ROLLING_WINDOW

    p = data.prepared
    r = data.returns[:, column]
    x = _learner_inputs(p.features[column], p.mask[column])
    y1 = future_return_target(r, 1)
    rv = realized_variance_target(r, HORIZON)
    train = np.asarray(data.split.train, dtype=np.int64)
    train = train[np.isfinite(y1[train]) & np.isfinite(rv[train]) & (rv[train] > 0) & p.mask[column, train]]
    if train_rows is not None and train.size > train_rows:
        train = np.sort(np.random.default_rng(seed).choice(train, size=train_rows, replace=False))
    n = r.shape[0]
    ahead = np.arange(data.val_start, data.test_end)
    levels = [quantile_levels[0], 0.5, quantile_levels[-1]]
    f_ret = fit_predict_learner(x[train], y1[train], x[ahead], kind="hgb", max_iter=max_iter, seed=seed)
    f_lrv = fit_predict_learner(
        x[train], np.log(rv[train]), x[ahead], kind="hgb", max_iter=max_iter, seed=seed
    )
    f_q = fit_predict_learner(
        x[train], y1[train], x[ahead], kind="hgb", quantiles=levels, max_iter=max_iter, seed=seed
    )
    out = {"return": np.full(n, np.nan), "variance": np.full(n, np.nan), "quantiles": np.full((n, 3), np.nan)}
    out["return"][ahead], out["variance"][ahead], out["quantiles"][ahead] = f_ret, np.exp(f_lrv), f_q
    val = np.zeros(n, dtype=bool)
    val[data.val_start : data.test_start] = True
    static: dict[str, Any] = {
        "quantile_levels": levels,
        "variance_scale": variance_scale(np.where(val, rv, np.nan), out["variance"]),
    }
    ok = val & np.isfinite(y1) & np.isfinite(out["quantiles"]).all(axis=1)
    if ok.sum() >= 20:
        cal = ConformalQuantileCalibrator.fit(y1[ok], out["quantiles"][ok], levels)
        static["cqr_offsets"] = {str(k): float(v) for k, v in cal.offsets.items()}
    # the same causal rolling calibration as the models' (validation forecasts first), so that the
    # comparison is of forecasters, not of calibration schemes
    out = rolling_calibration(out, r, static, window=ROLLING_WINDOW)
    out["levels"] = np.asarray(levels)
    return out


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

    Args:
        forecasts: asset -> calibrated price/risk outputs (see :mod:`._pipeline_forecasts`).
        learner: asset -> :func:`learner_forecasts` (may be empty).
        var_levels: the risk model's tail probabilities (0.05, 0.01 -> ``var95``, ``var99``).

    Returns:
        asset -> the result of :func:`.suite.evaluate_asset_forecasts` with the learner's scores added
        beside the baselines (``learner_hgb``), the raw (uncalibrated) interval scores as ``model_raw``, and
        the Diebold-Mariano rows against the learner.
    """
    from ..evaluation.scorecards import dm_table, loss_series, point_scores, quantile_scores, variance_scores
    from ..evaluation.suite import evaluate_asset_forecasts
    from ..evaluation.targets import future_return_target, realized_variance_target

    out: dict[str, dict[str, Any]] = {}
    for asset, f in forecasts.items():
        col = _column(data, asset)
        r = data.returns[:, col]
        rows = np.zeros(r.shape[0], dtype=bool)
        rows[data.test_start : data.test_end] = True
        var_forecasts = None
        if "var" in f:
            var_forecasts = {1.0 - lv: (f["var"][:, i], f["es"][:, i]) for i, lv in enumerate(var_levels)}
        res = evaluate_asset_forecasts(
            r,
            test_start=data.test_start,
            test_end=data.test_end,
            train_end=data.val_start,
            return_forecast=f.get("return"),
            variance_forecast=f.get("variance"),
            quantile_forecast=f.get("quantiles"),
            quantile_levels=list(quantile_levels) if "quantiles" in f else None,
            var_forecasts=var_forecasts,
            drawdown_forecast=f.get("drawdown"),
            horizon=HORIZON,
            refit_every=refit_every,
            n_sims=n_sims,
        )

        def only(x: np.ndarray, rows: np.ndarray = rows) -> np.ndarray:
            y = np.array(x, dtype=np.float64, copy=True)
            y[~rows] = np.nan
            return y

        y1, rv = only(future_return_target(r, 1)), only(realized_variance_target(r, HORIZON))
        if "quantiles_raw" in f and "interval90" in res:
            res["interval90"]["model_raw"] = quantile_scores(
                y1, only(f["quantiles_raw"]), list(quantile_levels)
            )
        lf = learner.get(asset)
        if lf is not None:
            levels = [float(v) for v in lf["levels"]]
            if "returns" in res:
                res["returns"][LEARNER] = point_scores(y1, only(lf["return"]))
            if "volatility" in res:
                res["volatility"][LEARNER] = variance_scores(rv, only(lf["variance"]))
            if "interval90" in res:
                res["interval90"][LEARNER] = quantile_scores(y1, only(lf["quantiles"]), levels)
            dm = []
            if "return" in f:
                dm += [
                    {"target": "return", **d}
                    for d in dm_table(
                        {"model": loss_series("squared", y1, only(f["return"]))},
                        {LEARNER: loss_series("squared", y1, only(lf["return"]))},
                    )
                ]
            if "variance" in f:
                dm += [
                    {"target": "variance", **d}
                    for d in dm_table(
                        {"model": loss_series("qlike", rv, only(f["variance"]))},
                        {LEARNER: loss_series("qlike", rv, only(lf["variance"]))},
                        horizon=HORIZON,
                    )
                ]
            res["dm"] = [*res.get("dm", []), *dm]
        out[asset] = res
    return out


def _column(data: DemoData, asset: str) -> int:
    from ._data import asset_column

    return asset_column(data, asset)


def score_strategies(
    data: DemoData,
    signals: Mapping[str, np.ndarray],
    weights: np.ndarray | None,
    *,
    config: Any,
    n_configs: Mapping[str, int],
    n_boot: int,
) -> dict[str, dict[str, Any]]:
    """Signal strategies per asset (``signal_<ASSET>``) and the portfolio, net of costs, on the test span.

    Args:
        signals: asset -> signal ``[T]`` in {-1, 0, 1} (NaN = no decision: hold).
        weights: the portfolio model's target weights ``[T, A]`` (rebalance bars used), or ``None``.
        config: the :class:`.backtest.BacktestConfig`.
        n_configs: kind -> configurations tried (reported beside each Sharpe, used by the deflated Sharpe).
    """
    from ..evaluation.backtest import signals_to_positions
    from ..evaluation.suite import evaluate_portfolio_strategy, evaluate_signal_strategy

    out: dict[str, dict[str, Any]] = {}
    for asset, sig in signals.items():
        col = _column(data, asset)
        positions = signals_to_positions(np.nan_to_num(sig, nan=0.0).astype(np.int64), config)
        out[f"signal_{asset}"] = evaluate_signal_strategy(
            data.returns[:, col],
            positions,
            test_start=data.test_start,
            test_end=data.test_end,
            config=config,
            n_configs=int(n_configs.get("signal", 1)),
            n_boot=n_boot,
        )
    if weights is not None:
        out["portfolio"] = evaluate_portfolio_strategy(
            data.returns,
            weights,
            data.timestamps,
            test_start=data.test_start,
            test_end=data.test_end,
            config=config,
            n_configs=int(n_configs.get("portfolio", 1)),
            n_boot=n_boot,
        )
    return out


def strip_arrays(tree: Any) -> Any:
    """A copy of ``tree`` without the per-bar arrays (equity curves, weights): they go to the plots."""
    if isinstance(tree, Mapping):
        return {k: strip_arrays(v) for k, v in tree.items() if k not in ("equity", "weights")}
    if isinstance(tree, list):
        return [strip_arrays(v) for v in tree]
    return tree
