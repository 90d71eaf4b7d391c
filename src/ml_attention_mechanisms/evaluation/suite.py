"""Models against baselines in one call per asset and per strategy kind, in the schema that
:func:`.criteria.evaluate_bar` reads.

The caller gives the full return series (so that baselines and rolling refits see the history before the
test split) and the model's outputs on the same decision-time index (NaN outside the test split); the
baselines are computed here, without look-ahead, and everything is scored on the test rows only: within a
table, every forecaster on the same rows (the test rows where all of them and the target are finite).

Shapes:
    T: bars of the full series; Q: quantile levels; A: assets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import as_array, check_int
from .backtest import BacktestConfig, VolTargetConfig, rebalance_mask, run_backtest, run_portfolio_backtest
from .baselines import (
    HAR_MIN_TRAIN,
    buy_and_hold_positions,
    equal_weight_weights,
    garch_forecast,
    har_rv_forecast,
    historical_var_es,
    inverse_volatility_weights,
    last_window_variance_forecast,
    mean_forecast,
    min_variance_weights,
    momentum_positions,
    normal_var_es,
    ridge_forecast,
    rolling_correlation_forecast,
    rolling_drawdown_forecast,
    rolling_quantile_forecast,
    vol_target_buy_and_hold_positions,
    vol_target_portfolio_weights,
    zero_forecast,
)
from .conformal import ConformalQuantileCalibrator
from .metrics import correlation_forecast_error, drawdown_forecast_error
from .scorecards import (
    dm_table,
    loss_series,
    point_scores,
    quantile_scores,
    strategy_scores,
    var_es_scores,
    variance_scores,
)
from .targets import (
    future_return_target,
    realized_correlation_target,
    realized_variance_target,
    trailing_sum,
)

__all__ = [
    "evaluate_asset_forecasts",
    "evaluate_correlation_forecasts",
    "evaluate_portfolio_strategy",
    "evaluate_signal_strategy",
]


def _in_test(n: int, test_start: int, test_end: int | None) -> np.ndarray:
    rows = np.zeros(n, dtype=bool)
    rows[test_start : n if test_end is None else test_end] = True
    return rows


def _only(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.array(x, dtype=np.float64, copy=True)
    out[~rows] = np.nan
    return out


def _common_rows(rows: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """The test rows where every array (target and forecasts; 2-D: every column) is finite."""
    ok = rows.copy()
    for a in arrays:
        ok &= np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return ok


def _others(extra: Mapping[str, Mapping[str, Any]], key: str) -> dict[str, np.ndarray]:
    """The ``key`` forecasts (``"return"``, ``"variance"``) of the further forecasters that give one."""
    return {name: as_array(o[key], f"others[{name!r}][{key!r}]") for name, o in extra.items() if key in o}


def _by_period(
    periods: Any, ok: np.ndarray, y: np.ndarray, forecasts: Mapping[str, np.ndarray]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{label: {name: variance scores}}`` over the rows ``ok`` that carry each label, in order of appearance."""
    labels = np.asarray(periods)
    if labels.shape != ok.shape:
        raise ValueError(f"periods: shape {labels.shape}, expected ({ok.shape[0]},) (one label per bar)")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for label in dict.fromkeys(labels[ok].tolist()):
        rows = ok & (labels == label)
        out[str(label)] = {k: variance_scores(_only(y, rows), _only(f, rows)) for k, f in forecasts.items()}
    return out


def _need(ok: np.ndarray, block: str, names: Sequence[str]) -> np.ndarray:
    if not ok.any():
        raise ValueError(
            f"{block}: no test row where the target and every forecast ({', '.join(names)}) are finite"
        )
    return ok


