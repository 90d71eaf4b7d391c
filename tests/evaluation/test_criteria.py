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
