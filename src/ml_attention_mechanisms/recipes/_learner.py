"""The non-attention learner of similar budget on the same features (``learner_hgb``): scikit-learn's
histogram gradient boosting (a LightGBM-style learner, :func:`~ml_attention_mechanisms.evaluation.fit_predict_learner`)
trained on the training rows only, calibrated exactly as the models are.

Shapes:
    T: bars; F: features; Q: quantile levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._import_guard import needs_extra
from ._calibration import next_return, rolling_calibration, variance_scale
from ._data import HORIZON, DemoData, asset_column, priced_bars
from ._forecast_run import ROLLING_WINDOW

if TYPE_CHECKING:
    from .config import DemoConfig

__all__ = ["LEARNER", "learner_forecasts", "learner_forecasts_all", "learner_inputs"]

LEARNER = "learner_hgb"  # the non-attention baseline's name in every table


def learner_inputs(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
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
    the causal rolling calibration of :func:`._calibration.rolling_calibration`).

    Returns:
        ``{"return": [T], "variance": [T], "quantiles": [T, Q], "levels": [Q]}``: one quantile model per
        level of ``quantile_levels`` (the models' levels, so that pinball and CRPS compare like with like).
    """
    from ..evaluation.baselines import fit_predict_learner
    from ..evaluation.conformal import ConformalQuantileCalibrator
    from ..evaluation.targets import realized_variance_target

    p = data.prepared
    r, priced = data.returns[:, column], priced_bars(data)[:, column]
    x = learner_inputs(p.features[column], p.mask[column])
    y1 = next_return(r, priced)
    rv = realized_variance_target(r, HORIZON, observed=priced)
    train = np.asarray(data.split.train, dtype=np.int64)
    train = train[np.isfinite(y1[train]) & np.isfinite(rv[train]) & (rv[train] > 0) & p.mask[column, train]]
    if train_rows is not None and train.size > train_rows:
        train = np.sort(np.random.default_rng(seed).choice(train, size=train_rows, replace=False))
    n = r.shape[0]
    ahead = np.arange(data.val_start, data.test_end)
    levels = [float(v) for v in quantile_levels]
    f_ret = fit_predict_learner(x[train], y1[train], x[ahead], kind="hgb", max_iter=max_iter, seed=seed)
    f_lrv = fit_predict_learner(
        x[train], np.log(rv[train]), x[ahead], kind="hgb", max_iter=max_iter, seed=seed
    )
    f_q = fit_predict_learner(
        x[train], y1[train], x[ahead], kind="hgb", quantiles=levels, max_iter=max_iter, seed=seed
    )
    out = {
        "return": np.full(n, np.nan),
        "variance": np.full(n, np.nan),
        "quantiles": np.full((n, len(levels)), np.nan),
    }
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
    out = rolling_calibration(out, r, static, window=ROLLING_WINDOW, observed=priced)
    out["levels"] = np.asarray(levels)
    return out


def learner_forecasts_all(
    data: DemoData, assets: Sequence[str], config: DemoConfig, quantile_levels: Sequence[float]
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`learner_forecasts` of every asset, with the run's learner budget and seed."""
    with needs_extra("eval"):
        from threadpoolctl import threadpool_limits

    # one OpenMP thread: on a busy 2-core machine scikit-learn's spinning threads cost 10x (measured)
    with threadpool_limits(limits=1):
        return {
            a: learner_forecasts(
                data,
                asset_column(data, a),
                train_rows=config.learner_rows,
                quantile_levels=quantile_levels,
                max_iter=config.learner_iter,
                seed=config.seed,
            )
            for a in assets
        }