def evaluate_asset_forecasts(
    returns: Any,
    *,
    test_start: int,
    test_end: int | None = None,
    train_end: int | None = None,
    return_forecast: Any = None,
    variance_forecast: Any = None,
    quantile_forecast: Any = None,
    quantile_levels: Sequence[float] | None = None,
    quantile_horizon: int = 1,
    empirical_quantiles: Any = None,
    calibration_start: int | None = None,
    var_forecasts: Mapping[float, tuple[Any, Any]] | None = None,
    drawdown_forecast: Any = None,
    others: Mapping[str, Mapping[str, Any]] | None = None,
    horizon: int = 24,
    refit_every: int = 168,
    n_sims: int = 1000,
    observed: Any = None,
    periods: Any = None,
) -> dict[str, Any]:
    """One asset's forecasts scored against every baseline on the test rows ``[test_start, test_end)``.

    Like with like: every figure of a part (returns, volatility, interval, each VaR level, drawdown) is
    computed on the same rows, those of the test split where the target and every forecast of that part
    (the model's, each baseline's, each of ``others``) are finite; their number is each entry's ``"n"``. A
    forecast missing where the others are defined shrinks the rows of every forecaster of the part, never
    only its own: the caller checks that the model forecast every row it had inputs for.

    Args:
        returns: the asset's hourly log returns over the whole sample, shape ``(T,)``, finite.
        test_start: first decision time of the test split.
        test_end: end (exclusive) of the test split. Default: T.
        train_end: end of the training split, for the training-mean baseline. Default: ``test_start``.
        return_forecast: model's next-bar return forecasts, shape ``(T,)``.
        variance_forecast: model's next-``horizon``-bar realised-variance forecasts, shape ``(T,)``.
        quantile_forecast: model's quantiles of the next-``quantile_horizon``-bar log return, shape
            ``(T, Q)``, with ``quantile_levels``
            (symmetric pairs; 0.05 and 0.95 give the 90% interval).
        calibration_start: if given, the quantiles are calibrated by CQR on the validation rows
            ``[calibration_start, test_start - quantile_horizon + 1)`` (targets ending before the test
            split) before scoring (``"model"``: calibrated, ``"model_raw"``: as given).
        quantile_horizon: bars of the quantiles' target. Default: 1.
        empirical_quantiles: the empirical-quantile baseline where the caller has it already,
            ``rolling_quantile_forecast(returns, quantile_levels, horizon=quantile_horizon)``, shape
            ``(T, Q)``. Default: None (computed here).
        var_forecasts: ``{level: (var, es or None)}`` one-bar VaR/ES of the model, each shape ``(T,)``.
        drawdown_forecast: model's forecast of the next-``horizon``-bar maximum drawdown, shape ``(T,)``
            (scored against the rolling mean of past drawdowns under ``"drawdown"``).
        others: further forecasters scored beside the baselines, on the same rows: name -> any of
            ``"return"`` ``(T,)``, ``"variance"`` ``(T,)``, ``"quantiles"`` ``(T, Q)`` at the model's
            ``quantile_levels`` (an optional ``"quantile_levels"`` must equal them: pinball and CRPS average
            over the levels) (e.g. a non-attention learner, or the model's uncalibrated quantiles).
            Their Diebold-Mariano rows against the model are included. Default: None.
        horizon: bars of the variance target. Default: 24.
        refit_every: refit interval of the rolling baselines. Default: 168.
        n_sims: simulations of the Acerbi-Szekely p-value. Default: 1000.
        observed: bool, shape ``(T,)``: True where the bar has a price; ``returns`` are then previous-tick
            returns (0 at a bar without a price, the move across a gap on the bar after it), and a target
            whose last bar has no price is not scored (:func:`~.targets.observed_target`). Default: None
            (every bar has a price).
        periods: a label per bar, shape ``(T,)`` (e.g. the month of each decision time): the variance is
            also scored per label, on the rows of the volatility table that carry it. Default: None.

    Returns:
        ``{"returns": {name: point scores}, "volatility": {name: variance scores}, "interval90":
        {name: quantile scores, with coverage and width in each third of the test rows by the realised
        variance of the last ``horizon`` bars}, "var95"/"var99": the model's VaR backtest, "var_baselines":
        {"historical": {...}, "garch_normal": {...}}, "dm": Diebold-Mariano rows}`` (with ``periods``, also
        ``"volatility_by_period": {label: {name: variance scores}}``), each part present when the model
        output it needs is given (baselines of that part included).

    Raises:
        ValueError: bad shapes or splits; a part without a single test row where every forecast is finite;
            quantiles in ``others`` at levels other than the model's.
    """
    r = as_array(returns, "returns", allow_nan=False)
    n = r.shape[0]
    test_start = check_int(test_start, "test_start", minimum=1)
    if test_start >= n or (test_end is not None and not test_start < test_end <= n):
        raise ValueError(f"test_start={test_start}, test_end={test_end}: expected 0 < start < end <= {n}")
    rows = _in_test(n, test_start, test_end)
    extra = dict(others or {})
    out: dict[str, Any] = {}
    dm_rows: list[dict[str, Any]] = []
    min_train = min(720, test_start)
    if return_forecast is not None:
        y = future_return_target(r, 1, observed=observed)
        forecasts = {
            "model": as_array(return_forecast, "return_forecast"),
            "zero": zero_forecast(r),
            "training_mean": mean_forecast(r, train_size=train_end or test_start),
            "ridge": ridge_forecast(
                r, min_train=max(min_train, 64), refit_every=refit_every, start=test_start
            ),
            **_others(extra, "return"),
        }
        ok = _need(_common_rows(rows, y, *forecasts.values()), "returns", list(forecasts))
        out["returns"] = {k: point_scores(_only(y, ok), _only(f, ok)) for k, f in forecasts.items()}
        losses = {k: loss_series("squared", _only(y, ok), _only(f, ok)) for k, f in forecasts.items()}
        dm_rows += [{"target": "return", **d} for d in dm_table({"model": losses.pop("model")}, losses)]
    garch_fit = None  # one set of rolling GARCH fits serves the variance and the VaR baselines
    if variance_forecast is not None or var_forecasts:
        garch_fit = garch_forecast(
            r, horizon=horizon, min_train=min_train, refit_every=refit_every, start=test_start
        )
    if variance_forecast is not None and garch_fit is not None:
        y = realized_variance_target(r, horizon, observed=observed)
        forecasts = {
            "model": as_array(variance_forecast, "variance_forecast"),
            "har_rv": har_rv_forecast(
                r,
                horizon=horizon,
                min_train=min(HAR_MIN_TRAIN, test_start),
                refit_every=refit_every,
                start=test_start,
            ),
            "garch": garch_fit.variance,
            "last_window": last_window_variance_forecast(r, window=24, horizon=horizon),
            **_others(extra, "variance"),
        }
        ok = _need(_common_rows(rows, y, *forecasts.values()), "volatility", list(forecasts))
        out["volatility"] = {k: variance_scores(_only(y, ok), _only(f, ok)) for k, f in forecasts.items()}
        if periods is not None:
            out["volatility_by_period"] = _by_period(periods, ok, y, forecasts)
        losses = {k: loss_series("qlike", _only(y, ok), _only(f, ok)) for k, f in forecasts.items()}
        dm_rows += [
            {"target": "variance", **d}
            for d in dm_table({"model": losses.pop("model")}, losses, horizon=horizon)
        ]
    if quantile_forecast is not None:
        if quantile_levels is None:
            raise ValueError("quantile_levels: required with quantile_forecast")
        levels = list(quantile_levels)
        q = as_array(quantile_forecast, "quantile_forecast", ndim=2)
        quantile_horizon = check_int(quantile_horizon, "quantile_horizon")
        y_all = future_return_target(r, quantile_horizon, observed=observed)
        sets: dict[str, tuple[np.ndarray, list[float]]] = {}
        if calibration_start is not None:
            # validation rows whose targets end before the test split's first bar (no shared bars)
            cal_end = test_start - (quantile_horizon - 1)
            cal_rows = _in_test(n, check_int(calibration_start, "calibration_start", minimum=0), cal_end)
            ok = cal_rows & np.isfinite(y_all) & np.isfinite(q).all(axis=1)
            calibrator = ConformalQuantileCalibrator.fit(y_all[ok], q[ok], levels)
            sets["model_raw"] = (q, levels)
            given = np.isfinite(q).all(axis=1)
            q = q.copy()
            q[given] = calibrator.transform(q[given])
        sets["model"] = (q, levels)
        if empirical_quantiles is None:
            empirical_quantiles = rolling_quantile_forecast(r, levels, horizon=quantile_horizon)
        empirical = as_array(empirical_quantiles, "empirical_quantiles", ndim=2)
        if empirical.shape != (n, len(levels)):
            raise ValueError(f"empirical_quantiles: shape {empirical.shape}, expected {(n, len(levels))}")
        sets["empirical_quantile"] = (empirical, levels)
        for k, o in extra.items():
            if "quantiles" in o:
                given = [float(v) for v in o.get("quantile_levels", levels)]
                if len(given) != len(levels) or not np.allclose(given, levels, rtol=0.0, atol=1e-9):
                    # pinball and CRPS average over the levels: fewer or other levels score another loss
                    raise ValueError(
                        f"others[{k!r}]['quantile_levels']={given}: expected the model's levels {levels} "
                        "(pinball and CRPS compare forecasters only over the same levels)"
                    )
                sets[k] = (as_array(o["quantiles"], f"others[{k!r}]['quantiles']", ndim=2), levels)
        ok = _need(_common_rows(rows, y_all, *(f for f, _ in sets.values())), "interval90", list(sets))
        # the same thirds for every forecaster: by the realised variance of the last `horizon` bars at t
        trailing_variance = _only(trailing_sum(r**2, horizon), ok)
        out["interval90"] = {
            k: quantile_scores(_only(y_all, ok), _only(f, ok), lv, volatility=trailing_variance)
            for k, (f, lv) in sets.items()
        }
    if var_forecasts and garch_fit is not None:
        x = future_return_target(r, 1, observed=observed)
        hist = historical_var_es(r, list(var_forecasts))
        garch = normal_var_es(garch_fit, list(var_forecasts))
        baselines: dict[str, dict[str, Any]] = {"historical": {}, "garch_normal": {}}
        for level, (var, es) in var_forecasts.items():
            key = f"var{round(level * 100):d}"
            sets_v = {
                "model": (as_array(var, "var"), None if es is None else as_array(es, "es")),
                "historical": hist[level],
                "garch_normal": garch[level],
            }
            arrays = [a for pair in sets_v.values() for a in pair if a is not None]
            ok = _need(_common_rows(rows, x, *arrays), key, list(sets_v))

            def score(v: np.ndarray, e: Any, ok: np.ndarray = ok, level: float = level) -> dict[str, Any]:
                return var_es_scores(
                    _only(x, ok), _only(v, ok), level, es=None if e is None else _only(e, ok), n_sims=n_sims
                )

            out[key] = score(*sets_v["model"])
            for name in ("historical", "garch_normal"):
                baselines[name][key] = score(*sets_v[name])
        out["var_baselines"] = baselines
    if drawdown_forecast is not None:
        given = {
            "model": as_array(drawdown_forecast, "drawdown_forecast"),
            "rolling_mean": rolling_drawdown_forecast(r, horizon=horizon),
        }
        ok = _need(_common_rows(rows, *given.values()), "drawdown", list(given))
        out["drawdown"] = {
            k: drawdown_forecast_error(r, _only(f, ok), horizon=horizon) for k, f in given.items()
        }
    out["dm"] = dm_rows
    return out


