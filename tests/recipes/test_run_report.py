"""The run's outputs for people: a plain sentence per failed criterion and the terminal's summary."""

from __future__ import annotations

from ml_attention_mechanisms.evaluation.criteria import evaluate_bar
from ml_attention_mechanisms.recipes._report import shortfalls, terminal_table


def _planted_metrics() -> dict[str, object]:
    good = {"volatility": {"model": {"qlike": 0.5}, "har_rv": {"qlike": 1.0}, "garch": {"qlike": 0.9}},
            "interval90": {"model": {"coverage": 0.9, "width": 0.01}, "empirical_quantile": {"width": 0.02,
                                                                                            "coverage": 0.9}},
            "var95": {"kupiec_p": 0.5, "christoffersen_p": 0.5, "exceedance_rate": 0.05},
            "var99": {"kupiec_p": 0.01, "christoffersen_p": 0.5, "exceedance_rate": 0.03}}  # fmt: skip
    return {"assets": {"BTC": good}, "strategies": {"portfolio": {"model": {"sharpe": 1.0},
            "baselines": {"equal_weight": {"sharpe": 2.0}}}}}  # fmt: skip


def test_shortfalls_and_table_name_every_failed_criterion() -> None:
    metrics = _planted_metrics()
    bar = evaluate_bar(metrics, assets=("BTC",), strategy_kinds=("portfolio",))  # type: ignore[arg-type]
    metrics["bar"] = bar
    lines = shortfalls(bar)
    assert lines == [
        "BTC (seen): 99% VaR fails: p 0.01 / 0.50 vs Kupiec / Chr. (margin -0.04; needs p >= 0.05).",
        "all: portfolio Sharpe fails: Sharpe 1.00 vs equal_weight 2.00 (margin -1.00; needs > every baseline).",
    ]
    table = terminal_table(metrics)
    assert "the bar: 3 of 5 criteria pass" in table
    assert table.count("PASS") == 3 and table.count("FAIL") == 2
    assert "wildest third" not in table  # no thirds computed, no line
    assert "calibration" not in table  # no calibrated empirical quantiles, no line


def test_terminal_table_compares_the_interval_with_the_calibrated_empirical_quantiles() -> None:
    metrics = _planted_metrics()
    btc = metrics["assets"]["BTC"]  # type: ignore[index]
    btc["interval90"]["empirical_quantile_calibrated"] = {"coverage": 0.884, "width": 0.0125}
    eth = {"model": {"coverage": 0.902, "width": 0.0204}, "empirical_quantile_calibrated": {"coverage": 0.889,
           "width": 0.02}}  # fmt: skip
    ltc = {"model": {"coverage": None, "width": None}, "empirical_quantile_calibrated": {"coverage": 0.5,
           "width": 0.01}}  # fmt: skip  # figures written as null (NaN in metrics.json) are left out
    assets = {"BTC": btc, "ETH": {"interval90": eth}, "LTC": {"interval90": ltc}, "BNB": {}}
    table = terminal_table({"assets": assets})
    assert table.splitlines()[-1] == (
        "90% interval beside the empirical quantiles with the model's rolling conformal calibration: they cover "
        "88.4-88.9%, the model's 90.0-90.2%; the model's is from 2.0% wider to 20.0% narrower"
    )


def test_terminal_table_shows_the_intervals_coverage_in_the_wildest_third() -> None:
    metrics = _planted_metrics()
    assets = {"BTC": metrics["assets"]["BTC"], "ETH": {}}  # type: ignore[index]
    btc = assets["BTC"]["interval90"]
    btc["model"]["by_volatility"] = {"coverage": [0.95, 0.9, 0.891]}
    btc["empirical_quantile"]["by_volatility"] = {"coverage": [0.97, 0.92, 0.776]}
    eth = {"model": {"by_volatility": {"coverage": [0.9, 0.9, 0.905]}},
           "empirical_quantile": {"by_volatility": {"coverage": [0.9, 0.9, 0.803]}}}  # fmt: skip
    assets["ETH"] = {"interval90": eth}
    table = terminal_table({"assets": assets})
    assert table.splitlines()[-1] == (
        "90% interval in the wildest third of hours (by the last 24 bars' realised variance): covers "
        "the model's 89.1-90.5%, the empirical quantiles' 77.6-80.3%"
    )


def test_extra_tables_mark_each_asset_seen_or_unseen() -> None:
    from ml_attention_mechanisms.recipes._report import report_tables

    metrics = {
        "data": {"seen": {"BTC": True, "ADA": False}},
        "walk_forward": {"folds": [{"fold": 0, "asset": "BTC", "seen": True, "qlike_model": 0.3}]},
        "leave_one_asset_out": {"folds": [{"fold": 0, "asset": "BTC", "seen": False}], "budget": {"max_epochs": 2}},
        "ablations": {"rows": [{"ablation": "a", "asset": "ADA"}, {"ablation": "b", "asset": "portfolio"}],
                      "not_run": []},
    }  # fmt: skip
    tables = report_tables(metrics)
    marks = {title.split(" (")[0]: [(r["asset"], r["seen"]) for r in rows] for title, rows in tables.items()}
    assert marks == {
        "Walk-forward folds": [("BTC", "seen")],
        "Leave-one-asset-out folds": [("BTC", "unseen")],
        "Ablations": [("ADA", "unseen"), ("portfolio", "")],
    }
    assert all(list(r)[list(r).index("asset") + 1] == "seen" for rows in tables.values() for r in rows)


