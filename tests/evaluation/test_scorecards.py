"""One-call scorecards: NaN rows dropped, figures equal to the single metrics, DM table, strategy Sharpe."""

from __future__ import annotations

import numpy as np
import pytest

from ml_attention_mechanisms.evaluation import (
    BacktestConfig,
    crps_from_quantiles,
    diebold_mariano,
    dm_table,
    evaluate_bar,
    loss_series,
    mae,
    point_scores,
    qlike,
    quantile_scores,
    run_backtest,
    strategy_scores,
    var_backtest,
    var_es_scores,
    variance_scores,
)


def test_point_and_variance_scores_drop_nan_rows() -> None:
    rng = np.random.default_rng(0)
    y, f = rng.normal(size=100), rng.normal(size=100)
    y[:5], f[-3:] = np.nan, np.nan
    out = point_scores(y, f)
    assert out["n"] == 92 and out["mae"] == pytest.approx(mae(y[5:-3], f[5:-3]))
    v, g = rng.uniform(0.5, 2, 50), rng.uniform(0.5, 2, 50)
    g[0] = np.nan
    assert variance_scores(v, g)["qlike"] == pytest.approx(qlike(v[1:], g[1:]))
    with pytest.raises(ValueError, match="no row"):
        point_scores([np.nan], [1.0])


def test_quantile_scores() -> None:
    rng = np.random.default_rng(1)
    levels = [0.05, 0.5, 0.95]
    y = rng.standard_normal(2000)
    q = np.tile([-1.645, 0.0, 1.645], (2000, 1))
    out = quantile_scores(y, q, levels)
    assert out["coverage"] == pytest.approx(np.mean((y >= -1.645) & (y <= 1.645)))
    assert out["width"] == pytest.approx(3.29) and out["crps"] == pytest.approx(
        crps_from_quantiles(y, q, levels)
    )
    assert out["calibration"]["observed"][1] == pytest.approx(np.mean(y <= 0))
    assert sum(out["pit_histogram"]) == pytest.approx(1.0)
    assert np.isnan(quantile_scores(y, q, levels, interval=0.8)["coverage"])


def test_quantile_scores_by_volatility_thirds_match_a_plain_reference() -> None:
    """A constant-width interval on heteroskedastic outcomes: it over-covers the calm third and
    under-covers the wild one, which the overall coverage hides."""
    rng = np.random.default_rng(3)
    n = 3000
    sigma = np.exp(rng.normal(0, 0.6, n))
    y = sigma * rng.standard_normal(n)
    q = np.tile([-1.645, 0.0, 1.645], (n, 1)) * np.median(sigma)
    q[:, 2] += rng.uniform(0, 0.1, n)  # widths that differ by row
    vol = sigma**2
    vol[7] = np.nan  # in no third
    y[11] = np.nan  # not scored at all
    out = quantile_scores(y, q, [0.05, 0.5, 0.95], volatility=vol)["by_volatility"]
    ok = np.isfinite(y)
    yy, lo, hi, v = y[ok], q[ok, 0], q[ok, 2], vol[ok]
    has = np.isfinite(v)
    edges = np.quantile(v[has], [1 / 3, 2 / 3])
    for i, (a, b) in enumerate([(-np.inf, edges[0]), (edges[0], edges[1]), (edges[1], np.inf)]):
        rows = has & (v >= a) & (v < b)
        assert out["n"][i] == rows.sum()
        assert out["coverage"][i] == pytest.approx(np.mean((yy[rows] >= lo[rows]) & (yy[rows] <= hi[rows])))
        assert out["width"][i] == pytest.approx(np.mean(hi[rows] - lo[rows]))
    assert sum(out["n"]) == n - 2 and out["edges"] == pytest.approx(edges.tolist())
    assert out["coverage"][0] > 0.97 and out["coverage"][2] < 0.8
    assert "by_volatility" not in quantile_scores(y, q, [0.05, 0.5, 0.95])
    with pytest.raises(ValueError, match="volatility: 5 rows, expected 3000"):
        quantile_scores(y, q, [0.05, 0.5, 0.95], volatility=vol[:5])


def test_var_es_scores_feed_the_bar() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1500)
    var, es = np.full(1500, 1.6449), np.full(1500, 2.0627)
    out = var_es_scores(x, var, 0.95, es=es, n_sims=200)
    base = var_backtest(x, var, 0.95)
    assert all(out[k] == base[k] for k in base) and "es_p_value" in out
    bar = evaluate_bar({"assets": {"BTC": {"var95": out, "var99": out}}}, assets=["BTC"], strategy_kinds=[])
    assert [c["passed"] for c in bar["criteria"] if c["criterion"] == "var95"] == [True]


def test_dm_table_and_losses() -> None:
    rng = np.random.default_rng(3)
    y = rng.standard_normal(400)
    model = y + 0.2 * rng.standard_normal(400)
    losses = {"model": loss_series("squared", y, model)}
    base = {
        "zero": loss_series("squared", y, np.zeros(400)),
        "noisy": loss_series("absolute", y, y + rng.standard_normal(400)),
    }
    rows = dm_table(losses, base)
    assert [(r["model"], r["baseline"]) for r in rows] == [("model", "zero"), ("model", "noisy")]
    assert rows[0]["model_better"] and rows[0]["p_value"] < 1e-6
    assert rows[0]["dm_statistic"] == pytest.approx(
        diebold_mariano(losses["model"], base["zero"])["statistic"]
    )
    q = np.column_stack([model - 1, model, model + 1])
    pin = loss_series("pinball", y, q, [0.1, 0.5, 0.9])
    assert pin.shape == (400,) and np.all(pin >= 0)
    with pytest.raises(ValueError, match="kind='log'"):
        loss_series("log", y, model)


def test_strategy_scores_put_configurations_beside_the_sharpe() -> None:
    r = np.random.default_rng(4).normal(0.0002, 0.01, 800)
    res = run_backtest(np.ones(800), r, BacktestConfig(fee_bps=5))
    out = strategy_scores(res, n_configs=7, n_boot=100)
    assert out["sharpe"] == res.metrics["sharpe"] and out["n_configs_tried"] == 7
    assert out["sharpe_ci_low"] < out["sharpe"] < out["sharpe_ci_high"]
    assert out["config"]["fee_bps"] == 5


def test_dm_table_marks_identical_forecasts_instead_of_failing() -> None:
    loss = np.random.default_rng(5).uniform(size=50)
    row = dm_table({"model": loss}, {"zero": loss.copy()})[0]
    assert np.isnan(row["dm_statistic"]) and np.isnan(row["p_value"]) and row["mean_loss_difference"] == 0