def evaluate_signal_strategy(
    returns: Any,
    positions: Any,
    *,
    test_start: int,
    test_end: int | None = None,
    config: BacktestConfig | None = None,
    n_configs: int = 1,
    n_boot: int = 1000,
    vol_target: VolTargetConfig | None = None,
) -> dict[str, Any]:
    """A single-asset strategy against buy-and-hold and 24-bar momentum (and, with ``vol_target``, the
    volatility-targeted buy-and-hold sized by HAR-RV), backtested on the test span.

    Args:
        returns: the asset's log returns over the whole sample, shape ``(T,)``, finite (the baselines read
            the history before the test span).
        positions: the strategy's positions indexed by decision time, shape ``(T,)`` (only the test span is
            used).
        vol_target: the sizing of ``buy_and_hold_vol_target`` (chosen on validation by the caller); None =
            no such baseline. Its band starts flat at ``test_start``.

    Returns:
        ``{"model": strategy scores, "baselines": {"buy_and_hold": ..., "momentum_24": ...,
        ["buy_and_hold_vol_target": ...]}}`` plus the equity curves under ``"equity"`` (arrays, for the
        report).
    """
    r = as_array(returns, "returns", allow_nan=False)
    end = r.shape[0] if test_end is None else test_end
    span = slice(check_int(test_start, "test_start", minimum=0), end)
    candidates = {
        "model": as_array(positions, "positions"),
        "buy_and_hold": buy_and_hold_positions(r),
        "momentum_24": momentum_positions(r, lookback=24),
    }
    if vol_target is not None:
        candidates["buy_and_hold_vol_target"] = vol_target_buy_and_hold_positions(
            r, vol_target, start=span.start, min_train=min(HAR_MIN_TRAIN, span.start)
        )
    results = {k: run_backtest(p[span], r[span], config) for k, p in candidates.items()}
    return {
        "model": strategy_scores(results["model"], n_configs=n_configs, n_boot=n_boot),
        "baselines": {
            k: strategy_scores(v, n_configs=1, n_boot=n_boot) for k, v in results.items() if k != "model"
        },
        "equity": {k: v.equity for k, v in results.items()},
    }


