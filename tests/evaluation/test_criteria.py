"""The bar the models aim for: pass/fail computed on planted inputs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ml_attention_mechanisms.evaluation import (
    evaluate_bar,
    interval_criterion,
    strategy_criterion,
    var_criterion,
    volatility_criterion,
)


def _asset(
    qlike: float = 0.90, coverage: float = 0.90, width: float = 1.0, kupiec: float = 0.5
) -> dict[str, Any]:
    return {
        "volatility": {"model": {"qlike": qlike}, "har_rv": {"qlike": 1.00}, "garch": {"qlike": 1.05}},
        "interval90": {"model": {"coverage": coverage, "width": width}, "empirical_quantile": {"width": 1.2}},
        "var95": {"kupiec_p": kupiec, "christoffersen_p": 0.3},
        "var99": {"kupiec_p": 0.4, "christoffersen_p": 0.2},
    }


def _planted() -> dict[str, Any]:
    return {
        "assets": {"BTC": _asset(), "ETH": _asset(), "LTC": _asset()},
        "strategies": {
            "signal": {
                "model": {"sharpe": 1.2},
                "baselines": {"buy_and_hold": {"sharpe": 0.8}, "momentum_24": {"sharpe": 1.1}},
            },
            "portfolio": {
                "model": {"sharpe": 0.9},
                "baselines": {"equal_weight": {"sharpe": 0.7}, "min_variance": {"sharpe": 0.5}},
            },
        },
    }


def test_all_pass_on_planted_passing_figures() -> None:
    out = evaluate_bar(_planted())
    assert out["passed"] and out["n_criteria"] == 3 * 4 + 2 == out["n_passed"]


@pytest.mark.parametrize(
    ("asset_kwargs", "failing"),
    [
        ({"qlike": 0.96}, "volatility"),  # only 4% below the better baseline (1.00)
        ({"coverage": 0.875}, "interval90"),
        ({"coverage": 0.925}, "interval90"),
        ({"width": 1.25}, "interval90"),  # wider than the empirical-quantile baseline
        ({"kupiec": 0.049}, "var95"),
    ],
)
def test_each_asset_criterion_fails_on_its_own(asset_kwargs: dict[str, float], failing: str) -> None:
    metrics = _planted()
    metrics["assets"]["ETH"] = _asset(**asset_kwargs)
    out = evaluate_bar(metrics)
    failed = [(c["asset"], c["criterion"]) for c in out["criteria"] if not c["passed"]]
    assert failed == [("ETH", failing)] and not out["passed"]


def test_strategy_must_beat_every_baseline_of_its_kind() -> None:
    metrics = _planted()
    metrics["strategies"]["signal"]["model"]["sharpe"] = 1.05  # beats buy-and-hold, not momentum
    out = evaluate_bar(metrics)
    assert [c["criterion"] for c in out["criteria"] if not c["passed"]] == ["strategy_signal"]


def test_missing_figures_fail_with_a_reason() -> None:
    metrics = copy.deepcopy(_planted())
    del metrics["assets"]["LTC"]
    del metrics["strategies"]["portfolio"]
    out = evaluate_bar(metrics)
    failed = [c for c in out["criteria"] if not c["passed"]]
    assert {(c["asset"], c["criterion"]) for c in failed} == {
        ("LTC", "volatility"),
        ("LTC", "interval90"),
        ("LTC", "var95"),
        ("LTC", "var99"),
        ("all", "strategy_portfolio"),
    }
    assert all("missing figure" in c["rule"] for c in failed)


def test_single_criteria_thresholds() -> None:
    assert volatility_criterion(0.95, 1.0, 2.0)["passed"]  # exactly 5% below
    assert not volatility_criterion(0.951, 1.0, 2.0)["passed"]
    assert volatility_criterion(0.95, 1.0, 2.0)["threshold"] == pytest.approx(0.95)
    assert interval_criterion(0.88, 1.0, 1.1)["passed"] and interval_criterion(0.92, 1.0, 1.1)["passed"]
    assert not var_criterion(0.05, 0.04)["passed"] and var_criterion(0.05, 0.05)["passed"]
    assert not strategy_criterion(1.0, {"a": 1.0}, kind="signal")["passed"]  # ties do not beat
    assert not strategy_criterion(float("nan"), {"a": 0.0}, kind="signal")["passed"]
    assert strategy_criterion(1.0, {"a": 1.0}, kind="signal", at_least=("a",))["passed"]  # at or above
    assert strategy_criterion(1.0, {"a": 0.5, "b": 0.8}, kind="k")["margin"] == pytest.approx(0.2)


def test_margins_and_the_better_baseline_are_reported() -> None:
    c = volatility_criterion(0.9, 1.0, 1.2)
    assert (c["baseline"], c["baseline_value"], c["margin"]) == ("har_rv", 1.0, pytest.approx(0.1))
    assert interval_criterion(0.9, 0.9, 1.2)["margin"] == pytest.approx(0.25)
    assert var_criterion(0.2, 0.07)["margin"] == pytest.approx(0.02)


def test_unseen_assets_need_only_match_the_better_baseline() -> None:
    metrics = _planted()
    metrics["assets"]["BNB"] = _asset(qlike=0.99)  # 1% below: not 5%, but no worse
    metrics["assets"]["ADA"] = _asset(qlike=1.01)  # worse than HAR-RV
    out = evaluate_bar(metrics, assets=("BTC", "BNB", "ADA"), unseen=("BNB", "ADA"))
    vol = {c["asset"]: c for c in out["criteria"] if c["criterion"] == "volatility"}
    assert vol["BNB"]["passed"] and not vol["ADA"]["passed"] and vol["BTC"]["passed"]
    assert (vol["BNB"]["seen"], vol["BTC"]["seen"]) == (False, True)
    assert vol["BNB"]["required_margin"] == 0.0 and "no worse" in vol["BNB"]["rule"]
    seen = _planted()
    seen["assets"]["BNB"] = _asset(qlike=0.99)
    assert not evaluate_bar(seen, assets=("BNB",), strategy_kinds=())["passed"]  # seen: 5% needed


def _signal(model: float, bh: float, vt: float) -> dict[str, Any]:
    return {"model": {"sharpe": model}, "baselines": {"buy_and_hold": {"sharpe": bh},
            "momentum_24": {"sharpe": -1.0}, "buy_and_hold_vol_target": {"sharpe": vt}}}  # fmt: skip


@pytest.mark.parametrize(
    ("sharpes", "passes"),
    [
        (
            {"BTC": (1.0, 1.0, 0.9), "ETH": (2.0, 1.5, 1.9), "LTC": (0.1, 0.5, 0.2)},
            True,
        ),  # 2 of 3, a tie on b&h
        (
            {"BTC": (1.0, 1.0, 1.0), "ETH": (2.0, 1.5, 1.9), "LTC": (0.1, 0.5, 0.2)},
            False,
        ),  # a tie on the vt one
        ({"BTC": (0.9, 1.0, 0.5), "ETH": (2.0, 1.5, 1.9), "LTC": (0.1, 0.5, 0.2)}, False),
    ],
)
def test_signal_strategies_pass_on_two_of_three_seen_assets(
    sharpes: dict[str, tuple[float, float, float]], passes: bool
) -> None:
    metrics = _planted()
    metrics["strategies"] = {f"signal_{a}": _signal(*s) for a, s in sharpes.items()}
    metrics["strategies"]["signal_ADA"] = _signal(5.0, 0.0, 0.0)  # unseen: reported, never counted
    out = evaluate_bar(metrics, strategy_kinds=(), unseen=("ADA",))
    crit = [c for c in out["criteria"] if c["asset"] == "all"]
    assert [c["criterion"] for c in crit] == ["strategy_signal"] and crit[0]["passed"] is passes
    assert crit[0]["threshold"] == 2 and "ADA" not in crit[0]["passing"]
    assert [(r["asset"], r["seen"]) for r in out["reported"]] == [
        ("BTC", True), ("ETH", True), ("LTC", True), ("ADA", False),
    ]  # fmt: skip
    assert out["n_criteria"] == 3 * 4 + 1


def test_signal_strategies_of_unseen_coins_only_make_no_criterion() -> None:
    """``mlattn evaluate`` on new coins only: their signal strategies are reported, and no majority over
    zero seen assets is judged (a failed criterion there would say nothing about the model)."""
    metrics = _planted()
    metrics["strategies"] = {"signal_ADA": _signal(0.1, 0.5, 0.2), "signal_SOL": _signal(2.0, 0.5, 0.2)}
    out = evaluate_bar(metrics, assets=(), strategy_kinds=(), unseen=("ADA", "SOL"))
    assert out["criteria"] == [] and out["n_criteria"] == 0
    assert [(r["asset"], r["seen"], r["passed"]) for r in out["reported"]] == [
        ("ADA", False, False), ("SOL", False, True),
    ]  # fmt: skip
    seen_missing = evaluate_bar(metrics, assets=(), strategy_kinds=("signal_BTC",), unseen=("ADA", "SOL"))
    assert [c["criterion"] for c in seen_missing["criteria"]] == ["strategy_signal"]  # a seen one is judged
    assert not seen_missing["criteria"][0]["passed"]
