"""The one-screen summary of the bar: per asset seen or unseen, each criterion's figure, margin and result."""

from __future__ import annotations

from typing import Any

from ml_attention_mechanisms.evaluation import evaluate_bar, summary_rows, summary_text


def _asset(qlike: float) -> dict[str, Any]:
    return {
        "volatility": {"model": {"qlike": qlike}, "har_rv": {"qlike": 1.00}, "garch": {"qlike": 1.05}},
        "interval90": {"model": {"coverage": 0.9, "width": 1.0}, "empirical_quantile": {"width": 1.2}},
        "var95": {"kupiec_p": 0.5, "christoffersen_p": 0.3},
        "var99": {"kupiec_p": 0.4, "christoffersen_p": 0.2},
    }


def _signal(model: float, bh: float, vt: float) -> dict[str, Any]:
    return {"model": {"sharpe": model}, "baselines": {"buy_and_hold": {"sharpe": bh},
            "momentum_24": {"sharpe": -1.0}, "buy_and_hold_vol_target": {"sharpe": vt}}}  # fmt: skip


def test_summary_rows_say_seen_figure_margin_and_result() -> None:
    portfolio = {"model": {"sharpe": 0.9}, "baselines": {"equal_weight": {"sharpe": 0.7}}}
    metrics = {
        "assets": {"BTC": _asset(0.9), "ADA": _asset(1.01)},
        "strategies": {"signal_BTC": _signal(1.2, 1.0, 0.9), "portfolio": portfolio},
    }
    bar = evaluate_bar(metrics, assets=("BTC", "ADA"), strategy_kinds=(), unseen=("ADA",))
    rows = summary_rows(bar)
    ada = next(r for r in rows if r["asset"] == "ADA" and r["criterion"] == "24h variance")
    assert (ada["seen"], ada["figure"], ada["vs"], ada["margin"], ada["result"]) == (
        "unseen", "QLIKE 1.01", "har_rv 1", "-1.0%", "FAIL",
    )  # fmt: skip
    assert ada["rows"] == "" and [r["rows"] for r in summary_rows(_with_counts(metrics))][:2] == [
        "3763",
        "3762",
    ]
    sig = next(r for r in rows if r["asset"] == "BTC" and r["criterion"] == "signal Sharpe")
    assert (sig["figure"], sig["vs"], sig["margin"], sig["result"]) == (
        "Sharpe 1.20",
        "buy_and_hold 1.00",
        "+0.20",
        "(pass)",
    )
    assert [r["asset"] for r in rows][-1] == "all"
    text = summary_text(rows, n_passed=bar["n_passed"], n_criteria=bar["n_criteria"])
    assert len(text.splitlines()) == len(rows) + 4 and f"{bar['n_passed']} of {bar['n_criteria']}" in text


def _with_counts(metrics: dict[str, Any]) -> dict[str, Any]:
    """The bar of ``metrics`` with the bars each figure was computed on planted (BTC: 3763 and 3762)."""
    btc = metrics["assets"]["BTC"]
    btc["volatility"]["model"]["n"], btc["interval90"]["model"]["n"] = 3763, 3762
    return evaluate_bar(metrics, assets=("BTC",), strategy_kinds=())