_VOL_TARGET_PORTFOLIOS = ("equal_weight_vol_target", "risk_parity_vol_target")


def evaluate_portfolio_strategy(
    returns: Any,
    weights: Any,
    timestamps: Any,
    *,
    test_start: int,
    test_end: int | None = None,
    config: BacktestConfig | None = None,
    n_configs: int = 1,
    n_boot: int = 1000,
    cov_window: int = 720,
    vol_targets: Mapping[str, VolTargetConfig] | None = None,
    listed: Any = None,
) -> dict[str, Any]:
    """Portfolio weights against equal-weight, inverse-volatility and minimum-variance portfolios (and,
    with ``vol_targets``, volatility-targeted equal weight and risk parity sized by HAR-RV), all rebalanced
    on the config's schedule (daily at 00:00 UTC by default), backtested on the test span.

    Args:
        returns: log returns, shape ``(T, A)``, finite.
        weights: the model's target weights, shape ``(T, A)``; only rebalance bars are used (a NaN row at
            one: no decision, the held weights drift).
        timestamps: DatetimeIndex or int64 Unix seconds, shape ``(T,)``.
        vol_targets: baseline name (``"equal_weight_vol_target"``, ``"risk_parity_vol_target"``) -> its
            sizing (chosen on validation by the caller); each named one is added. Default: none.
        listed: bool ``(T, A)``: the asset trades at ``t`` or did before (the volatility-targeted baselines
            fit HAR-RV on each asset's own bars). Default: all.

    Returns:
        ``{"model": ..., "baselines": {"equal_weight", "inverse_volatility", "min_variance", [the
        volatility-targeted ones]}, "equity", "weights"}``.

    Raises:
        ValueError: bad shapes, or an unknown name in ``vol_targets``.
    """
    cfg = config or BacktestConfig()
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    end = r.shape[0] if test_end is None else test_end
    span = slice(check_int(test_start, "test_start", minimum=0), end)
    mask = rebalance_mask(timestamps, cfg) & _in_test(
        r.shape[0], span.start, end
    )  # weights needed in span only
    model = as_array(weights, "weights", ndim=2).copy()
    model[~mask] = np.nan
    candidates = {
        "model": model,
        "equal_weight": equal_weight_weights(r, mask),
        "inverse_volatility": inverse_volatility_weights(r, mask, window=cov_window),
        "min_variance": min_variance_weights(r, mask, window=cov_window),
    }
    for name, sizing in (vol_targets or {}).items():
        allocation = name.removesuffix("_vol_target")
        if name not in _VOL_TARGET_PORTFOLIOS:
            raise ValueError(
                f"vol_targets: {name!r} is no baseline; expected one of {_VOL_TARGET_PORTFOLIOS}"
            )
        candidates[name] = vol_target_portfolio_weights(
            r, mask, sizing, allocation=allocation, listed=listed, window=cov_window
        )
    results = {k: run_portfolio_backtest(w[span], r[span], cfg) for k, w in candidates.items()}
    return {
        "model": strategy_scores(results["model"], n_configs=n_configs, n_boot=n_boot),
        "baselines": {
            k: strategy_scores(v, n_configs=1, n_boot=n_boot) for k, v in results.items() if k != "model"
        },
        "equity": {k: v.equity for k, v in results.items()},
        "weights": {k: w[span] for k, w in candidates.items()},
    }