def test_training_budgets_table_lists_every_budget_and_the_kept_one() -> None:
    from ml_attention_mechanisms.recipes._report import report_tables

    two = [
        {"train_windows": 6144, "max_epochs": 4, "epochs": 4, "best_val_loss": 0.79, "kept": False, "run_dir": "a"},
        {"train_windows": 16384, "max_epochs": 10, "epochs": 7, "best_val_loss": 0.78, "kept": True, "run_dir": "b"},
    ]  # fmt: skip
    metrics = {"training": {"price_predictor_small": {"budgets": two}, "risk_assessor_small": {"epochs": 4}}}
    ((title, rows),) = report_tables(metrics).items()
    assert title.startswith("Training budgets")
    assert [(r["model"], r["train_windows"], r["kept"]) for r in rows] == [
        ("price_predictor_small", 6144, False),
        ("price_predictor_small", 16384, True),
    ]
    assert rows[0]["val_sharpe"] == "-"  # a forecasting model: kept by its validation loss
    assert report_tables({"training": {"risk_assessor_small": {"epochs": 4}}}) == {}
    signal = [{**b, "val_sharpe": s, "kept": not b["kept"]} for b, s in zip(two, (1.5, 0.4))]
    ((_, rows),) = report_tables({"training": {"signal_generator_small": {"budgets": signal}}}).items()
    assert [(r["val_sharpe"], r["kept"]) for r in rows] == [(1.5, True), (0.4, False)]


def test_the_like_calibration_line_says_wider_when_the_model_is_wider_everywhere() -> None:
    def entry(width: float) -> dict[str, object]:
        return {"interval90": {"model": {"coverage": 0.9, "width": width},
                               "empirical_quantile_calibrated": {"coverage": 0.88, "width": 1.0}}}  # fmt: skip

    table = terminal_table({"assets": {"BTC": entry(1.1), "ETH": entry(1.05)}})
    assert table.splitlines()[-1].endswith(
        "they cover 88.0%, the model's 90.0%; the model's is 5.0-10.0% wider"
    )


def test_a_variance_miss_says_whether_the_data_tell_it_apart() -> None:
    """A failed variance criterion's sentence carries the Diebold-Mariano p against the baseline it missed
    (the metrics' own test row), read three ways; a passed one and an asset without the row carry none."""
    metrics = _planted_metrics()
    btc = metrics["assets"]["BTC"]  # type: ignore[index]
    btc["volatility"]["model"]["qlike"] = 1.0  # above GARCH's 0.9: fails
    eth = {**btc, "volatility": {**btc["volatility"], "model": {"qlike": 0.88}}}  # 2% below GARCH: fails too
    ltc = {**btc, "volatility": {**btc["volatility"], "model": {"qlike": 0.5}}}  # passes
    metrics["assets"] = {"BTC": btc, "ETH": eth, "LTC": ltc, "BNB": dict(btc)}

    def rows(p: float, better: bool) -> list[dict[str, object]]:
        other = {"target": "variance", "baseline": "har_rv", "p_value": 0.001, "model_better": True}
        return [other, {"target": "variance", "baseline": "garch", "p_value": p, "model_better": better}]

    btc["dm"] = rows(0.35, False)
    eth["dm"] = rows(0.01, True)
    ltc["dm"] = rows(0.01, True)
    bar = evaluate_bar(metrics, assets=("BTC", "ETH", "LTC", "BNB"), strategy_kinds=())  # type: ignore[arg-type]
    lines = [line for line in shortfalls(bar, metrics["assets"]) if "24h variance" in line]  # type: ignore[arg-type]
    assert [line.split(":")[0] for line in lines] == ["BTC (seen)", "ETH (seen)", "BNB (seen)"]
    assert lines[0].endswith(
        "; Diebold-Mariano p 0.35 against garch: the difference is not significant at the 5% level."
    )
    assert lines[1].endswith("; Diebold-Mariano p 0.01 against garch: the model's QLIKE is significantly lower, "
                             "by less than the bar asks.")  # fmt: skip
    assert "Diebold-Mariano" not in lines[2]  # BNB: no test row
    btc["dm"] = rows(0.001, False)
    worse = shortfalls(evaluate_bar(metrics, assets=("BTC",), strategy_kinds=()), metrics["assets"])  # type: ignore[arg-type]
    assert any(line.endswith("against garch: the model's QLIKE is significantly higher.") for line in worse)
    assert shortfalls(bar) == [line.split("; Diebold")[0] + "." if "; Diebold" in line else line
                               for line in shortfalls(bar, metrics["assets"])]  # fmt: skip
    btc["dm"] = rows(0.35, False)
    metrics["bar"] = bar
    assert terminal_table(metrics).splitlines()[len(terminal_table({"bar": bar}).splitlines())] == (
        "24h variance misses, Diebold-Mariano: BTC p 0.35 against garch (the difference is not significant at "
        "the 5% level); ETH p 0.01 against garch (the model's QLIKE is significantly lower, by less than the bar "
        "asks)"
    )  # the line under the table, one entry per miss with a test row (BNB has none)
