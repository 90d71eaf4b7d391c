"""Score a forecast in one call: the metric dicts that ``metrics.json`` and :func:`.criteria.evaluate_bar`
read, from arrays that may still hold the warm-up and end-of-sample NaNs (those rows are dropped and the
number scored is reported as ``n``).

Shapes:
    N: decision times; Q: quantile levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._checks import as_array, check_prob
from .backtest import BacktestResult
from .metrics import (
    crps_from_quantiles,
    directional_accuracy,
    interval_coverage,
    interval_width,
    mae,
    pinball_loss,
    pit_from_quantiles,
    qlike,
    rmse,
)
from .risk_tests import acerbi_szekely_z2, var_backtest
from .significance import diebold_mariano, sharpe_summary
from .targets import finite_rows

__all__ = [
    "dm_table",
    "loss_series",
    "point_scores",
    "quantile_scores",
    "strategy_scores",
    "var_es_scores",
    "variance_scores",
]


def _finite(*arrays: Any) -> tuple[np.ndarray, ...]:
    ok = finite_rows(*arrays)
    if not ok.any():
        raise ValueError("no row where every input is finite")
    return tuple(np.asarray(getattr(a, "to_numpy", lambda a=a: a)(), dtype=np.float64)[ok] for a in arrays)


def point_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """``{"mae", "rmse", "directional_accuracy", "n"}`` on the finite rows."""
    y, f = _finite(y_true, y_pred)
    return {
        "mae": mae(y, f),
        "rmse": rmse(y, f),
        "directional_accuracy": directional_accuracy(y, f),
        "n": float(y.size),
    }


def quantile_scores(
    y_true: Any,
    q_pred: Any,
    quantiles: Sequence[float],
    *,
    interval: float = 0.9,
    pit_bins: int = 10,
    volatility: Any = None,
) -> dict[str, Any]:
    """Pinball loss, CRPS, the central ``interval``'s coverage and width, calibration and a PIT histogram;
    with ``volatility``, the interval's coverage and width in each third of the rows sorted by it.

    An interval can reach its average coverage by covering calm bars more often than wild ones; the thirds
    show whether it holds where the risk is. Give every forecaster of a comparison the same ``volatility``
    (a causal one, known at each decision time: e.g. the trailing realised variance) so that their thirds
    hold the same rows.

    Args:
        y_true: outcomes, shape ``(N,)``.
        q_pred: quantile forecasts, shape ``(N, Q)``.
        quantiles: their levels, shape ``(Q,)``.
        interval: the central interval's probability. Default: 0.9.
        pit_bins: bins of the PIT histogram. Default: 10.
        volatility: the rows' sorting variable, shape ``(N,)``; rows where it is not finite are in no third.
            Default: None (no thirds).

    Returns:
        ``{"pinball", "crps", "coverage", "width", "calibration": {"levels", "observed"},
        "pit_histogram" (share per bin), "n"}``, with ``volatility`` also ``"by_volatility": {"edges"
        (the two cut points), "coverage", "width", "n"}`` (lists from the calmest third to the wildest);
        ``coverage``/``width`` are NaN if the interval's levels are not among ``quantiles``.
    """
    ok = finite_rows(y_true, q_pred)
    y, q = _finite(y_true, q_pred)
    levels = [check_prob(t, "quantiles") for t in quantiles]
    tau = (1.0 - check_prob(interval, "interval")) / 2.0
    lo = [i for i, t in enumerate(levels) if abs(t - tau) < 1e-9]
    hi = [i for i, t in enumerate(levels) if abs(t - (1.0 - tau)) < 1e-9]
    coverage = interval_coverage(y, q[:, lo[0]], q[:, hi[0]]) if lo and hi else float("nan")
    width = interval_width(q[:, lo[0]], q[:, hi[0]]) if lo and hi else float("nan")
    pit = pit_from_quantiles(y, q, levels)
    out: dict[str, Any] = {
        "pinball": pinball_loss(y, q, levels),
        "crps": crps_from_quantiles(y, q, levels),
        "coverage": coverage,
        "width": width,
        "calibration": {
            "levels": levels,
            "observed": [float(np.mean(y <= q[:, j])) for j in range(len(levels))],
        },
        "pit_histogram": (np.histogram(pit, bins=pit_bins, range=(0, 1))[0] / y.size).tolist(),
        "n": float(y.size),
    }
    if volatility is not None and lo and hi:
        v = as_array(volatility, "volatility")
        if v.shape[0] != ok.shape[0]:
            raise ValueError(f"volatility: {v.shape[0]} rows, expected {ok.shape[0]} (one per outcome)")
        out["by_volatility"] = _interval_thirds(y, q[:, lo[0]], q[:, hi[0]], v[ok])
    return out


def _interval_thirds(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, v: np.ndarray) -> dict[str, Any]:
    """Coverage and width of ``[lo, hi]`` in each third of the rows with a finite ``v``, sorted by ``v``."""
    has = np.isfinite(v)
    edges = np.quantile(v[has], [1 / 3, 2 / 3]) if has.any() else np.full(2, np.nan)
    third = np.digitize(v, edges)  # 0, 1, 2 (rows without a finite v are masked out below)
    rows = [has & (third == i) for i in range(3)]
    return {
        "edges": edges.tolist(),
        "coverage": [interval_coverage(y[r], lo[r], hi[r]) if r.any() else float("nan") for r in rows],
        "width": [interval_width(lo[r], hi[r]) if r.any() else float("nan") for r in rows],
        "n": [float(r.sum()) for r in rows],
    }


def variance_scores(realized: Any, forecast: Any) -> dict[str, float]:
    """``{"qlike", "rmse", "n"}`` of variance forecasts on the finite rows."""
    y, f = _finite(realized, forecast)
    return {"qlike": qlike(y, f), "rmse": rmse(y, f), "n": float(y.size)}


def var_es_scores(
    realized: Any, var: Any, level: float, *, es: Any = None, n_sims: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """:func:`.risk_tests.var_backtest` plus, with ``es``, the Acerbi-Szekely ``es_z2`` and ``es_p_value``
    (NaN with an ``es_note`` when the test is undefined for these forecasts, e.g. ES not above VaR)."""
    if es is None:
        x, v = _finite(realized, var)
        return var_backtest(x, v, level)
    x, v, e = _finite(realized, var, es)
    out: dict[str, Any] = var_backtest(x, v, level)
    try:
        z2 = acerbi_szekely_z2(x, v, e, level, n_sims=n_sims, seed=seed)
        out.update({"es_z2": z2["z2"], "es_p_value": z2["p_value"]})
    except ValueError as exc:  # e.g. ES not above VaR somewhere: the implied-normal test is undefined
        out.update({"es_z2": float("nan"), "es_p_value": float("nan"), "es_note": str(exc)})
    return out


def loss_series(kind: str, y_true: Any, y_pred: Any, quantiles: Sequence[float] | None = None) -> np.ndarray:
    """Per-row losses for Diebold-Mariano: ``"squared"``, ``"absolute"``, ``"qlike"`` (variances) or
    ``"pinball"`` (``y_pred`` ``(N, Q)`` with ``quantiles``; mean over levels). NaN where an input is NaN.
    """
    y = as_array(y_true, "y_true")
    f = as_array(y_pred, "y_pred", ndim=1 if kind != "pinball" else 2)
    if kind == "squared":
        return (y - f) ** 2
    if kind == "absolute":
        return np.abs(y - f)
    if kind == "qlike":
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum(y, 1e-300) / f
            return ratio - np.log(ratio) - 1.0
    if kind == "pinball":
        if quantiles is None:
            raise ValueError("quantiles: required for kind='pinball'")
        levels = np.asarray(quantiles, dtype=np.float64)
        diff = y[:, None] - f
        return np.mean(np.maximum(levels * diff, (levels - 1.0) * diff), axis=1)
    raise ValueError(f"kind={kind!r}: expected 'squared', 'absolute', 'qlike' or 'pinball'")


def dm_table(
    model_losses: Mapping[str, Any], baseline_losses: Mapping[str, Any], *, horizon: int = 1
) -> list[dict[str, Any]]:
    """Diebold-Mariano test of every model against every baseline, on the rows where both are finite.

    Returns:
        One row per pair: ``{"model", "baseline", "dm_statistic", "p_value", "mean_loss_difference", "n",
        "model_better"}`` (negative statistic = the model's loss is lower; NaN statistic and p-value when
        the two loss series are identical).
    """
    rows: list[dict[str, Any]] = []
    for model, lm in model_losses.items():
        for base, lb in baseline_losses.items():
            a, b = _finite(lm, lb)
            if np.array_equal(a, b):  # the same forecast (e.g. a zero model against the zero baseline)
                res = {
                    "statistic": float("nan"),
                    "p_value": float("nan"),
                    "mean_difference": 0.0,
                    "n": float(a.size),
                }
            else:
                res = diebold_mariano(a, b, horizon=horizon)
            rows.append(
                {
                    "model": model,
                    "baseline": base,
                    "dm_statistic": res["statistic"],
                    "p_value": res["p_value"],
                    "mean_loss_difference": res["mean_difference"],
                    "n": res["n"],
                    "model_better": bool(res["statistic"] < 0),
                }
            )
    return rows


def strategy_scores(
    result: BacktestResult, *, n_configs: int, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """A backtest's figures with the Sharpe ratio reported as it should be: its block-bootstrap interval,
    the number of configurations tried and the deflated Sharpe ratio (``config`` included)."""
    out: dict[str, Any] = dict(result.metrics)
    summary = sharpe_summary(
        result.net_returns,
        n_configs=n_configs,
        periods_per_year=int(result.metrics["config"]["periods_per_year"]),
        n_boot=n_boot,
        seed=seed,
    )
    out.update({k: v for k, v in summary.items() if k != "sharpe"})
    return out