def evaluate_correlation_forecasts(
    returns: Any,
    forecast: Any,
    *,
    test_start: int,
    test_end: int | None = None,
    horizon: int = 24,
    window: int = 720,
) -> dict[str, dict[str, float]]:
    """Correlation-matrix forecasts of the next ``horizon`` bars against the rolling ``window``-bar
    correlation, on the test rows.

    Args:
        returns: log returns, shape ``(T, A)``, finite.
        forecast: the model's correlation matrices, shape ``(T, A, A)`` (NaN outside the test split).

    Returns:
        ``{"model": {...}, "rolling": {...}}`` of :func:`.metrics.correlation_forecast_error` figures plus
        ``"n"``.
    """
    r = as_array(returns, "returns", ndim=2, allow_nan=False)
    f = as_array(forecast, "forecast", ndim=3)
    rows = _in_test(r.shape[0], check_int(test_start, "test_start", minimum=0), test_end)
    target = realized_correlation_target(r, horizon)
    out: dict[str, dict[str, float]] = {}
    for name, pred in (("model", f), ("rolling", rolling_correlation_forecast(r, window=window))):
        ok = rows & np.isfinite(target).all(axis=(1, 2)) & np.isfinite(pred).all(axis=(1, 2))
        if not ok.any():
            raise ValueError(f"{name}: no test row with a finite forecast and target")
        out[name] = {**correlation_forecast_error(target[ok], pred[ok]), "n": float(ok.sum())}
    return out
