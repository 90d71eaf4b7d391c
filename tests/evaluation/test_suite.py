"""Models against baselines per asset and per strategy kind: the schema of the bar, figures equal to the
single functions, baselines only on the test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_attention_mechanisms.evaluation import (
    BacktestConfig,
    comparison_tables,
    evaluate_asset_forecasts,
    evaluate_bar,
    evaluate_correlation_forecasts,
    evaluate_portfolio_strategy,
    evaluate_signal_strategy,
    future_return_target,
    garch_forecast,
    momentum_positions,
    realized_variance_target,
    rolling_quantile_forecast,
    run_backtest,
    variance_scores,
)
from ml_attention_mechanisms.evaluation.targets import trailing_sum

N, TEST = 2600, 2000


def _garch_series(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-7, 0.05, 0.93
    r, s2 = np.empty(N), np.empty(N + 1)
    s2[0] = omega / (1 - alpha - beta)
    for t in range(N):
        r[t] = np.sqrt(s2[t]) * rng.standard_normal()
        s2[t + 1] = omega + alpha * r[t] ** 2 + beta * s2[t]
    return r, s2[1:]  # s2[1:][t] = variance of r[t+1], known at t


def test_asset_forecasts_scored_against_every_baseline() -> None:
    r, sigma2_next = _garch_series(0)
    p = 0.98
    vbar = 2e-7 / (1 - p)
    oracle = 24 * vbar + (sigma2_next - vbar) * (1 - p**24) / (1 - p)  # true E_t[next-24-bar variance]
    z = np.array([-1.645, 0.0, 1.645])
    quantiles = np.sqrt(sigma2_next)[:, None] * z[None, :] * 0.8  # too narrow: CQR must widen it
    var95 = 1.645 * np.sqrt(sigma2_next)
    es95 = np.sqrt(sigma2_next) * 2.0627
    out = evaluate_asset_forecasts(
        r,
        test_start=TEST,
        return_forecast=np.zeros(N),
        variance_forecast=oracle,
        quantile_forecast=quantiles,
        quantile_levels=[0.05, 0.5, 0.95],
        calibration_start=1000,
        var_forecasts={0.95: (var95, es95)},
        refit_every=300,
        n_sims=200,
    )
    assert set(out["returns"]) == {"model", "zero", "training_mean", "ridge"}
    assert set(out["volatility"]) == {"model", "har_rv", "garch", "last_window"}
    y = realized_variance_target(r)
    garch = garch_forecast(r, min_train=720, refit_every=300, start=TEST).variance
    rows = np.arange(N) >= TEST
    assert out["volatility"]["garch"]["qlike"] == pytest.approx(
        variance_scores(y[rows], garch[rows])["qlike"]
    )
    assert out["volatility"]["model"]["n"] == N - TEST - 24
    assert out["volatility"]["model"]["qlike"] < out["volatility"]["last_window"]["qlike"]
    cov_raw = out["interval90"]["model_raw"]["coverage"]
    assert cov_raw < 0.86 < out["interval90"]["model"]["coverage"]
    assert out["var95"]["n"] == N - TEST - 1 and "es_p_value" in out["var95"]
    assert set(out["var_baselines"]) == {"historical", "garch_normal"}
    assert {row["target"] for row in out["dm"]} == {"return", "variance"}
    bar = evaluate_bar({"assets": {"BTC": out}}, assets=["BTC"], strategy_kinds=[])
    assert {c["criterion"] for c in bar["criteria"]} == {"volatility", "interval90", "var95", "var99"}
    assert "missing figure" in next(c for c in bar["criteria"] if c["criterion"] == "var99")["rule"]

    tables = comparison_tables({"BTC": out})
    assert len(tables["Volatility (QLIKE)"]) == 4 and len(tables["Returns (RMSE)"]) == 4
    assert [r["forecast"] for r in tables["90% intervals"]] == ["model_raw", "model", "empirical_quantile"]
    model_row = tables["90% intervals"][1]
    assert model_row["coverage_wild"] == out["interval90"]["model"]["by_volatility"]["coverage"][2]
    assert [r["forecast"] for r in tables["VaR backtests"]] == ["model", "historical", "garch_normal"]
    assert len(tables["Diebold-Mariano: model vs baselines"]) == len(out["dm"]) == 6


def test_signal_strategy_against_its_baselines() -> None:
    r, _ = _garch_series(1)
    cfg = BacktestConfig(fee_bps=5)
    model = momentum_positions(r, lookback=12)
    out = evaluate_signal_strategy(r, model, test_start=TEST, config=cfg, n_configs=3, n_boot=50)
    direct = run_backtest(model[TEST:], r[TEST:], cfg)
    assert out["model"]["sharpe"] == pytest.approx(direct.metrics["sharpe"])
    assert out["model"]["n_configs_tried"] == 3 and out["model"]["config"]["fee_bps"] == 5
    assert set(out["baselines"]) == {"buy_and_hold", "momentum_24"}
    assert out["equity"]["model"].shape == (N - TEST,)


def test_portfolio_strategy_against_its_baselines() -> None:
    rng = np.random.default_rng(2)
    r = rng.normal(0, 0.01, (N, 3)) * [1.0, 1.5, 2.0]
    idx = pd.date_range("2024-01-01", periods=N, freq="h", tz="UTC")
    weights = np.tile([0.6, 0.3, 0.1], (N, 1))
    out = evaluate_portfolio_strategy(r, weights, idx, test_start=TEST, n_boot=50)
    assert set(out["baselines"]) == {"equal_weight", "inverse_volatility", "min_variance"}
    w = out["weights"]["model"]
    decided = ~np.isnan(w).all(axis=1)
    assert all(ts.hour == 0 for ts in idx[TEST:][decided]) and decided.sum() == 25
    rows = comparison_tables({}, {"portfolio": out})["Strategies (net of costs)"]
    assert [r["strategy"] for r in rows] == ["model", "equal_weight", "inverse_volatility", "min_variance"]
    assert [r["holds"] for r in rows] == [None] * 4  # no choice made: nothing said
    held = comparison_tables({}, {"portfolio": {**out, "holds": "equal_weight"}})["Strategies (net of costs)"]
    assert [r["holds"] for r in held] == ["equal_weight", None, None, None]
    assert all(r["n_configs_tried"] == 1 and r["sharpe_ci_low"] <= r["sharpe"] for r in rows)
    bar = evaluate_bar(
        {"strategies": {"portfolio": {"model": out["model"], "baselines": out["baselines"]}}},
        assets=[],
        strategy_kinds=["portfolio"],
    )
    best = max(v["sharpe"] for v in out["baselines"].values())
    assert bar["criteria"][0]["passed"] == (out["model"]["sharpe"] > best)


def test_vol_targeted_baselines_join_the_strategy_tables() -> None:
    from ml_attention_mechanisms.evaluation import (
        VolTargetConfig,
        vol_target_buy_and_hold_positions,
        vol_target_portfolio_weights,
    )

    r, _ = _garch_series(5)
    cfg = VolTargetConfig(target_vol=0.4, band=0.05)
    out = evaluate_signal_strategy(r, np.ones(N), test_start=TEST, n_boot=50, vol_target=cfg)
    assert set(out["baselines"]) == {"buy_and_hold", "momentum_24", "buy_and_hold_vol_target"}
    direct = run_backtest(vol_target_buy_and_hold_positions(r, cfg, start=TEST, min_train=min(2160, TEST))[TEST:],
                          r[TEST:])  # fmt: skip
    assert out["baselines"]["buy_and_hold_vol_target"]["sharpe"] == pytest.approx(direct.metrics["sharpe"])
    assert out["baselines"]["buy_and_hold_vol_target"]["turnover"] > 0
    rng = np.random.default_rng(6)
    rp = rng.normal(0, 0.01, (N, 3)) * [1.0, 1.5, 2.0]
    idx = pd.date_range("2024-01-01", periods=N, freq="h", tz="UTC")
    names = {"equal_weight_vol_target": cfg, "risk_parity_vol_target": VolTargetConfig(target_vol=0.2)}
    port = evaluate_portfolio_strategy(
        rp, np.full((N, 3), 1 / 3), idx, test_start=TEST, n_boot=50, vol_targets=names
    )
    assert set(names) <= set(port["baselines"])
    mask = np.zeros(N, dtype=bool)
    mask[TEST:] = idx[TEST:].hour == 0
    want = vol_target_portfolio_weights(rp, mask, names["risk_parity_vol_target"], allocation="risk_parity")
    np.testing.assert_array_equal(port["weights"]["risk_parity_vol_target"], want[TEST:])
    with pytest.raises(ValueError, match="no baseline"):
        evaluate_portfolio_strategy(rp, np.full((N, 3), 1 / 3), idx, test_start=TEST, vol_targets={"x": cfg})


def test_drawdown_and_correlation_forecasts_against_rolling_baselines() -> None:
    r, _ = _garch_series(3)
    out = evaluate_asset_forecasts(r, test_start=TEST, drawdown_forecast=np.full(N, 0.02))
    assert set(out["drawdown"]) == {"model", "rolling_mean"}
    assert out["drawdown"]["model"]["n"] == N - TEST - 24
    assert [row["forecast"] for row in comparison_tables({"BTC": out})["Drawdown forecasts"]] == [
        "model",
        "rolling_mean",
    ]
    rng = np.random.default_rng(4)
    common = rng.normal(0, 0.01, (N, 1))
    returns = np.hstack([common + rng.normal(0, 0.01, (N, 1)), common + rng.normal(0, 0.01, (N, 1))])
    truth = np.tile(np.array([[1.0, 0.5], [0.5, 1.0]]), (N, 1, 1))  # the true correlation is 0.5
    corr = evaluate_correlation_forecasts(returns, truth, test_start=TEST)
    assert corr["model"]["n"] == N - TEST - 24 and corr["model"]["mae"] < 0.25
    assert set(corr) == {"model", "rolling"}


def test_multi_bar_quantiles_use_the_matching_target_and_baseline() -> None:
    r, _ = _garch_series(5)
    h = 6
    sigma = np.sqrt(h) * r[:TEST].std()
    q = np.tile([-1.645 * sigma, 0.0, 1.645 * sigma], (N, 1))
    out = evaluate_asset_forecasts(
        r, test_start=TEST, quantile_forecast=q, quantile_levels=[0.05, 0.5, 0.95], quantile_horizon=h
    )
    y = future_return_target(r, h)[TEST:]
    ok = np.isfinite(y)
    assert out["interval90"]["model"]["n"] == ok.sum() == N - TEST - h
    assert out["interval90"]["model"]["coverage"] == pytest.approx(np.mean(np.abs(y[ok]) <= 1.645 * sigma))
    base = rolling_quantile_forecast(r, [0.05, 0.5, 0.95], horizon=h)[TEST:][ok]
    assert out["interval90"]["empirical_quantile"]["width"] == pytest.approx(np.mean(base[:, 2] - base[:, 0]))
    # the thirds sort every forecaster's rows by the same causal figure: the last 24 bars' realised variance
    trailing = trailing_sum(r**2, 24)[TEST:][ok]
    for name, rows_q in (("model", q[TEST:][ok]), ("empirical_quantile", base)):
        thirds = out["interval90"][name]["by_volatility"]
        edges = np.quantile(trailing, [1 / 3, 2 / 3])
        wild = trailing >= edges[1]
        inside = (y[ok] >= rows_q[:, 0]) & (y[ok] <= rows_q[:, 2])
        assert thirds["edges"] == pytest.approx(edges.tolist())
        assert thirds["coverage"][2] == pytest.approx(inside[wild].mean())


def test_every_forecaster_of_a_table_is_scored_on_the_same_rows() -> None:
    """A model silent on some test rows, a learner silent on others: each table is computed, for every
    forecaster, on the rows where all of them are defined, and says how many."""
    r, sigma2_next = _garch_series(3)
    variance = 24 * sigma2_next
    variance[TEST + 100 : TEST + 130] = np.nan  # the model has no forecast there (e.g. absent bars)
    learner_var = 24 * np.full(N, float(np.mean(r[:TEST] ** 2)))
    learner_var[TEST + 200 : TEST + 210] = np.nan
    z = np.array([-1.645, 0.0, 1.645])
    quantiles = np.sqrt(sigma2_next)[:, None] * z[None, :]
    quantiles[TEST + 5] = np.nan
    var95 = 1.645 * np.sqrt(sigma2_next)
    var95[TEST + 7] = np.nan
    out = evaluate_asset_forecasts(
        r,
        test_start=TEST,
        return_forecast=np.zeros(N),
        variance_forecast=variance,
        quantile_forecast=quantiles,
        quantile_levels=[0.05, 0.5, 0.95],
        var_forecasts={0.95: (var95, None)},
        others={"learner": {"variance": learner_var, "return": np.full(N, 1e-5)}},
        refit_every=300,
        n_sims=50,
        periods=np.where(np.arange(N) < TEST + 400, "early", "late"),
    )
    y = realized_variance_target(r)
    rows = (np.arange(N) >= TEST) & np.isfinite(y) & np.isfinite(variance) & np.isfinite(learner_var)
    expected = N - TEST - 24 - 30 - 10
    assert int(rows.sum()) == expected
    assert {v["n"] for v in out["volatility"].values()} == {expected}
    garch = garch_forecast(r, min_train=720, refit_every=300, start=TEST).variance
    assert out["volatility"]["garch"]["qlike"] == pytest.approx(
        variance_scores(y[rows], garch[rows])["qlike"]
    )
    assert set(out["volatility"]) == {"model", "har_rv", "garch", "last_window", "learner"}
    # per period: the same rows as the whole table, split by label
    by = out["volatility_by_period"]
    late = rows & (np.arange(N) >= TEST + 400)
    assert list(by) == ["early", "late"]
    assert by["late"]["garch"]["qlike"] == pytest.approx(variance_scores(y[late], garch[late])["qlike"])
    assert {v["n"] for v in by["late"].values()} == {late.sum()}
    assert by["early"]["model"]["n"] + by["late"]["model"]["n"] == expected
    table = comparison_tables({"BTC": out})["Volatility by period (QLIKE)"]
    assert [row["period"] for row in table] == ["early", "late"]
    better = min(by["late"]["har_rv"]["qlike"], by["late"]["garch"]["qlike"])
    assert table[1]["gain"] == pytest.approx(1 - by["late"]["model"]["qlike"] / better)
    assert {v["n"] for v in out["returns"].values()} == {N - TEST - 1}
    assert {v["n"] for v in out["interval90"].values()} == {N - TEST - 1 - 1}
    assert out["var95"]["n"] == N - TEST - 1 - 1
    assert {b["var95"]["n"] for b in out["var_baselines"].values()} == {N - TEST - 2}
    assert {d["baseline"] for d in out["dm"] if d["target"] == "variance"} >= {"learner", "garch"}


def test_other_quantile_forecasters_are_scored_only_at_the_models_levels() -> None:
    """Pinball and CRPS average over the levels: a forecaster at fewer levels would score another loss (3
    levels of a normal score about 0.81 times 5 levels of the same, exact quantiles), so it is refused."""
    r, sigma2_next = _garch_series(3)
    z5 = np.array([-1.645, -0.674, 0.0, 0.674, 1.645])
    five = [0.05, 0.25, 0.5, 0.75, 0.95]
    q5 = np.sqrt(sigma2_next)[:, None] * z5[None, :]
    kw = {"test_start": TEST, "quantile_forecast": q5, "quantile_levels": five}
    out = evaluate_asset_forecasts(r, **kw, others={"same": {"quantiles": q5}})
    assert out["interval90"]["same"]["pinball"] == pytest.approx(out["interval90"]["model"]["pinball"])
    three = {"quantiles": q5[:, [0, 2, 4]], "quantile_levels": [0.05, 0.5, 0.95]}
    with pytest.raises(ValueError, match=r"others\['three'\]\['quantile_levels'\].*model's levels"):
        evaluate_asset_forecasts(r, **kw, others={"three": three})


def test_a_target_ending_on_a_bar_without_a_price_is_not_scored() -> None:
    """Previous-tick returns (0 at a bar without a price): a 1-bar outcome on such a bar is no outcome, and
    a 24-bar variance whose last bar has no price is not known yet; both rows leave every table, and the
    variance rows whose path crosses a gap but ends on a priced bar stay (their sum of squares is whole)."""
    r, sigma2_next = _garch_series(4)
    observed = np.ones(N, dtype=bool)
    observed[TEST + np.array([50, 51, 300, 500])] = False
    log_price, priced = np.cumsum(r), np.flatnonzero(observed)
    r = np.zeros(N)  # previous-tick: 0 at a bar without a price, the move across it on the next bar
    r[priced[1:]] = np.diff(log_price[priced])
    variance = 24 * sigma2_next
    quantiles = np.sqrt(sigma2_next)[:, None] * np.array([-1.645, 0.0, 1.645])[None, :]
    var95 = 1.645 * np.sqrt(sigma2_next)
    kwargs = dict(
        test_start=TEST, return_forecast=np.zeros(N), variance_forecast=variance, quantile_forecast=quantiles,
        quantile_levels=[0.05, 0.5, 0.95], var_forecasts={0.95: (var95, None)}, refit_every=300, n_sims=50,
    )  # fmt: skip
    out = evaluate_asset_forecasts(r, observed=observed, **kwargs)  # type: ignore[arg-type]
    no_outcome_1 = int((~observed[TEST + 1 :]).sum())  # decision t, bar t + 1 without a price
    no_outcome_24 = int((~observed[TEST + 24 :]).sum())
    assert {v["n"] for v in out["returns"].values()} == {N - TEST - 1 - no_outcome_1}
    assert {v["n"] for v in out["interval90"].values()} == {N - TEST - 1 - no_outcome_1}
    assert out["var95"]["n"] == N - TEST - 1 - no_outcome_1
    assert {v["n"] for v in out["volatility"].values()} == {N - TEST - 24 - no_outcome_24}
    y = realized_variance_target(r)
    y[: N - 24][~observed[24:]] = np.nan
    np.testing.assert_array_equal(
        realized_variance_target(r, observed=observed), y
    )  # the targets' own keyword
    rows = (np.arange(N) >= TEST) & np.isfinite(y)
    assert out["volatility"]["model"]["qlike"] == pytest.approx(
        variance_scores(y[rows], variance[rows])["qlike"]
    )
    hit = future_return_target(r, 1)
    ok = (np.arange(N) >= TEST) & np.isfinite(hit) & np.append(observed[1:], False)
    inside = (hit[ok] >= quantiles[ok, 0]) & (hit[ok] <= quantiles[ok, 2])
    assert out["interval90"]["model"]["coverage"] == pytest.approx(inside.mean())
    with pytest.raises(ValueError, match="observed: shape"):
        evaluate_asset_forecasts(r, observed=observed[:-1], **kwargs)  # type: ignore[arg-type]


def test_the_empirical_quantiles_may_be_given_by_the_caller() -> None:
    """A caller that has the empirical-quantile baseline passes it instead of its being computed twice: the
    scores are the same; an array of the wrong shape is refused."""
    r, _ = _garch_series(6)
    levels = [0.05, 0.5, 0.95]
    sigma = r[:TEST].std()
    q = np.tile([-1.645 * sigma, 0.0, 1.645 * sigma], (N, 1))
    base = rolling_quantile_forecast(r, levels)
    given = evaluate_asset_forecasts(
        r, test_start=TEST, quantile_forecast=q, quantile_levels=levels, empirical_quantiles=base
    )
    computed = evaluate_asset_forecasts(r, test_start=TEST, quantile_forecast=q, quantile_levels=levels)
    assert given["interval90"] == computed["interval90"]
    with pytest.raises(ValueError, match=r"empirical_quantiles: shape \(2600, 2\), expected \(2600, 3\)"):
        evaluate_asset_forecasts(
            r, test_start=TEST, quantile_forecast=q, quantile_levels=levels, empirical_quantiles=base[:, :2]
        )
